"""Manager-facing endpoints of microtasks (/api/v1/manage/...): projects, task import, progress."""

from flask import request

from backend.api import Blueprint
from backend.errors import Invalid
from backend.microtasks import schemas
from backend.microtasks import services as microtasks
from backend.schemas import decode_cursor, encode_cursor
from backend.web import STAFF, auth_required, csv_response, current_user, wants_csv

blp = Blueprint("manage_microtasks", __name__, url_prefix="/api/v1/manage", description="Manager console: microtasks")

IMPORT_MAX_BYTES = 50 * 1024 * 1024  # only the import route takes bodies this large
_PROJECT_CSV = ["id", "key", "skill", "task_type", "difficulty", "status", "priority", "overlap",
                "lease_seconds", "gold_ratio", "reward_amount", "currency", "sensitive_content", "created_at"]


@blp.route("/projects", methods=["POST"])
@auth_required(*STAFF)
@blp.arguments(schemas.ProjectCreateSchema)
@blp.response(201, schemas.ProjectSchema)
@blp.problem(409, "The project key is taken")
def create_project(body):
    return microtasks.project_view(microtasks.create_project(body, actor_id=current_user().id))


@blp.route("/projects", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.ProjectListArgs, location="query")
@blp.response(200, schemas.ProjectPageSchema)
@blp.csv_export()
def list_projects(args):
    items, last = microtasks.manager_projects(args.get("status"), decode_cursor(args["cursor"]),
                                              args["limit"])
    if wants_csv():
        rows = [{**item, "reward_amount": item["reward"]["amount"], "currency": item["reward"]["currency"]}
                for item in items]
        return csv_response(rows, _PROJECT_CSV, "projects.csv")
    return {"items": items, "next_cursor": encode_cursor(last) if last is not None else None}


@blp.route("/projects/<int:project_id>", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.ProjectSchema)
def get_project(project_id):
    return microtasks.manager_project(project_id)


@blp.route("/projects/<int:project_id>", methods=["PATCH"])
@auth_required(*STAFF)
@blp.arguments(schemas.ProjectUpdateSchema)
@blp.response(200, schemas.ProjectSchema)
@blp.problem(409, "The task type cannot change once tasks exist; or the key is taken")
def update_project(body, project_id):
    return microtasks.project_view(microtasks.update_project(project_id, body))


def _import_records():
    """The tasks of an import request: a JSON list, JSONL (application/x-ndjson), or a file."""
    request.max_content_length = IMPORT_MAX_BYTES
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise Invalid.field("file", "Upload the tasks as the form field 'file'.")
        return microtasks.records_from_stream(upload.stream)
    if mimetype in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain"):
        return microtasks.records_from_lines(request.get_data().splitlines())
    if mimetype == "application/json":
        items = request.get_json()
        if not isinstance(items, list):
            raise Invalid.field("tasks", "Send a JSON list of tasks (or JSONL as application/x-ndjson).")
        return microtasks.records_from_list(items)
    raise Invalid.field("Content-Type", "Send application/json, application/x-ndjson or multipart/form-data.")


_TASK_LINE = {
    "type": "object",
    "required": ["payload"],
    "properties": {
        "payload": {"type": "object"}, "difficulty": {"type": "integer", "minimum": 1, "maximum": 5},
        "gold_answer": {"type": "object"}, "explanation": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "external_id": {"type": "string", "maxLength": 200},
    },
}


@blp.route("/projects/<int:project_id>/tasks", methods=["POST"])
@auth_required(*STAFF)
@blp.doc(requestBody={
    "required": True,
    "description": "Tasks as a JSON list, as JSONL (one task per line), or a JSON/JSONL file upload "
                   "(form field `file`); up to 50 MB.",
    "content": {
        "application/json": {"schema": {"type": "array", "items": _TASK_LINE}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}},
    },
})
@blp.response(200, schemas.ImportResultSchema)
@blp.problem(413, "The upload is larger than 50 MB")
def import_tasks(project_id):
    return microtasks.import_tasks(project_id, _import_records())


@blp.route("/projects/<int:project_id>/progress", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.ProgressSchema)
def project_progress(project_id):
    return microtasks.project_progress(project_id)
