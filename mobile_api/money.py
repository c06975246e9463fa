from backend.api import Blueprint

blp = Blueprint("money", __name__, url_prefix="/api/v1", description="money (worker)")
