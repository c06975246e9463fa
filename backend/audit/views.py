"""GET /api/v1/manage/audit: the audit log, for admins (JSON or CSV)."""

from backend.api import Blueprint
from backend.audit import schemas
from backend.audit import services as audit
from backend.schemas import decode_cursor, encode_cursor, page_of
from backend.web import auth_required, csv_response, wants_csv

blp = Blueprint("manage_audit", __name__, url_prefix="/api/v1/manage", description="Manager console: audit log")

CSV_COLUMNS = ["id", "created_at", "actor_id", "action", "target_type", "target_id", "reason", "before", "after"]


@blp.route("/audit", methods=["GET"])
@auth_required("admin")
@blp.arguments(schemas.AuditQuerySchema, location="query")
@blp.response(200, page_of(schemas.AuditEntrySchema))
@blp.csv_export()
def list_audit(query):
    entries, last_id = audit.list_entries(
        after_id=decode_cursor(query["cursor"]), limit=query["limit"], action=query.get("action"),
        actor_id=query.get("actor_id"), target_type=query.get("target_type"), target_id=query.get("target_id"))
    if wants_csv():
        return csv_response(schemas.AuditEntrySchema(many=True).dump(entries), CSV_COLUMNS, "audit.csv")
    return {"items": entries, "next_cursor": encode_cursor(last_id) if last_id else None}
