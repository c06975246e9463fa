"""The database goes away: a clear 503 problem+json, no half-written state, and recovery on its own."""

import flask_migrate
import pytest
import sqlalchemy as sa

from backend import create_app
from backend.accounts.models import User
from backend.extensions import db
from tests.support.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def throwaway():
    server = ThrowawayPostgres()
    server.start()
    yield server
    server.destroy()


def test_outage_answers_503_and_the_app_recovers(throwaway):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": throwaway.url})
    with app.app_context():
        flask_migrate.upgrade()
    client = app.test_client()
    body = {"email": "outage@example.com", "password": "correct horse 1", "display_name": "o"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201

    throwaway.stop()
    during = client.post("/api/v1/auth/register", json={**body, "email": "second@example.com"})
    assert during.status_code == 503
    assert during.mimetype == "application/problem+json"
    assert during.headers["Retry-After"]
    assert "psycopg" not in during.get_data(as_text=True)
    assert client.get("/readyz").status_code == 503

    throwaway.start()
    assert client.get("/readyz").status_code == 200
    login = client.post("/api/v1/auth/login", json={"email": body["email"], "password": body["password"]})
    assert login.status_code == 200
    with app.app_context():
        emails = set(db.session.execute(sa.select(User.email)).scalars())
        db.engine.dispose()
    assert emails == {"outage@example.com"}  # the request that failed left nothing behind
