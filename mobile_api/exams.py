"""Certification for workers: exams, timed attempts with autosave, results, certificates; the public
certificate check and the exams' media files."""

from __future__ import annotations

from flask import make_response, request

from backend.api import Blueprint
from backend.extensions import limiter
from backend.web import auth_required, current_user, idempotent
from quizzes import schemas
from quizzes import services as quizzes

blp = Blueprint("exams", __name__, url_prefix="/api/v1", description="exams (worker)")

VERIFY_LIMIT = "60 per minute"  # the public check must not become a code-guessing oracle
MEDIA_MAX_AGE_S = 86400
VERSIONED_MEDIA_MAX_AGE_S = 365 * 86400


@blp.route("/exams", methods=["GET"])
@auth_required()
@blp.response(200, schemas.ExamListSchema)
def list_exams():
    """Published exams with what the worker can do now: `available`, or why not
    (`unavailable_reason`: attempt_open, course_required, level_required, already_certified,
    no_attempts_left, cooldown) and `retake_at` after a failed attempt."""
    return {"items": quizzes.list_exams(current_user().id), "next_cursor": None}


@blp.route("/exams/<int:exam_id>/attempts", methods=["POST"])
@auth_required()
@idempotent
@blp.response(201, schemas.AttemptSchema)
@blp.problem(404, "No such published exam")
@blp.problem(409, "An attempt is open (`attempt_id` names it), or the exam is not available now "
                  "(`reason`; `retake_at` and Retry-After during a cooldown)")
def start_attempt(exam_id):
    """Start an attempt: questions drawn for this attempt, options in this attempt's order, a deadline.
    Never an answer key."""
    return quizzes.start_attempt(current_user().id, exam_id)


@blp.route("/attempts/<int:attempt_id>", methods=["GET"])
@auth_required()
@blp.response(200, schemas.AttemptSchema)
@blp.problem(404, "No such attempt of yours")
def get_attempt(attempt_id):
    """The attempt with the saved answers; `result` once graded (an attempt past its deadline is
    graded now with the answers saved before it)."""
    return quizzes.get_attempt(current_user().id, attempt_id)


@blp.route("/attempts/<int:attempt_id>/answers/<int:question_id>", methods=["PUT"])
@auth_required()
@blp.arguments(schemas.AnswerInSchema)
@blp.response(200, schemas.SavedAnswerSchema)
@blp.problem(404, "No such attempt of yours, or the question is not in it")
@blp.problem(409, "The attempt was submitted or its deadline passed")
@blp.problem(422, "The answer does not have the shape of the question's kind (the field is named)")
def save_answer(body, attempt_id, question_id):
    """Autosave one answer; the last one saved before the deadline counts."""
    return quizzes.save_answer(current_user().id, attempt_id, question_id, body["answer"])


@blp.route("/attempts/<int:attempt_id>/submission", methods=["POST"])
@auth_required()
@blp.arguments(schemas.SubmissionSchema, required=False)
@blp.response(200, schemas.ResultSchema)
@blp.problem(404, "No such attempt of yours")
@blp.problem(409, "The deadline passed (the answers saved before it were graded: GET the attempt)")
@blp.problem(422, "An answer does not fit its question (the field is named)")
def submit(body, attempt_id):
    """Save the given answers and grade on the server. Submitting again returns the same result."""
    return quizzes.submit_attempt(current_user().id, attempt_id, body.get("answers"))


@blp.route("/me/certificates", methods=["GET"])
@auth_required()
@blp.response(200, schemas.MyCertificateListSchema)
def my_certificates():
    return {"items": quizzes.my_certificates(current_user().id), "next_cursor": None}


@blp.route("/certificates/<code>", methods=["GET"])
@limiter.limit(VERIFY_LIMIT)
@blp.response(200, schemas.CertificateVerificationSchema)
@blp.problem(404, "No certificate has this code")
@blp.problem(429, "Too many checks; see Retry-After")
def verify_certificate(code):
    """Public, no token: verify a certificate by its code (dashes and case do not matter)."""
    return quizzes.verify_certificate(code)


@blp.route("/media/quizzes/<name>", methods=["GET"])
@blp.doc(responses={"200": {"description": "The media file", "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "audio/ogg": {"schema": {"type": "string", "format": "binary"}}}}})
@blp.problem(404, "No such media file")
def media(name):
    """A media file of an exam question (no token needed, so image and audio tags can load it)."""
    item = quizzes.get_media(name)
    response = make_response(item.data)
    response.mimetype = item.content_type
    versioned = request.args.get("v") == item.sha256[:12]
    max_age = VERSIONED_MEDIA_MAX_AGE_S if versioned else MEDIA_MAX_AGE_S
    response.headers["Cache-Control"] = f"public, max-age={max_age}" + (", immutable" if versioned else "")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.set_etag(item.sha256[:32])
    return response.make_conditional(request)
