"""The worker's endpoints: devices, the in-app feed, preferences."""

from __future__ import annotations

import sqlalchemy as sa

from backend.extensions import db
from backend.notifications import services
from backend.notifications.models import Device, NotificationPreference
from tests.notifications.helpers import deliveries, feed_rows, notify

TOKEN = "dGVzdC10b2tlbg:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"


# ---------------------------------------------------------------- devices
def test_register_a_device_then_again_is_one_device(client, auth):
    worker = auth.register()
    first = client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"},
                        headers=worker.headers)
    assert first.status_code == 201
    assert first.get_json()["token"] == TOKEN and first.get_json()["platform"] == "android"
    again = client.post("/api/v1/me/devices", json={"token": f"  {TOKEN} ", "platform": "ios"},
                        headers=worker.headers)
    assert again.status_code == 200 and again.get_json()["platform"] == "ios"
    assert again.get_json()["last_seen_at"] >= first.get_json()["last_seen_at"]
    listed = client.get("/api/v1/me/devices", headers=worker.headers).get_json()["items"]
    assert [(d["token"], d["platform"]) for d in listed] == [(TOKEN, "ios")]


def test_a_token_registered_by_another_user_moves_to_them(app, client, auth):
    first, second = auth.register(locale="en"), auth.register()
    client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"}, headers=first.headers)
    client.post("/api/v1/me/devices", json={"token": "first-other-phone", "platform": "web"},
                headers=first.headers)
    notify(app, first.id, "welcome")  # queued for both of first's devices
    moved = client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"},
                        headers=second.headers)
    assert moved.status_code == 201
    assert [d["token"] for d in client.get("/api/v1/me/devices", headers=second.headers).get_json()["items"]] \
        == [TOKEN]
    assert [d["token"] for d in client.get("/api/v1/me/devices", headers=first.headers).get_json()["items"]] \
        == ["first-other-phone"]
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Device)).scalar() == 2
    # what was queued for first on the moved phone is never shown to second
    statuses = sorted((d.status, d.last_error or "") for d in deliveries(app, first.id))
    assert ("cancelled", "device moved to another account") in statuses
    # and first is told, on the phone they still have, whatever the hour
    notice = feed_rows(app, first.id)[-1]
    assert notice.kind == "security.device_moved" and notice.category == "security"
    assert notice.body["en"].startswith("Push notifications for this account were turned off on an Android")


def test_unregister_a_device(client, auth):
    worker, other = auth.register(), auth.register()
    client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"}, headers=worker.headers)
    assert client.delete(f"/api/v1/me/devices/{TOKEN}", headers=other.headers).status_code == 404
    assert client.delete(f"/api/v1/me/devices/{TOKEN}", headers=worker.headers).status_code == 204
    assert client.get("/api/v1/me/devices", headers=worker.headers).get_json()["items"] == []
    missing = client.delete(f"/api/v1/me/devices/{TOKEN}", headers=worker.headers)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")


def test_unregistering_cancels_what_was_queued_for_the_device(app, client, auth):
    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"}, headers=worker.headers)
    notify(app, worker.id, "welcome")
    client.delete(f"/api/v1/me/devices/{TOKEN}", headers=worker.headers)
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "cancelled" and delivery.device_id is None


def test_device_input_is_validated(client, auth):
    worker = auth.register()
    for body, field in [({"token": TOKEN, "platform": "windows"}, "platform"),
                        ({"token": "has space", "platform": "ios"}, "token"),
                        ({"token": "", "platform": "ios"}, "token"),
                        ({"token": "x" * 1025, "platform": "ios"}, "token"),
                        ({"platform": "ios"}, "token")]:
        response = client.post("/api/v1/me/devices", json=body, headers=worker.headers)
        assert response.status_code == 422 and field in response.get_json()["errors"], body
    assert client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "ios"}).status_code == 401


def test_a_worker_keeps_at_most_ten_devices(app, client, auth):
    worker = auth.register()
    for n in range(services.MAX_DEVICES_PER_USER + 2):
        client.post("/api/v1/me/devices", json={"token": f"phone-{n}", "platform": "android"},
                    headers=worker.headers)
    tokens = {d["token"] for d in client.get("/api/v1/me/devices", headers=worker.headers).get_json()["items"]}
    assert tokens == {f"phone-{n}" for n in range(2, services.MAX_DEVICES_PER_USER + 2)}


# ---------------------------------------------------------------- feed
def test_the_feed_is_newest_first_in_the_workers_language_and_paginated(app, client, auth):
    worker = auth.register(locale="en")
    ids = [notify(app, worker.id, "welcome", dedupe_key=f"w{n}") for n in range(5)]
    page = client.get("/api/v1/me/notifications?limit=2", headers=worker.headers).get_json()
    assert [item["id"] for item in page["items"]] == ids[:-3:-1]
    assert page["unread_count"] == 5
    item = page["items"][0]
    assert item == {"id": ids[-1], "category": "training", "kind": "welcome",
                    "title": "Welcome to LabelPath",
                    "body": "Finish a course and pass its exam to unlock paid work.",
                    "data": {}, "read": False, "created_at": item["created_at"]}
    assert item["created_at"].endswith("Z")
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = client.get(f"/api/v1/me/notifications?limit=2&cursor={page['next_cursor']}",
                          headers=worker.headers).get_json()
        seen += [i["id"] for i in page["items"]]
    assert seen == ids[::-1]
    korean = client.get("/api/v1/me/notifications", headers=auth.register().headers).get_json()
    assert korean["items"] == [] and korean["next_cursor"] is None


def test_read_and_unread(app, client, auth):
    worker, other = auth.register(), auth.register()
    first, second = notify(app, worker.id, "welcome", dedupe_key="a"), notify(app, worker.id, "welcome")
    read = client.post(f"/api/v1/me/notifications/{first}/read", headers=worker.headers)
    assert read.status_code == 200 and read.get_json()["read"] is True
    again = client.post(f"/api/v1/me/notifications/{first}/read", headers=worker.headers)
    assert again.status_code == 200 and again.get_json()["read"] is True
    unread = client.get("/api/v1/me/notifications?unread=true", headers=worker.headers).get_json()
    assert [i["id"] for i in unread["items"]] == [second] and unread["unread_count"] == 1
    assert client.post(f"/api/v1/me/notifications/{first}/read", headers=other.headers).status_code == 404
    assert client.post("/api/v1/me/notifications/999999/read", headers=worker.headers).status_code == 404
    marked = client.post("/api/v1/me/notifications/read-all", headers=worker.headers).get_json()
    assert marked == {"updated": 1}
    assert client.get("/api/v1/me/notifications", headers=worker.headers).get_json()["unread_count"] == 0


def test_a_bad_cursor_is_a_422(client, auth):
    worker = auth.register()
    response = client.get("/api/v1/me/notifications?cursor=@@@", headers=worker.headers)
    assert response.status_code == 422 and "cursor" in response.get_json()["errors"]


# ---------------------------------------------------------------- preferences
def test_preferences_default_to_everything_on_and_no_quiet_hours(client, auth):
    worker = auth.register(timezone="Europe/Berlin")
    prefs = client.get("/api/v1/me/notification-preferences", headers=worker.headers).get_json()
    assert prefs == {"categories": {name: True for name in services.CATEGORIES}, "quiet_hours": None,
                     "timezone": "Europe/Berlin"}


def test_put_preferences(app, client, auth):
    worker = auth.register()
    response = client.put("/api/v1/me/notification-preferences", headers=worker.headers,
                          json={"categories": {"tasks": False}, "quiet_hours": {"start": "22:00", "end": "07:00"}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["categories"]["tasks"] is False and body["categories"]["payouts"] is True
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    # a later PUT of one category keeps the others and the quiet hours
    body = client.put("/api/v1/me/notification-preferences", headers=worker.headers,
                      json={"categories": {"payouts": False}}).get_json()
    assert (body["categories"]["tasks"], body["categories"]["payouts"]) == (False, False)
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    body = client.put("/api/v1/me/notification-preferences", headers=worker.headers,
                      json={"quiet_hours": None, "categories": {"tasks": True}}).get_json()
    assert body["quiet_hours"] is None and body["categories"]["tasks"] is True
    with app.app_context():
        assert db.session.get(NotificationPreference, worker.id).quiet_start is None


def test_preferences_are_validated(client, auth):
    worker = auth.register()
    for body, field in [({"categories": {"spam": True}}, "categories"),
                        ({"categories": {"tasks": "maybe"}}, "categories.tasks"),
                        ({"quiet_hours": {"start": "24:00", "end": "07:00"}}, "quiet_hours.start"),
                        ({"quiet_hours": {"start": "7:00", "end": "07:00"}}, "quiet_hours.start"),
                        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end"),
                        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours.end")]:
        response = client.put("/api/v1/me/notification-preferences", json=body, headers=worker.headers)
        assert response.status_code == 422, body
        errors = response.get_json()["errors"]
        assert any(name.startswith(field) for name in errors), (body, errors)


def test_a_switched_off_category_still_reaches_the_feed_but_not_the_phone(app, client, auth):
    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"}, headers=worker.headers)
    client.put("/api/v1/me/notification-preferences", headers=worker.headers,
               json={"categories": {"training": False}})
    notify(app, worker.id, "welcome")
    assert deliveries(app, worker.id) == []
    assert [n.kind for n in feed_rows(app, worker.id)] == ["welcome"]


def test_switching_a_category_off_cancels_what_is_still_queued(app, client, auth):
    from tests.notifications.helpers import drain

    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": TOKEN, "platform": "android"}, headers=worker.headers)
    notify(app, worker.id, "welcome")
    client.put("/api/v1/me/notification-preferences", headers=worker.headers,
               json={"categories": {"training": False}})
    assert drain(app) == {"cancelled": 1}
    assert deliveries(app, worker.id)[0].last_error == "category training switched off"


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/me/devices", "/api/v1/me/devices/{token}", "/api/v1/me/notifications",
                 "/api/v1/me/notifications/{notification_id}/read", "/api/v1/me/notifications/read-all",
                 "/api/v1/me/notification-preferences"):
        assert path in paths, path
    assert set(paths["/api/v1/me/devices"]["post"]["responses"]) >= {"200", "201", "401", "422"}
