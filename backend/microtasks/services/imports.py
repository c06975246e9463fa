"""Task import: a JSON list or JSONL, validated line by line, stored with bulk inserts.

Each record is `{payload, difficulty?, gold_answer?, explanation?, external_id?}`. Good lines are
stored, bad ones are reported with their line number (1-based; the position in a JSON list) and
their errors by field. Records are validated and inserted in chunks, so 100,000 tasks take
seconds and memory stays flat when the CLI streams a large file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator

from marshmallow import ValidationError
from sqlalchemy.dialects import sqlite

from backend.database import is_postgresql, utcnow
from backend.errors import Invalid, flatten_messages
from backend.extensions import db
from backend.i18n import LocalizedText
from backend.microtasks.services.common import tasks
from backend.microtasks.services.projects import get_project
from backend.microtasks.services.task_types import TaskType, task_type

CHUNK = 5000
REJECTED_SHOWN = 1000
_FIELDS = {"payload", "difficulty", "gold_answer", "explanation", "external_id"}
_explanation = LocalizedText(max_length=5000)
_shuffle = random.Random()


class BadJson:
    """A line that is not JSON (kept in the record stream so it is reported with its number)."""

    def __init__(self, message: str):
        self.message = message


def records_from_lines(lines: Iterable[bytes | str], first_line: int = 1) -> Iterator[tuple[int, object]]:
    """JSONL: one record per non-blank line, numbered from `first_line`."""
    for number, line in enumerate(lines, start=first_line):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, BadJson("Not UTF-8 text.")
                continue
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as error:
            yield number, BadJson(f"Not valid JSON: {error}.")


def records_from_list(items: list) -> Iterator[tuple[int, object]]:
    """A JSON list: record n is the n-th element."""
    return enumerate(items, start=1)


def records_from_stream(stream) -> Iterator[tuple[int, object]]:
    """A file (binary or text) holding either a JSON list or JSONL; JSONL is streamed."""
    iterator = iter(stream)
    skipped = []
    for line in iterator:
        text = line.decode("utf-8-sig", errors="replace") if isinstance(line, bytes) else line
        if not text.strip():
            skipped.append(line)
            continue
        if text.lstrip().startswith("["):
            rest = b"".join(iterator) if isinstance(line, bytes) else "".join(iterator)
            whole = (line + rest).decode("utf-8-sig") if isinstance(line, bytes) else line + rest
            try:
                items = json.loads(whole)
            except ValueError as error:
                raise Invalid.field("file", f"Not a valid JSON list: {error}.") from None
            if not isinstance(items, list):
                raise Invalid.field("file", "Must be a JSON list or JSON lines.")
            yield from records_from_list(items)
            return
        yield from records_from_lines([line], first_line=len(skipped) + 1)
        yield from records_from_lines(iterator, first_line=len(skipped) + 2)
        return


def _validate(record, kind: TaskType, project) -> tuple[dict | None, dict]:
    """One record → (row for the tasks table, {}) or (None, {field: [messages]})."""
    if isinstance(record, BadJson):
        return None, {"_line": [record.message]}
    if not isinstance(record, dict):
        return None, {"_line": ["Must be a JSON object."]}
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in record if name not in _FIELDS}
    payload = None
    if "payload" not in record:
        errors["payload"] = ["Missing data for required field."]
    else:
        try:
            payload = kind.validate_payload(record["payload"])
        except ValidationError as error:
            errors.update(flatten_messages(error.messages, "payload"))
    difficulty = record.get("difficulty", project.difficulty)
    if not isinstance(difficulty, int) or isinstance(difficulty, bool) or not 1 <= difficulty <= 5:
        errors["difficulty"] = ["Must be an integer from 1 to 5."]
    gold = record.get("gold_answer")
    if gold is not None and payload is not None:
        try:
            gold = kind.validate_gold(gold, project.config, payload)
        except ValidationError as error:
            errors.update(flatten_messages(error.messages, "gold_answer"))
    explanation = record.get("explanation")
    if explanation is not None:
        if gold is None:
            errors["explanation"] = ["Only gold tasks (with a gold_answer) have an explanation."]
        else:
            try:
                explanation = _explanation.deserialize(explanation)
            except ValidationError as error:
                errors["explanation"] = list(error.messages)
    external_id = record.get("external_id")
    if external_id is not None and (not isinstance(external_id, str) or not 1 <= len(external_id) <= 200
                                    or "\x00" in external_id):
        errors["external_id"] = ["Must be a string of 1 to 200 characters."]
    if errors:
        return None, {name.replace("._schema", ""): msgs for name, msgs in errors.items()}
    is_gold = gold is not None
    return {
        "external_id": external_id, "payload": payload, "difficulty": max(difficulty, project.difficulty),
        "is_gold": is_gold, "gold_answer": gold, "explanation": explanation,
        # Gold tasks are not slot-counted: every worker may answer each one once.
        "open_slots": 0 if is_gold else project.overlap, "answer_count": 0,
        "shuffle": _shuffle.getrandbits(31),
    }, {}


_COLUMNS = ("project_id", "external_id", "payload", "difficulty", "is_gold", "gold_answer", "explanation",
            "open_slots", "answer_count", "shuffle", "created_at")
_JSON_COLUMNS = {"payload", "gold_answer", "explanation"}


def _insert(rows: list[dict]) -> set[str]:
    """Bulk insert; a row whose external_id the project already has is skipped by the unique
    constraint. Returns the external_ids actually stored.

    PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING
    (psycopg would otherwise spend most of the time parsing huge multi-row VALUES statements).
    SQLite: multi-row VALUES statements with ON CONFLICT DO NOTHING.
    """
    if is_postgresql(db.session):
        return _insert_by_copy(rows)
    stmt = (sqlite.insert(tasks).on_conflict_do_nothing(index_elements=[tasks.c.project_id, tasks.c.external_id])
            .returning(tasks.c.external_id))
    return {external_id for (external_id,) in db.session.execute(stmt, rows)}


def _insert_by_copy(rows: list[dict]) -> set[str]:
    columns = ", ".join(_COLUMNS)
    raw = db.session.connection().connection.driver_connection  # the session's own transaction
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS microtasks_import (project_id integer, "
            "external_id varchar(200), payload json, difficulty integer, is_gold boolean, gold_answer json, "
            "explanation json, open_slots integer, answer_count integer, shuffle integer, "
            "created_at timestamptz) ON COMMIT DROP")
        cursor.execute("TRUNCATE microtasks_import")
        with cursor.copy(f"COPY microtasks_import ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[name]) if name in _JSON_COLUMNS and row[name] is not None
                                else row[name] for name in _COLUMNS])
        cursor.execute(f"INSERT INTO tasks ({columns}) SELECT {columns} FROM microtasks_import "
                       "ON CONFLICT (project_id, external_id) DO NOTHING RETURNING external_id")
        return {external_id for (external_id,) in cursor.fetchall()}


def import_tasks(project_id: int, records: Iterable[tuple[int, object]]) -> dict:
    """Store the valid records as tasks of the project; report the others.

    Returns {created, rejected: [{line, errors}] (the first 1,000), rejected_count}. An external_id
    already in the project (or repeated in the file) rejects that line, so a re-run is harmless.
    """
    project = get_project(project_id)
    kind = task_type(project.task_type)
    created, rejected, rejected_count, seen = 0, [], 0, set()
    saw_any = False

    def reject(line: int, errors: dict) -> None:
        nonlocal rejected_count
        rejected_count += 1
        if len(rejected) < REJECTED_SHOWN:
            rejected.append({"line": line, "errors": errors})

    chunk: list[tuple[int, dict]] = []

    def flush() -> None:
        nonlocal created
        # Ids in random order within a chunk: gold lines grouped in the file do not end up with
        # recognisable consecutive ids.
        _shuffle.shuffle(chunk)
        now = utcnow()
        stored = _insert([{**row, "project_id": project.id, "created_at": now} for _, row in chunk])
        for line, row in chunk:
            if row["external_id"] is None or row["external_id"] in stored:
                created += 1
            else:
                reject(line, {"external_id": ["Already imported into this project."]})
        chunk.clear()

    for line, record in records:
        saw_any = True
        row, errors = _validate(record, kind, project)
        if errors:
            reject(line, errors)
            continue
        if row["external_id"] is not None:
            if row["external_id"] in seen:
                reject(line, {"external_id": ["Repeats an earlier line."]})
                continue
            seen.add(row["external_id"])
        chunk.append((line, row))
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    if not saw_any:
        raise Invalid.field("tasks", "No tasks given.")
    rejected.sort(key=lambda item: item["line"])
    return {"created": created, "rejected": rejected, "rejected_count": rejected_count}
