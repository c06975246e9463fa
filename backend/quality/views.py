"""Manager-facing endpoints of the aggregation (/api/v1/manage/...): results export, quality.

The export streams: rows are read a page at a time while the response is written, so a project
of any size answers in flat memory. Nothing here runs an aggregation (the web process never
imports crowd-kit): it reads what the scheduled job `quality.aggregate` stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import marshmallow as ma
from flask import Response, request, stream_with_context
from marshmallow import fields, validate

from backend.api import Blueprint
from backend.quality import results
from backend.schemas import Timestamp
from backend.web import STAFF, auth_required

blp = Blueprint("manage_quality", __name__, url_prefix="/api/v1/manage",
                description="Manager console: aggregated results and quality")

FORMATS = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv"}
_ACCEPTED = ("application/json", "application/x-ndjson", "application/jsonl", "text/csv")


# ------------------------------------------------------------------------------ schemas


class ResultArgs(ma.Schema):
    format = fields.String(validate=validate.OneOf(tuple(FORMATS)),
                           metadata={"description": "json (default), jsonl or csv; or send Accept: "
                                                    "application/x-ndjson / text/csv"})
    finished = fields.Boolean(load_default=False,
                              metadata={"description": "only tasks that need no more answers"})
    payload = fields.Boolean(load_default=False, metadata={"description": "include each task's payload"})


class ResultItemSchema(ma.Schema):
    task_id = fields.Integer(required=True)
    external_id = fields.String(allow_none=True, required=True)
    result = fields.Dict(required=True, metadata={"description": "the aggregated answer, in the task "
                                                                 "type's answer shape"})
    confidence = fields.Float(required=True, metadata={"description": "0..1"})
    answers = fields.Integer(required=True, metadata={"description": "answers aggregated"})
    method = fields.String(required=True, metadata={"description": "ds | mv | rover | median | iou-cluster"})
    finished = fields.Boolean(required=True)
    detail = fields.Dict(allow_none=True, required=True,
                         metadata={"description": "rating: per-dimension stats; bbox: per-box confidence"})
    updated_at = Timestamp(required=True)
    payload = fields.Dict(metadata={"description": "with ?payload=true"})


class ResultExportSchema(ma.Schema):
    project_id = fields.Integer(required=True)
    task_type = fields.String(required=True)
    items = fields.List(fields.Nested(ResultItemSchema), required=True)


class OverlapSchema(ma.Schema):
    mode = fields.String(required=True, validate=validate.OneOf(("fixed", "dynamic")))
    overlap = fields.Integer(required=True)
    min_overlap = fields.Integer(allow_none=True, required=True)
    max_overlap = fields.Integer(allow_none=True, required=True)
    confidence_target = fields.Float(allow_none=True, required=True)


class AggregationStateSchema(ma.Schema):
    aggregated_at = Timestamp(allow_none=True, required=True)
    last_submission_id = fields.Integer(required=True)
    up_to_date = fields.Boolean(required=True, metadata={"description": "every answer so far is in the results"})


class GoldExhaustionSchema(ma.Schema):
    gold_tasks = fields.Integer(required=True)
    gold_ratio = fields.Float(required=True)
    active_workers = fields.Integer(required=True, metadata={
        "description": "eligible workers who leased a task of the project in the last 30 days"})
    exhausted_workers = fields.Integer(required=True, metadata={
        "description": "of them, those shown at least 80 % of the gold tasks"})
    mean_seen_share = fields.Float(allow_none=True, required=True)
    flagged = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, required=True,
                           metadata={"description": "most_gold_seen | no_gold (gold_ratio > 0 without gold)"})
    thresholds = fields.Dict(required=True)


class QualitySchema(ma.Schema):
    project_id = fields.Integer(required=True)
    task_type = fields.String(required=True)
    aggregated = fields.Boolean(required=True, metadata={"description": "false for collection projects"})
    overlap = fields.Nested(OverlapSchema, required=True)
    tasks = fields.Integer(required=True, metadata={"description": "normal (non-gold) tasks"})
    tasks_with_result = fields.Integer(required=True)
    tasks_finished = fields.Integer(required=True)
    mean_confidence = fields.Float(allow_none=True, required=True)
    below_target = fields.Integer(allow_none=True, required=True,
                                  metadata={"description": "results under the confidence target (dynamic)"})
    answers = fields.Integer(required=True, metadata={"description": "answers in the results"})
    aggregation = fields.Nested(AggregationStateSchema, required=True)
    gold_exhaustion = fields.Nested(GoldExhaustionSchema, required=True)


# ------------------------------------------------------------------------------ formatting


def _format(args: dict) -> str:
    if args.get("format"):
        return args["format"]
    best = request.accept_mimetypes.best_match(_ACCEPTED, default="application/json")
    return {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}.get(best, "json")


def _plain(item: dict) -> dict:
    return ResultItemSchema().dump(item)


def _json(meta: dict, items: Iterator[dict]) -> Iterator[str]:
    yield json.dumps({"project_id": meta["project_id"], "task_type": meta["task_type"]},
                     ensure_ascii=False)[:-1] + ', "items": ['
    for number, item in enumerate(items):
        yield ("," if number else "") + json.dumps(_plain(item), ensure_ascii=False)
    yield "]}"


def _jsonl(items: Iterator[dict]) -> Iterator[str]:
    for item in items:
        yield json.dumps(_plain(item), ensure_ascii=False) + "\n"


def _csv_columns(meta: dict, with_payload: bool) -> list[str]:
    kind = meta["task_type"]
    answer = {"classification": ["label"], "pairwise": ["preferred"], "multi_label": ["labels"],
              "transcription": ["text"], "bbox": ["boxes"]}.get(kind, [])
    if kind == "rating":
        answer = [f"score.{dim}" for dim in meta["config"].get("dimensions", [])]
    return (["task_id", "external_id", *answer, "confidence", "answers", "method", "finished", "updated_at"]
            + (["payload"] if with_payload else []))


def _csv_row(item: dict) -> dict:
    plain = _plain(item)
    result = plain.pop("result")
    row = {**plain, "finished": "true" if plain["finished"] else "false"}
    if "label" in result:
        row["label"] = result["label"]
    if "preferred" in result:
        row["preferred"] = result["preferred"]
    if "labels" in result:
        row["labels"] = "|".join(result["labels"])
    if "text" in result:
        row["text"] = result["text"]
    if "boxes" in result:
        row["boxes"] = json.dumps(result["boxes"], ensure_ascii=False)
    for dim, score in result.get("scores", {}).items():
        row[f"score.{dim}"] = score
    if "payload" in plain:
        row["payload"] = json.dumps(plain["payload"], ensure_ascii=False)
    return row


def _csv(meta: dict, items: Iterator[dict], with_payload: bool) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_csv_columns(meta, with_payload), extrasaction="ignore")
    writer.writeheader()
    yield "\ufeff" + buffer.getvalue()  # a BOM: spreadsheet programs then read UTF-8 (Korean) right
    for item in items:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(_csv_row(item))
        yield buffer.getvalue()


# ------------------------------------------------------------------------------ routes


@blp.route("/projects/<int:project_id>/results", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(ResultArgs, location="query")
@blp.response(200, ResultExportSchema)
@blp.alt_response(200, schema={"type": "string"}, content_type="application/x-ndjson", success=True,
                  description="?format=jsonl or Accept: application/x-ndjson: one result object per line")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                  description="?format=csv or Accept: text/csv (UTF-8 with BOM): one row per task")
@blp.problem(404, "No such project")
def export_results(args, project_id):
    meta, items = results.export_results(project_id, finished_only=args["finished"], with_payload=args["payload"])
    kind = _format(args)
    if kind == "csv":
        body = _csv(meta, items, args["payload"])
    elif kind == "jsonl":
        body = _jsonl(items)
    else:
        body = _json(meta, items)
    response = Response(stream_with_context(body), mimetype=FORMATS[kind])
    if kind != "json":
        response.headers["Content-Disposition"] = (
            f'attachment; filename="project-{project_id}-results.{kind}"')
    return response


@blp.route("/projects/<int:project_id>/quality", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, QualitySchema)
@blp.problem(404, "No such project")
def project_quality(project_id):
    return results.quality_summary(project_id)
