"""A worker exports their data and deletes their account; personal fields go, records stay."""

import sqlalchemy as sa

from backend.accounts.models import User
from backend.extensions import db
from backend.skills import services as skills


def test_export_contains_account_and_levels(app, client, auth):
    worker = auth.register(email="export@example.com", display_name="박지민")
    with app.app_context():
        skills.set_level(worker.id, "bbox", 1, "certificate X", source="certificate")
        db.session.commit()
    data = client.get("/api/v1/me/export", headers=worker.headers).get_json()
    assert data["account"]["email"] == "export@example.com"
    assert data["account"]["display_name"] == "박지민"
    assert {"skill": "bbox", "from": 0, "to": 1, "reason": "certificate X", "source": "certificate"} \
        .items() <= data["skills"]["history"][0].items()
    assert "password" not in str(data) and "argon2" not in str(data)
    assert data["exported_at"].endswith("Z") and data["account"]["created_at"].endswith("Z")


def test_delete_requires_password_then_anonymises(app, client, auth):
    worker = auth.register(email="gone@example.com", display_name="지울 사람")
    wrong = client.delete("/api/v1/me", json={"password": "not it at all"}, headers=worker.headers)
    assert wrong.status_code == 401
    assert client.delete("/api/v1/me", json={"password": worker.password}, headers=worker.headers).status_code == 204
    with app.app_context():
        user = db.session.get(User, worker.id)
        assert user is not None and user.deleted_at is not None
        assert user.email == f"deleted-{worker.id}@deleted.invalid" and user.display_name != "지울 사람"
        assert db.session.execute(sa.select(User).where(User.email == "gone@example.com")).first() is None
    assert client.get("/api/v1/me", headers=worker.headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": worker.refresh_token}).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": "gone@example.com", "password": worker.password})
    assert login.status_code == 401
    # The email is free again for a new account.
    assert client.post("/api/v1/auth/register", json={"email": "gone@example.com", "password": "new pass 123",
                                                      "display_name": "new"}).status_code == 201
