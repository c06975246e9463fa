"""Manager-facing endpoints of microtasks (/api/v1/manage/...)."""

from backend.api import Blueprint

blp = Blueprint("manage_microtasks", __name__, url_prefix="/api/v1/manage", description="Manager console: microtasks")
