"""Staff actions land in the audit log with actor, reason and before/after; only admins read it."""

from backend.extensions import db
from backend.skills import services as skills


def _override(app, worker_id, actor_id, level, reason):
    with app.app_context():
        skills.set_level(worker_id, "bbox", level, reason, actor_id=actor_id)
        db.session.commit()


def test_level_override_is_audited_and_admin_only(app, client, auth):
    worker = auth.register()
    manager = auth.create("manager")
    admin = auth.create("admin")
    _override(app, worker.id, manager.id, 2, "passed a supervised trial")

    assert client.get("/api/v1/manage/audit", headers=worker.headers).status_code == 403
    assert client.get("/api/v1/manage/audit", headers=manager.headers).status_code == 403
    response = client.get("/api/v1/manage/audit?action=level.override", headers=admin.headers)
    assert response.status_code == 200
    [entry] = response.get_json()["items"]
    assert entry["actor_id"] == manager.id
    assert entry["target_type"] == "user" and entry["target_id"] == str(worker.id)
    assert entry["reason"] == "passed a supervised trial"
    assert entry["before"] == {"skill": "bbox", "level": 0}
    assert entry["after"] == {"skill": "bbox", "level": 2}
    assert entry["created_at"].endswith("Z")


def test_automatic_level_changes_are_not_staff_actions(app, client, auth):
    worker = auth.register()
    admin = auth.create("admin")
    with app.app_context():
        skills.set_level(worker.id, "ocr", 1, "certificate ABC", source="certificate")
        db.session.commit()
    assert client.get("/api/v1/manage/audit", headers=admin.headers).get_json()["items"] == []


def test_audit_pages_and_csv(app, client, auth):
    worker = auth.register()
    admin = auth.create("admin")
    for level in (1, 2, 3):
        _override(app, worker.id, admin.id, level, f"step {level}")
    first = client.get("/api/v1/manage/audit?limit=2", headers=admin.headers).get_json()
    assert [e["reason"] for e in first["items"]] == ["step 3", "step 2"]
    second = client.get(f"/api/v1/manage/audit?limit=2&cursor={first['next_cursor']}",
                        headers=admin.headers).get_json()
    assert [e["reason"] for e in second["items"]] == ["step 1"] and second["next_cursor"] is None
    csv = client.get("/api/v1/manage/audit?format=csv", headers=admin.headers)
    assert csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert text.startswith("\ufeffid,created_at,actor_id,action")
    assert text.count("level.override") == 3


def test_bad_cursor_is_422(client, auth):
    admin = auth.create("admin")
    response = client.get("/api/v1/manage/audit?cursor=!!!", headers=admin.headers)
    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]
