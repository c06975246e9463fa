"""Manager-facing endpoints of courses (/api/v1/manage/...)."""

from backend.api import Blueprint

blp = Blueprint("manage_courses", __name__, url_prefix="/api/v1/manage", description="Manager console: courses")
