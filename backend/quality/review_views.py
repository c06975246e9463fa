"""Reviewer and manager console (/api/v1/manage/...): the review queue, decisions, appeals, the
reasons catalogue, level rules (admins) and lifting pauses (managers)."""

from backend.api import Blueprint
from backend.quality import floors, review
from backend.quality import review_schemas as schemas
from backend.schemas import decode_cursor, encode_cursor
from backend.skills import rules
from backend.web import REVIEWERS, STAFF, auth_required, csv_response, current_user, idempotent, wants_csv

blp = Blueprint("manage_review", __name__, url_prefix="/api/v1/manage",
                description="Manager console: review, appeals, pauses, level rules")

_QUEUE_CSV = ["submission_id", "project_id", "skill", "task_type", "worker_id", "duration_ms", "late",
              "submitted_at", "due_at", "sample_reasons", "media_url"]


def _page(items, last):
    return {"items": items, "next_cursor": encode_cursor(last) if last is not None else None}


@blp.route("/reviews", methods=["GET"])
@auth_required(*REVIEWERS)
@blp.arguments(schemas.ReviewQueueArgs, location="query")
@blp.response(200, schemas.ReviewQueuePageSchema)
@blp.csv_export()
def review_queue(args):
    """Sampled submissions waiting for a decision, oldest first (approved automatically at due_at)."""
    items, last = review.review_queue(project_id=args["project_id"], user_id=args["user_id"],
                                      after_id=decode_cursor(args["cursor"]), limit=args["limit"])
    if wants_csv():
        rows = schemas.ReviewQueueItemSchema(many=True).dump(items)
        return csv_response([{**row, "sample_reasons": " ".join(row["sample_reasons"])} for row in rows],
                            _QUEUE_CSV, "reviews.csv")
    return _page(items, last)


@blp.route("/submissions/<int:submission_id>/review", methods=["POST"])
@auth_required(*REVIEWERS)
@idempotent
@blp.arguments(schemas.ReviewDecisionSchema)
@blp.response(201, schemas.ReviewSchema)
@blp.problem(403, "Your own submission")
@blp.problem(404, "No such submission")
@blp.problem(409, "Already reviewed, a gold answer, or the review window closed")
def review_submission(body, submission_id):
    """Approve, or reject with a catalogue reason (and a note); the worker may appeal a rejection."""
    return review.decide(submission_id, current_user().id, body["decision"], body["reason_code"], body["note"])


@blp.route("/review-reasons", methods=["GET"])
@auth_required(*REVIEWERS)
@blp.response(200, schemas.ReasonListSchema)
def review_reasons():
    """The catalogue of rejection reasons (texts in your locale)."""
    return {"items": review.reasons_catalogue(), "next_cursor": None}


@blp.route("/appeals", methods=["GET"])
@auth_required(*REVIEWERS)
@blp.arguments(schemas.AppealListArgs, location="query")
@blp.response(200, schemas.AppealPageSchema)
def list_appeals(args):
    """Appeals, oldest first; open appeals of your own rejections are not shown (another reviewer decides)."""
    items, last = review.list_appeals(current_user().id, status=None if args["status"] == "all" else args["status"],
                                      include_own=args["include_own"], after_id=decode_cursor(args["cursor"]),
                                      limit=args["limit"])
    return _page(items, last)


@blp.route("/appeals/<int:appeal_id>/decision", methods=["POST"])
@auth_required(*REVIEWERS)
@idempotent
@blp.arguments(schemas.AppealDecisionSchema)
@blp.response(200, schemas.AppealSchema)
@blp.problem(403, "You made the rejection (or it is your work): another reviewer decides")
@blp.problem(404, "No such appeal")
@blp.problem(409, "The appeal was already decided")
def decide_appeal(body, appeal_id):
    """Uphold (the rejection becomes final) or overturn (the submission is approved)."""
    return review.decide_appeal(appeal_id, current_user().id, body["decision"], body["note"])


@blp.route("/level-rules", methods=["GET"])
@auth_required("admin")
@blp.arguments(schemas.LevelRuleArgs, location="query")
@blp.response(200, schemas.LevelRuleListSchema)
def list_level_rules(args):
    """The promotion/demotion rule of every skill and level (custom or the default)."""
    return {"items": rules.list_rules(args["skill"]), "next_cursor": None}


@blp.route("/level-rules/<string:skill>/<int:level>", methods=["PUT"])
@auth_required("admin")
@blp.arguments(schemas.LevelRuleUpdateSchema)
@blp.response(200, schemas.LevelRuleSchema)
@blp.problem(404, "No such skill")
def update_level_rule(body, skill, level):
    """Set the rule for workers at this level of the skill."""
    return rules.update_rule(skill, level, body, actor_id=current_user().id)


@blp.route("/level-rules/<string:skill>/<int:level>", methods=["DELETE"])
@auth_required("admin")
@blp.response(200, schemas.LevelRuleSchema)
@blp.problem(404, "No such skill")
def reset_level_rule(skill, level):
    """Back to the default rule (answers it)."""
    return rules.reset_rule(skill, level, actor_id=current_user().id)


@blp.route("/pauses", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.PauseListArgs, location="query")
@blp.response(200, schemas.PausePageSchema)
def list_pauses(args):
    """Workers paused on projects, newest first."""
    items, last = floors.list_pauses(active=args["active"], user_id=args["user_id"], project_id=args["project_id"],
                                     after_id=decode_cursor(args["cursor"]), limit=args["limit"])
    return _page(items, last)


@blp.route("/workers/<int:worker_id>/pauses/<int:project_id>/lift", methods=["POST"])
@auth_required(*STAFF)
@blp.arguments(schemas.PauseLiftSchema)
@blp.response(200, schemas.PauseSchema)
@blp.problem(404, "The worker is not paused on this project")
def lift_pause(body, worker_id, project_id):
    """Let the worker back on the project (their counts there start afresh)."""
    return floors.lift_by_manager(worker_id, project_id, actor_id=current_user().id, reason=body["reason"])
