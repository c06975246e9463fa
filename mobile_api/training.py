"""Training for workers: the course catalogue, enrollment, lessons, practice examples, progress."""

from __future__ import annotations

import hashlib
from functools import wraps

from flask import make_response, request

from backend.api import Blueprint
from backend.schemas import decode_cursor, encode_cursor
from backend.web import auth_required, current_user
from courses import schemas
from courses import services as courses

blp = Blueprint("training", __name__, url_prefix="/api/v1", description="training (worker)")

MEDIA_MAX_AGE_S = 86400
VERSIONED_MEDIA_MAX_AGE_S = 365 * 86400


def conditional(view):
    """ETag from the body; If-None-Match with the same tag answers 304 without a body. Place it
    under @auth_required and above @blp.response. Private: the body depends on the worker."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        if response.status_code == 200:
            response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
            response.headers["Cache-Control"] = "private, no-cache"
            response.vary.add("Authorization")
            response.make_conditional(request)
        return response

    manual = wrapper.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})
    manual.setdefault("parameters", []).append({
        "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
        "description": "The ETag of a copy you have; an unchanged body answers 304.",
    })
    manual.setdefault("responses", {})["304"] = {"description": "Not modified: your copy is current."}
    return wrapper


def _page(items, last_id):
    return {"items": items, "next_cursor": encode_cursor(last_id) if last_id is not None else None}


@blp.route("/courses", methods=["GET"])
@auth_required()
@blp.arguments(schemas.CourseListArgs, location="query")
@blp.response(200, schemas.CoursePageSchema)
def list_courses(args):
    """Published courses, with the worker's progress; locked ones say why (in the worker's language)."""
    return _page(*courses.list_courses(current_user().id, skill=args.get("skill"),
                                       after_id=decode_cursor(args["cursor"]), limit=args["limit"]))


@blp.route("/courses/<slug>", methods=["GET"])
@auth_required()
@conditional
@blp.response(200, schemas.CourseDetailSchema)
@blp.problem(404, "No such published course")
def course_detail(slug):
    return courses.course_detail(current_user().id, slug)


@blp.route("/courses/<slug>/enrollment", methods=["POST"])
@auth_required()
@blp.response(201, schemas.CourseEnrollmentSchema, description="Enrolled now")
@blp.alt_response(200, schema=schemas.CourseEnrollmentSchema, description="Already enrolled", success=True)
@blp.problem(404, "No such published course")
@blp.problem(409, "The course is locked; the detail and `missing` say what is missing")
def enroll(slug):
    enrollment, created = courses.enroll(current_user().id, slug)
    return enrollment, 201 if created else 200


@blp.route("/courses/<slug>/lessons/<int:lesson_id>", methods=["GET"])
@auth_required()
@conditional
@blp.response(200, schemas.CourseLessonSchema)
@blp.problem(404, "No such course or lesson")
@blp.problem(409, "The course is locked and you are not enrolled")
def lesson(slug, lesson_id):
    """A lesson's blocks; example blocks show the question without its answer key or explanation."""
    return courses.lesson_for_worker(current_user().id, slug, lesson_id)


@blp.route("/courses/<slug>/lessons/<int:lesson_id>/completion", methods=["POST"])
@auth_required()
@blp.response(200, schemas.LessonProgressSchema)
@blp.problem(404, "No such course or lesson")
@blp.problem(409, "Not enrolled in the course, or (sequential course) an earlier lesson is not done")
def complete_lesson(slug, lesson_id):
    return courses.complete_lesson(current_user().id, slug, lesson_id)


@blp.route("/courses/<slug>/examples/<question_key>/answer", methods=["POST"])
@auth_required()
@blp.arguments(schemas.ExampleAnswerIn)
@blp.response(200, schemas.ExampleResultSchema)
@blp.problem(404, "No such course or practice example")
@blp.problem(409, "The course is locked and you are not enrolled")
def answer_example(body, slug, question_key):
    """Instant feedback on a practice example: right or wrong, the explanation and the key."""
    return courses.answer_example(current_user().id, slug, question_key, body["answer"])


@blp.route("/media/courses/<slug>/<path:name>", methods=["GET"])
@blp.doc(responses={"200": {"description": "The file (PNG, JPEG, SVG or OGG)",
                            "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                "format": "binary"}}}}})
@blp.problem(404, "No such published course or file")
def media(slug, name):
    """A media file of a published course (no token needed, so image tags can load it)."""
    item = courses.get_media(slug, name)
    response = make_response(item.data)
    response.mimetype = item.content_type
    versioned = request.args.get("v") == item.sha256[:12]
    max_age = VERSIONED_MEDIA_MAX_AGE_S if versioned else MEDIA_MAX_AGE_S
    response.headers["Cache-Control"] = f"public, max-age={max_age}" + (", immutable" if versioned else "")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.set_etag(item.sha256[:32])
    return response.make_conditional(request)
