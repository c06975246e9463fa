from backend.api import Blueprint

blp = Blueprint("tasks", __name__, url_prefix="/api/v1", description="tasks (worker)")
