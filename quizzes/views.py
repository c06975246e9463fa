"""Manager-facing endpoints of quizzes (/api/v1/manage/...)."""

from backend.api import Blueprint

blp = Blueprint("manage_quizzes", __name__, url_prefix="/api/v1/manage", description="Manager console: quizzes")
