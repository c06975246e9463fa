from backend.api import Blueprint

blp = Blueprint("training", __name__, url_prefix="/api/v1", description="training (worker)")
