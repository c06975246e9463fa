"""Micro-tasks for phones: projects, leases, heartbeats, give-backs, submissions, preferences."""

from backend.api import Blueprint
from backend.microtasks import schemas
from backend.microtasks import services as microtasks
from backend.web import auth_required, current_user, idempotent

blp = Blueprint("tasks", __name__, url_prefix="/api/v1", description="tasks (worker)")


@blp.route("/projects", methods=["GET"])
@auth_required()
@blp.response(200, schemas.WorkerProjectListSchema)
def list_projects():
    return {"items": microtasks.worker_projects(current_user().id), "next_cursor": None}


@blp.route("/assignments", methods=["POST"])
@auth_required()
@idempotent
@blp.arguments(schemas.LeaseRequestSchema)
@blp.response(200, schemas.LeaseResponseSchema)
@blp.problem(403, "The project is locked for this worker (locked_reason says why)")
@blp.problem(404, "No such project")
def lease(body):
    return microtasks.request_work(current_user().id, body["count"], body["project_id"])


@blp.route("/assignments/<int:assignment_id>/submission", methods=["POST"])
@auth_required()
@idempotent
@blp.arguments(schemas.SubmissionRequestSchema)
@blp.response(201, schemas.SubmissionResultSchema)
@blp.problem(404, "No such assignment of this worker")
@blp.problem(409, "Already submitted, given back, or the lease expired and the slot is gone")
def submit(body, assignment_id):
    return microtasks.submit(current_user().id, assignment_id, body["answer"], body["duration_ms"])


@blp.route("/assignments/<int:assignment_id>", methods=["DELETE"])
@auth_required()
@blp.response(204)
@blp.problem(404, "No such assignment of this worker")
@blp.problem(409, "Already submitted")
def give_back(assignment_id):
    microtasks.give_back(current_user().id, assignment_id)


@blp.route("/assignments/<int:assignment_id>/heartbeat", methods=["POST"])
@auth_required()
@blp.response(200, schemas.HeartbeatSchema)
@blp.problem(404, "No such assignment of this worker")
@blp.problem(409, "The lease is no longer open")
def heartbeat(assignment_id):
    return microtasks.heartbeat(current_user().id, assignment_id)


@blp.route("/me/assignments", methods=["GET"])
@auth_required()
@blp.arguments(schemas.MyAssignmentArgs, location="query")
@blp.response(200, schemas.MyAssignmentPageSchema)
def my_assignments(args):
    return microtasks.my_assignments(current_user().id, args.get("status"), args["cursor"], args["limit"])


@blp.route("/me/work-preferences", methods=["GET"])
@auth_required()
@blp.response(200, schemas.WorkPreferencesSchema)
def work_preferences():
    return microtasks.work_preferences_of(current_user().id)


@blp.route("/me/work-preferences", methods=["PUT"])
@auth_required()
@blp.arguments(schemas.WorkPreferencesInSchema)
@blp.response(200, schemas.WorkPreferencesSchema)
def set_work_preferences(body):
    return microtasks.set_work_preferences(current_user().id, body["sensitive_content"])
