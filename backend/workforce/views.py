"""Manager-facing endpoints of workforce analytics (/api/v1/manage/...)."""

from backend.api import Blueprint

blp = Blueprint("manage_workforce", __name__, url_prefix="/api/v1/manage", description="Manager console: workforce")
