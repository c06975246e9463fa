"""Accounts through the HTTP API: register, login, refresh rotation and reuse, logout, /me."""


import sqlalchemy as sa
import time_machine

from backend.accounts.models import RefreshToken, User
from backend.extensions import db
from tests.support.concurrency import run_together

PROBLEM = "application/problem+json"


def test_register_login_and_me(client, auth):
    account = auth.register(email="  New.Worker@Example.COM ", display_name="김하늘", locale="ko")
    me = client.get("/api/v1/me", headers=account.headers)
    assert me.status_code == 200
    body = me.get_json()
    assert body["email"] == "new.worker@example.com"
    assert body["role"] == "worker"
    assert body["display_name"] == "김하늘"
    assert {s["skill"] for s in body["skills"]} == {"bbox", "ocr", "audio_transcription", "llm_eval"}
    assert all(s["level"] == 0 and s["certified_until"] is None for s in body["skills"])

    login = client.post("/api/v1/auth/login", json={"email": "NEW.worker@example.com",
                                                    "password": account.password})
    assert login.status_code == 200
    assert login.get_json()["expires_in"] == 900
    assert "password" not in login.get_data(as_text=True)


def test_password_is_stored_as_argon2_hash(app, auth):
    account = auth.register(password="a long passphrase")
    with app.app_context():
        stored = db.session.get(User, account.id).password_hash
    assert stored.startswith("$argon2id$")
    assert "a long passphrase" not in stored


def test_wrong_password_is_401_problem(client, auth):
    account = auth.register()
    response = client.post("/api/v1/auth/login", json={"email": account.email, "password": "wrong password"})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.get_json()["type"] == "urn:labelpath:problem:bad-credentials"


def test_taken_email_is_409(client, auth):
    auth.register(email="same@example.com")
    response = client.post("/api/v1/auth/register", json={
        "email": "SAME@example.com", "password": "another pass 1", "display_name": "x"})
    assert response.status_code == 409
    assert response.get_json()["type"] == "urn:labelpath:problem:email-taken"


def test_refresh_rotates_and_old_token_stops_working(client, auth):
    account = auth.register()
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.get_json()["refresh_token"]
    assert rotated != account.refresh_token
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {first.get_json()['access_token']}"}
                      ).status_code == 200
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    assert second.status_code == 200


def test_refresh_token_reuse_revokes_the_family(app, client, auth):
    account = auth.register()
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
                          ).get_json()["refresh_token"]
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reuse.status_code == 401
    assert reuse.get_json()["type"] == "urn:labelpath:problem:refresh-reused"
    # The legitimate holder's newer token is revoked too: the session is over.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": rotated}).status_code == 401
    with app.app_context():
        live = db.session.execute(sa.select(sa.func.count()).select_from(RefreshToken).where(
            RefreshToken.user_id == account.id, RefreshToken.revoked_at.is_(None))).scalar()
    assert live == 0


def test_logout_revokes_refresh_token(client, auth):
    account = auth.register()
    assert client.post("/api/v1/auth/logout", json={"refresh_token": account.refresh_token}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}).status_code == 401


def test_expired_access_token_is_401(client, auth):
    account = auth.register()
    import datetime as dt

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    with time_machine.travel(later, tick=False):
        response = client.get("/api/v1/me", headers=account.headers)
    assert response.status_code == 401
    assert response.get_json()["type"] == "urn:labelpath:problem:token-expired"


def test_missing_and_garbage_tokens_are_401(client):
    assert client.get("/api/v1/me").status_code == 401
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.headers.get("Content-Type") == PROBLEM


def test_patch_me_changes_locale_and_validates_timezone(client, auth):
    account = auth.register()
    ok = client.patch("/api/v1/me", json={"locale": "en", "timezone": "Europe/Berlin"}, headers=account.headers)
    assert ok.status_code == 200
    assert (ok.get_json()["locale"], ok.get_json()["timezone"]) == ("en", "Europe/Berlin")
    bad = client.patch("/api/v1/me", json={"timezone": "Mars/Olympus"}, headers=account.headers)
    assert bad.status_code == 422
    assert "timezone" in bad.get_json()["errors"]


def test_role_check_returns_403_for_worker(app, client, auth):
    """The role helper: a worker on a staff-only route is refused, a manager is let in."""
    from flask_smorest import Blueprint

    from backend.web import STAFF, auth_required

    blp = Blueprint("probe", __name__)

    @blp.route("/probe-staff")
    @auth_required(*STAFF)
    def probe():
        return {"ok": True}

    app.register_blueprint(blp)
    account = auth.register()
    manager = auth.create("manager")
    assert client.get("/probe-staff", headers=account.headers).status_code == 403
    assert client.get("/probe-staff", headers=manager.headers).status_code == 200


def test_login_is_throttled_with_retry_after(client, auth):
    account = auth.register()
    statuses = [client.post("/api/v1/auth/login", json={"email": account.email, "password": "nope nope"}
                            ).status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    limited = client.post("/api/v1/auth/login", json={"email": account.email, "password": account.password})
    assert limited.status_code == 429
    assert limited.mimetype == PROBLEM
    assert int(limited.headers["Retry-After"]) > 0


def test_concurrent_registrations_of_one_email(committing_app):
    """Two phones register the same email at once: one 201, one 409, one user row."""
    clients = [committing_app.test_client() for _ in range(2)]
    statuses = run_together(2, lambda i: clients[i].post("/api/v1/auth/register", json={
        "email": "race@example.com", "password": "correct horse 1", "display_name": "r"}).status_code)
    assert sorted(statuses) == [201, 409]
    with committing_app.app_context():
        count = db.session.execute(sa.select(sa.func.count()).select_from(User).where(
            User.email == "race@example.com")).scalar()
    assert count == 1


def test_cli_creates_staff_account(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "Boss@Example.com", "--password",
                                 "manager pass 1", "--role", "manager"])
    assert result.exit_code == 0, result.output
    login = client.post("/api/v1/auth/login", json={"email": "boss@example.com", "password": "manager pass 1"})
    assert login.get_json()["user"]["role"] == "manager"
    again = runner.invoke(args=["users", "create", "--email", "boss@example.com", "--password",
                                "manager pass 1", "--role", "manager"])
    assert again.exit_code != 0
    assert "already exists" in again.output
