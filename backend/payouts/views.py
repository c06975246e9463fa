"""Manager-facing endpoints of payouts (/api/v1/manage/...)."""

from backend.api import Blueprint

blp = Blueprint("manage_payouts", __name__, url_prefix="/api/v1/manage", description="Manager console: payouts")
