from backend.api import Blueprint

blp = Blueprint("exams", __name__, url_prefix="/api/v1", description="exams (worker)")
