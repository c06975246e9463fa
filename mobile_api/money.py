"""Worker money endpoints: earnings, the Stripe payout account, payouts, and Stripe's webhook."""

from flask import request

from backend.api import Blueprint
from backend.i18n import localize
from backend.payouts import schemas
from backend.payouts import services as payouts
from backend.schemas import PageArgs
from backend.web import auth_required, current_user, idempotent

blp = Blueprint("money", __name__, url_prefix="/api/v1", description="money (worker)")


@blp.route("/me/earnings", methods=["GET"])
@auth_required()
@blp.arguments(PageArgs, location="query")
@blp.response(200, schemas.EarningsSchema)
def my_earnings(args):
    """Pending, available, processing and paid-out money, and the ledger entries saying why."""
    return payouts.earnings(current_user().id, cursor=args["cursor"], limit=args["limit"])


@blp.route("/me/payout-account", methods=["GET"])
@auth_required()
@blp.response(200, schemas.PayoutAccountSchema)
def my_payout_account():
    """The Stripe Connect account's state as Stripe last reported it (no call to Stripe)."""
    return payouts.payout_account(current_user().id)


@blp.route("/me/payout-account", methods=["POST"])
@auth_required()
@blp.response(200, schemas.PayoutAccountSchema)
@blp.problem(503, "Stripe is unreachable, or payouts are not configured on this server")
def start_payout_account():
    """Create the Stripe Express account (once) and return a fresh onboarding link."""
    return payouts.start_onboarding(current_user().id)


@blp.route("/me/payouts", methods=["POST"])
@auth_required()
@idempotent
@blp.arguments(schemas.PayoutRequestSchema)
@blp.response(201, schemas.PayoutSchema)
@blp.problem(409, "The available balance is too low, or the payout account is not ready")
@blp.problem(422, "Below the minimum payout, or not a payable amount")
def request_payout(body):
    """Book a payout: the amount leaves the available balance now; a job sends it to Stripe."""
    return payouts.create_payout(current_user().id, body["amount"])


@blp.route("/me/payouts", methods=["GET"])
@auth_required()
@blp.arguments(PageArgs, location="query")
@blp.response(200, schemas.PayoutPageSchema)
def my_payouts(args):
    return payouts.my_payouts(current_user().id, cursor=args["cursor"], limit=args["limit"])


_RETURN_TEXT = {"ko": "Stripe 등록을 마쳤습니다. LabelPath 앱으로 돌아가 주세요.",
                "en": "Stripe onboarding is done; go back to the LabelPath app."}
_REFRESH_TEXT = {"ko": "링크가 만료되었습니다. 앱에서 출금 계정 설정을 다시 열어 주세요.",
                 "en": "The link expired; open the payout account setup in the app again."}


@blp.route("/payout-account/return", methods=["GET"])
@blp.response(200, schemas.NoticeSchema)
def onboarding_return():
    """Where Stripe sends the worker after onboarding (default STRIPE_CONNECT_RETURN_URL)."""
    return {"message": localize(_RETURN_TEXT)}


@blp.route("/payout-account/refresh", methods=["GET"])
@blp.response(200, schemas.NoticeSchema)
def onboarding_refresh():
    """Where Stripe sends the worker when a link expired (default STRIPE_CONNECT_REFRESH_URL)."""
    return {"message": localize(_REFRESH_TEXT)}


@blp.route("/webhooks/stripe", methods=["POST"])
@blp.doc(requestBody={"required": True, "description": "A Stripe event, signed in the Stripe-Signature header",
                      "content": {"application/json": {"schema": {"type": "object"}}}},
         parameters=[{"in": "header", "name": "Stripe-Signature", "required": True, "schema": {"type": "string"}}])
@blp.response(200, schemas.WebhookAckSchema)
@blp.problem(400, "The signature does not verify (platform or Connect endpoint secret)")
@blp.problem(503, "No webhook secret is configured")
def stripe_webhook():
    """Stripe events (platform and Connect). A redelivered event id is a no-op."""
    return payouts.handle_stripe_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
