"""Manager-facing endpoints of payouts (/api/v1/manage/...)."""

from backend.api import Blueprint
from backend.payouts import schemas
from backend.payouts import services as payouts
from backend.web import STAFF, auth_required, csv_response, current_user, idempotent, wants_csv

blp = Blueprint("manage_payouts", __name__, url_prefix="/api/v1/manage", description="Manager console: payouts")

CSV_COLUMNS = ["id", "user_id", "email", "display_name", "amount", "currency", "status", "source",
               "transfer_id", "destination", "attempts", "failure_code", "last_error", "reversed_amount",
               "created_at", "updated_at", "transferred_at", "paid_at"]


@blp.route("/payouts", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.ManagerPayoutArgs, location="query")
@blp.response(200, schemas.ManagerPayoutPageSchema)
@blp.csv_export()
def list_payouts(args):
    """Every payout and its state, newest first; filter by status or worker."""
    if wants_csv():
        page = payouts.manager_payouts(status=args["status"], user_id=args["user_id"], limit=None)
        rows = []
        for item in schemas.ManagerPayoutSchema(many=True).dump(page["items"]):
            rows.append({**item, "amount": item["amount"]["amount"], "currency": item["amount"]["currency"],
                         "reversed_amount": item["reversed_amount"]["amount"]})
        return csv_response(rows, CSV_COLUMNS, "payouts.csv")
    return payouts.manager_payouts(status=args["status"], user_id=args["user_id"], cursor=args["cursor"],
                                   limit=args["limit"])


@blp.route("/workers/<int:worker_id>/bonuses", methods=["POST"])
@auth_required(*STAFF)
@idempotent
@blp.arguments(schemas.BonusRequestSchema)
@blp.response(201, schemas.BonusSchema)
@blp.problem(404, "No such worker")
def grant_bonus(body, worker_id):
    """Add a bonus to a worker's available balance; the worker sees the reason."""
    return payouts.grant_bonus(worker_id, body["amount"], body["reason"], actor_id=current_user().id)
