from marshmallow import Schema, fields
from sqlalchemy import text

from backend.api import Blueprint
from backend.errors import ServiceUnavailable
from backend.extensions import db

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True)


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
def healthz():
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.problem(503, "The database is not reachable")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        raise ServiceUnavailable("The database is not reachable.") from None
    return {"status": "ready"}
