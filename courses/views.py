"""Manager-facing endpoints of courses (/api/v1/manage/...)."""

from backend.api import Blueprint
from backend.schemas import PageArgs, decode_cursor, encode_cursor
from backend.web import STAFF, auth_required, csv_response, wants_csv
from courses import schemas, services

blp = Blueprint("manage_courses", __name__, url_prefix="/api/v1/manage", description="Manager console: courses")

CSV_COLUMNS = ["id", "slug", "title_ko", "title_en", "skill", "level", "published", "version", "source",
               "lesson_count", "enrolled", "completed", "updated_at", "published_at"]


@blp.route("/courses", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(PageArgs, location="query")
@blp.response(200, schemas.ManagerCoursePageSchema)
@blp.csv_export()
def list_courses(args):
    """Every course, published or not, with enrollment and completion counts."""
    items, last_id = services.manager_courses(decode_cursor(args["cursor"]), args["limit"])
    if wants_csv():
        rows = [{**schemas.ManagerCourseItemSchema().dump(item), "title_ko": item["title"]["ko"],
                 "title_en": item["title"]["en"]} for item in items]
        return csv_response(rows, CSV_COLUMNS, "courses.csv")
    return {"items": items, "next_cursor": encode_cursor(last_id) if last_id is not None else None}


@blp.route("/courses", methods=["POST"])
@auth_required(*STAFF)
@blp.arguments(schemas.CourseIn)
@blp.response(201, schemas.ManagerCourseSchema)
@blp.problem(409, "The slug is taken")
def create_course(body):
    """Create a course with its modules, lessons and blocks (unpublished unless `published`)."""
    return services.create_course(body)


@blp.route("/courses/<slug>", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.ManagerCourseSchema)
@blp.problem(404, "No such course")
def get_course(slug):
    """The course as authored, answer keys included (the shape PUT takes back)."""
    return services.manager_course(slug)


@blp.route("/courses/<slug>", methods=["PUT"])
@auth_required(*STAFF)
@blp.arguments(schemas.CourseUpdateIn)
@blp.response(200, schemas.ManagerCourseSchema)
@blp.problem(404, "No such course")
def update_course(body, slug):
    """Replace the content. Lessons and examples are matched by `key`, so they keep their ids and
    everyone's progress; a lesson left out is retired."""
    return services.update_course(slug, body)


@blp.route("/courses/<slug>/publication", methods=["POST"])
@auth_required(*STAFF)
@blp.response(200, schemas.ManagerCourseItemSchema)
@blp.problem(404, "No such course")
def publish(slug):
    """Publish: workers see the course."""
    return services.set_published(slug, True)


@blp.route("/courses/<slug>/publication", methods=["DELETE"])
@auth_required(*STAFF)
@blp.response(200, schemas.ManagerCourseItemSchema)
@blp.problem(404, "No such course")
def unpublish(slug):
    """Unpublish: the course disappears for workers (enrollments and progress are kept)."""
    return services.set_published(slug, False)
