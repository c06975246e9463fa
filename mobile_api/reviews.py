"""Worker review endpoints: rejections and appeals, pauses and the retraining that lifts them."""

from backend.api import Blueprint
from backend.quality import floors, review
from backend.quality import review_schemas as schemas
from backend.schemas import PageArgs, decode_cursor, encode_cursor
from backend.web import auth_required, current_user, idempotent

blp = Blueprint("reviews", __name__, url_prefix="/api/v1", description="Reviews, appeals and pauses (worker)")


@blp.route("/me/reviews", methods=["GET"])
@auth_required()
@blp.arguments(PageArgs, location="query")
@blp.response(200, schemas.MyReviewPageSchema)
def my_reviews(args):
    """Your rejected submissions, newest first: the reason, the appeal deadline, the appeal."""
    items, last = review.my_reviews(current_user().id, after_id=decode_cursor(args["cursor"]), limit=args["limit"])
    return {"items": items, "next_cursor": encode_cursor(last) if last is not None else None}


@blp.route("/submissions/<int:submission_id>/appeal", methods=["POST"])
@auth_required()
@idempotent
@blp.arguments(schemas.AppealCreateSchema)
@blp.response(201, schemas.AppealSchema)
@blp.problem(404, "No rejection of this submission of yours")
@blp.problem(409, "Already appealed, or the appeal window has closed")
def appeal(body, submission_id):
    """Appeal a rejection within the appeal window; a different reviewer decides."""
    return review.appeal(current_user().id, submission_id, body["message"])


@blp.route("/me/pauses", methods=["GET"])
@auth_required()
@blp.response(200, schemas.PausePageSchema)
def my_pauses():
    """Projects you are paused on (open ones first), why, and the way back."""
    return {"items": floors.my_pauses(current_user().id), "next_cursor": None}


@blp.route("/me/pauses/<int:pause_id>/retraining", methods=["POST"])
@auth_required()
@blp.arguments(schemas.RetrainingAnswerSchema)
@blp.response(200, schemas.RetrainingResultSchema)
@blp.problem(404, "No such pause or practice example")
@blp.problem(409, "Lifted already, or lifted by a manager only")
@blp.problem(422, "The answer does not fit the question")
def retraining_answer(body, pause_id):
    """Answer one practice example of the retraining course; all answered right lifts the pause."""
    return floors.retraining_answer(current_user().id, pause_id, body["key"], body["answer"])
