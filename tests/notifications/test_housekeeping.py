"""Demo seed, personal data, purging, and the jobs as the scheduler sees them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import time_machine

from backend import privacy
from backend.accounts import services as accounts
from backend.database import utcnow
from backend.demo import seed_demo
from backend.extensions import db
from backend.notifications import services
from backend.notifications.models import Device, Notification, NotificationPreference, PushDelivery
from backend.scheduler import run_job
from tests.notifications.helpers import deliveries, drain, feed_rows, notify


def test_demo_seed_puts_a_welcome_note_in_the_demo_workers_feed_once(app, client):
    with app.app_context():
        created = seed_demo()
        db.session.commit()
        seed_demo()  # idempotent
        db.session.commit()
        worker = accounts.find_by_email("worker@labelpath.local")
        rows = list(db.session.execute(sa.select(Notification).where(Notification.user_id == worker.id)).scalars())
    assert [r.kind for r in rows] == ["welcome"]
    password = next(p for email, p, _ in created if email == "worker@labelpath.local")
    token = client.post("/api/v1/auth/login", json={"email": "worker@labelpath.local", "password": password})
    headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    page = client.get("/api/v1/me/notifications", headers=headers).get_json()
    assert page["items"][0]["title"] == "LabelPath에 오신 것을 환영해요"
    assert page["items"][0]["data"] == {"screen": "courses"}


def test_personal_data_export_and_erase(app, client, auth):
    worker, other = auth.register(), auth.register()
    client.post("/api/v1/me/devices", json={"token": "tok-mine", "platform": "ios"}, headers=worker.headers)
    client.post("/api/v1/me/devices", json={"token": "tok-other", "platform": "ios"}, headers=other.headers)
    client.put("/api/v1/me/notification-preferences", json={"categories": {"tasks": False}},
               headers=worker.headers)
    notify(app, worker.id, "welcome")
    notify(app, other.id, "welcome")
    with app.app_context():
        exported = privacy.export_user_data(worker.id)["notifications"]
    assert [d["token"] for d in exported["devices"]] == ["tok-mine"]
    assert exported["preferences"]["categories"]["tasks"] is False
    assert [n["kind"] for n in exported["feed"]] == ["welcome"]
    with app.app_context():
        services.erase_personal_data(worker.id)
        db.session.commit()
        assert list(db.session.execute(sa.select(Device.token)).scalars()) == ["tok-other"]
        assert db.session.get(NotificationPreference, worker.id) is None
    assert feed_rows(app, worker.id) == [] and deliveries(app, worker.id) == []
    assert len(feed_rows(app, other.id)) == 1 and len(deliveries(app, other.id)) == 1


def test_purge_forgets_old_feed_entries_settled_pushes_and_idle_devices(app, client, auth):
    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": "tok-idle", "platform": "android"}, headers=worker.headers)
    old = notify(app, worker.id, "welcome", dedupe_key="old")
    drain(app)  # sent via the log gateway
    with time_machine.travel(utcnow() + dt.timedelta(days=100)):
        client.post("/api/v1/me/devices", json={"token": "tok-fresh", "platform": "android"},
                    headers=auth.login(worker.email, worker.password).headers)
        recent = notify(app, worker.id, "welcome", dedupe_key="recent")
    with time_machine.travel(utcnow() + dt.timedelta(days=275)), app.app_context():
        assert services.purge_old() == {"notifications": 1, "deliveries": 0, "devices": 1}
        db.session.commit()
        assert list(db.session.execute(sa.select(Device.token)).scalars()) == ["tok-fresh"]
    assert [n.id for n in feed_rows(app, worker.id)] == [recent] and old != recent
    with app.app_context():
        left = db.session.execute(sa.select(PushDelivery.status, PushDelivery.device_id.is_(None))
                                  .order_by(PushDelivery.id)).all()
    assert left == [("cancelled", True), ("pending", False)]  # the idle phone's push went with it


def test_the_jobs_run_as_the_scheduler_runs_them(app, client, auth):
    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": "tok-job", "platform": "android"}, headers=worker.headers)
    notify(app, worker.id, "welcome")
    jobs = {job.id: job for job in app.extensions["labelpath_jobs"]}
    assert {"notifications.drain_outbox", "notifications.remind_expiring_certificates",
            "notifications.announce_new_work", "notifications.purge_old"} <= set(jobs)
    assert jobs["notifications.drain_outbox"].trigger_args == {"seconds": 5}
    run_job(app, jobs["notifications.drain_outbox"])
    assert [d.status for d in deliveries(app, worker.id)] == ["sent"]
