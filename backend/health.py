from flask import current_app, request
from marshmallow import Schema, fields
from sqlalchemy import text

from backend import observability
from backend.api import Blueprint
from backend.errors import ServiceUnavailable, Unauthorized
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


@blp.route("/metrics", methods=["GET"])
@blp.response(200, content_type="text/plain")
@blp.problem(401, "METRICS_TOKEN is set and the bearer token does not match")
def metrics():
    """Prometheus metrics (request rate and latency by route, leases, submissions, jobs, queues)."""
    token = current_app.config["METRICS_TOKEN"]
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        raise Unauthorized("A valid metrics token is required.")
    return observability.metrics_response()
