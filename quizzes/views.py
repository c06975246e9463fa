"""Manager-facing endpoints of quizzes (/api/v1/manage/...): author exams, item statistics,
certificate revocation."""

from backend.api import Blueprint
from backend.web import STAFF, auth_required, csv_response, current_user, wants_csv
from quizzes import schemas
from quizzes import services as quizzes

blp = Blueprint("manage_quizzes", __name__, url_prefix="/api/v1/manage", description="Manager console: quizzes")

EXAM_CSV_COLUMNS = ["id", "key", "version", "skill", "grants_level", "published", "source", "question_count",
                    "updated_at"]
STATS_CSV_COLUMNS = ["id", "key", "kind", "pool", "active", "responses", "share_correct", "mean_credit",
                     "discrimination", "flags"]


@blp.route("/exams", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.ManagerExamListSchema)
@blp.csv_export()
def list_exams():
    """Every exam, published or not."""
    items = quizzes.list_exams_for_managers()
    if wants_csv():
        return csv_response(schemas.ManagerExamItemSchema(many=True).dump(items), EXAM_CSV_COLUMNS, "exams.csv")
    return {"items": items, "next_cursor": None}


@blp.route("/exams", methods=["POST"])
@auth_required(*STAFF)
@blp.arguments(schemas.ExamDocumentSchema)
@blp.response(201, schemas.ManagerExamSchema)
@blp.problem(409, "The exam key is taken")
@blp.problem(422, "The exam is invalid (every problem is named by its field path)")
def create_exam(body):
    """Create an exam with its questions (published unless "published": false)."""
    exam = quizzes.create_exam(body, actor_id=current_user().id)
    return quizzes.exam_detail(exam.id)


@blp.route("/exams/<int:exam_id>", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.ManagerExamSchema)
@blp.problem(404, "No such exam")
def get_exam(exam_id):
    """The exam with its active questions and their answer keys."""
    return quizzes.exam_detail(exam_id)


@blp.route("/exams/<int:exam_id>", methods=["PUT"])
@auth_required(*STAFF)
@blp.arguments(schemas.ExamDocumentSchema)
@blp.response(200, schemas.ManagerExamSchema)
@blp.problem(404, "No such exam")
@blp.problem(409, "The new exam key is taken")
@blp.problem(422, "The exam is invalid (every problem is named by its field path)")
def update_exam(body, exam_id):
    """Replace the exam's definition. Questions are matched by key (keyless ones by place: q1, q2, …);
    questions left out become inactive, and attempts and certificates stay."""
    exam = quizzes.update_exam(exam_id, body, actor_id=current_user().id)
    return quizzes.exam_detail(exam.id)


@blp.route("/exams/<int:exam_id>/stats", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.ExamStatsSchema)
@blp.csv_export()
@blp.problem(404, "No such exam")
def exam_stats(exam_id):
    """Attempts, pass rate, score distribution, and per question the share answering right and its
    point-biserial discrimination; `flags` mark items that look broken. CSV: one row per question."""
    stats = quizzes.exam_stats(exam_id)
    if wants_csv():
        rows = [{**row, "flags": " ".join(row["flags"])} for row in stats["questions"]]
        return csv_response(rows, STATS_CSV_COLUMNS, f"exam-{exam_id}-items.csv")
    return stats


@blp.route("/certificates/<code>/revocation", methods=["POST"])
@auth_required(*STAFF)
@blp.arguments(schemas.RevocationSchema)
@blp.response(200, schemas.RevokedCertificateSchema)
@blp.problem(404, "No certificate has this code")
def revoke_certificate(body, code):
    """Revoke a certificate: its holder's level in the skill drops to 0 until they pass again.
    Revoking a revoked certificate changes nothing."""
    return quizzes.revoke_certificate(code, body["reason"], actor_id=current_user().id)
