from flask import current_app, jsonify, request

from backend import privacy
from backend.accounts import schemas
from backend.accounts import services as accounts
from backend.api import Blueprint
from backend.extensions import limiter
from backend.web import auth_required, current_account, current_user

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts and tokens")


def _login_email_key() -> str:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return f"login:{accounts.normalize_email(email) if isinstance(email, str) else '-'}"


@blp.route("/auth/register", methods=["POST"])
@blp.arguments(schemas.RegisterSchema)
@blp.response(201, schemas.SessionSchema)
@blp.problem(409, "The email is taken")
def register(body):
    user, tokens = accounts.register(**body)
    return {"user": user, **tokens}


@blp.route("/auth/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_login_email_key)
@blp.arguments(schemas.LoginSchema)
@blp.response(200, schemas.SessionSchema)
@blp.problem(401, "Wrong email or password")
@blp.problem(429, "Too many attempts; see Retry-After")
def login(body):
    user, tokens = accounts.login(body["email"], body["password"])
    return {"user": user, **tokens}


@blp.route("/auth/refresh", methods=["POST"])
@blp.arguments(schemas.RefreshSchema)
@blp.response(200, schemas.TokensSchema)
@blp.problem(401, "Unknown, expired, revoked or reused refresh token")
def refresh(body):
    return accounts.refresh(body["refresh_token"])


@blp.route("/auth/logout", methods=["POST"])
@blp.arguments(schemas.RefreshSchema)
@blp.response(204)
def logout(body):
    accounts.logout(body["refresh_token"])


@blp.route("/me", methods=["GET"])
@auth_required()
@blp.response(200, schemas.MeSchema)
def me():
    return accounts.profile(current_account())


@blp.route("/me", methods=["PATCH"])
@auth_required()
@blp.arguments(schemas.MeUpdateSchema)
@blp.response(200, schemas.MeSchema)
def update_me(body):
    return accounts.profile(accounts.update_profile(current_account(), body))


@blp.route("/me/export", methods=["GET"])
@auth_required()
@blp.response(200, content_type="application/json")
def export_me():
    """Everything LabelPath holds about you, as one JSON document (PIPA / GDPR access right)."""
    return jsonify(privacy.export_user_data(current_user().id))


@blp.route("/me", methods=["DELETE"])
@auth_required()
@blp.arguments(schemas.DeleteAccountSchema)
@blp.response(204)
@blp.problem(401, "The password does not match")
def delete_me(body):
    """Delete the account: personal data is anonymised; earnings records and submitted work stay."""
    privacy.delete_account(current_account(), body["password"])
