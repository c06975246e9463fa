"""The scheduler is killed (SIGKILL) in the middle of a job, at each step, and started again: no
notification, transfer, grading or level change is lost or done twice.

Each job runs in a process of its own (tests/faults/crash_runner.py) against the same database
(real commits: `committing_app`) and the same stand-ins; the process dies at the injected point;
then the job runs again here, later (past the claim leases), and the database and the stand-ins'
request logs are checked.

Push is at least once by design (docs/API.md, Notifications): FCM has no idempotency key, so a
crash after FCM answered and before the answer was recorded may send that push again. Only that
point allows a second copy; every other point must deliver exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.notifications import services as notifications
from backend.notifications.models import Notification, PushDelivery
from backend.payouts.models import Payout
from tests.conftest import AuthActions
from tests.faults.conftest import configure, outside_config
from tests.faults.people import API, add_phone, earn, onboard, request_payout, run

ROOT = Path(__file__).resolve().parents[2]


def crash(app, job_id: str, point: str, n: int, extra: dict) -> None:
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], **extra}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.faults.crash_runner", json.dumps(config), job_id, point,
                           str(n)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, (f"{job_id} was not killed at {point} {n} (exit {done.returncode})\n"
                                   + done.stderr[-3000:])


def later(minutes: float):
    return time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes), tick=True)


@pytest.fixture
def people(committing_app, standins, service_account_file):
    fcm, stripe_api = standins
    configure(committing_app, fcm, service_account_file, stripe_api)
    client = committing_app.test_client()
    return committing_app, client, AuthActions(committing_app, client), outside_config(fcm, service_account_file,
                                                                                         stripe_api)


# ------------------------------------------------------------------ notifications.drain_outbox

@pytest.mark.parametrize(("point", "n"), [("flush", 1), ("commit", 1), ("commit", 2), ("answer", 1)])
def test_push_outbox_survives_a_killed_drain(people, standins, point, n):
    app, client, auth, extra = people
    fcm, _ = standins
    workers = [auth.register(locale="en") for _ in range(3)]
    tokens = [add_phone(client, worker) for worker in workers]
    with app.app_context():
        for worker in workers:
            notifications.notify(worker.id, "welcome", dedupe_key=f"crash-{secrets.token_hex(4)}")
        db.session.commit()
    crash(app, "notifications.drain_outbox", point, n, extra)
    for minutes in (16, 120, 240):  # past the claim lease (15 min) and any backoff
        with later(minutes):
            run(app, "notifications.drain_outbox")
    with app.app_context():
        statuses = db.session.scalars(sa.select(PushDelivery.status)).all()
        feed = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    assert statuses == ["sent"] * 3 and feed == 3
    copies = [len(fcm.messages_to(token)) for token in tokens]
    if point == "answer":  # FCM answered before the crash: that push may go twice, never more
        assert all(1 <= c <= 2 for c in copies), copies
    else:
        assert copies == [1, 1, 1], copies


# ------------------------------------------------------------------ payouts.send_queued

@pytest.mark.parametrize(("point", "n"), [("commit", 1), ("commit", 2), ("answer", 1), ("commit", 3),
                                          ("flush", 2)])
def test_a_killed_payout_run_transfers_each_payout_exactly_once(people, standins, point, n):
    app, client, auth, extra = people
    _, stripe_api = standins
    workers = [auth.register() for _ in range(2)]
    for worker in workers:
        earn(app, worker.id, 5000)
        onboard(client, worker, stripe_api)
        request_payout(client, worker, 1000)
    crash(app, "payouts.send_queued", point, n, extra)
    for minutes in (11, 60, 120):  # past the send lease (10 min): reconciliation looks it up first
        with later(minutes):
            run(app, "payouts.send_queued")
            run(app, "payouts.reconcile")
    with app.app_context():
        payouts = db.session.execute(sa.select(Payout.id, Payout.status)).all()
    assert sorted(status for _, status in payouts) == ["transferred", "transferred"], payouts
    for payout_id, _ in payouts:
        made = [t for t in stripe_api.transfers if t["metadata"].get("payout_id") == str(payout_id)]
        assert len(made) == 1 and made[0]["amount"] == 1000, stripe_api.transfers
    for worker in workers:
        fresh = auth.login(worker.email, worker.password)
        earnings = client.get(f"{API}/me/earnings", headers=fresh.headers).get_json()
        assert earnings["available"]["amount"] == 4000 and earnings["processing"]["amount"] == 0, earnings


# ------------------------------------------------------------------ quizzes: grading and lapses

EXAM = {"title": "Crash", "skill": "ocr", "grants_level": 1, "time_limit_s": 600, "pass_percent": 50,
        "attempts_allowed": 3, "retake_cooldown_s": 60, "validity_days": 1,
        "questions": [{"key": "q", "kind": "true_false", "prompt": "Yes?", "answer": {"value": True},
                       "explanation": "Yes."}]}


def _exam(client, auth) -> int:
    manager = auth.create("manager")
    response = client.post(f"{API}/manage/exams", json={**EXAM, "key": f"crash-{secrets.token_hex(3)}"},
                           headers=manager.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _kinds(app, user_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user_id)))


def _level(client, auth, worker, skill: str = "ocr") -> int:
    fresh = auth.login(worker.email, worker.password)
    items = client.get(f"{API}/me/skills", headers=fresh.headers).get_json()["items"]
    return next(item["level"] for item in items if item["skill"] == skill)


@pytest.mark.parametrize(("point", "n"), [("flush", 1), ("flush", 3), ("commit", 1)])
def test_a_killed_grading_run_grades_each_attempt_once(people, point, n):
    app, client, auth, extra = people
    exam_id = _exam(client, auth)
    attempts = []
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), tick=True):
        workers = [auth.register(locale="en") for _ in range(2)]
        for worker in workers:
            attempt = client.post(f"{API}/exams/{exam_id}/attempts", headers=worker.headers).get_json()
            question = attempt["questions"][0]["id"]
            saved = client.put(f"{API}/attempts/{attempt['id']}/answers/{question}", json={"answer": {"value": True}},
                               headers=worker.headers)
            assert saved.status_code == 200, saved.get_json()
            attempts.append(attempt["id"])
    crash(app, "quizzes.close_expired_attempts", point, n, extra)
    run(app, "quizzes.close_expired_attempts")
    run(app, "quizzes.close_expired_attempts")
    for worker, attempt_id in zip(workers, attempts, strict=True):
        fresh = auth.login(worker.email, worker.password)
        graded = client.get(f"{API}/attempts/{attempt_id}", headers=fresh.headers).get_json()
        assert graded["result"]["passed"] is True and graded["closed_reason"] == "deadline", graded
        certificates = client.get(f"{API}/me/certificates", headers=fresh.headers).get_json()["items"]
        assert len(certificates) == 1, certificates
        assert _level(client, auth, worker) == 1
        assert _kinds(app, worker.id).count("certification.passed") == 1, _kinds(app, worker.id)


@pytest.mark.parametrize(("point", "n"), [("flush", 1), ("flush", 2), ("commit", 1)])
def test_a_killed_expiry_run_lapses_each_certificate_once(people, point, n):
    app, client, auth, extra = people
    exam_id = _exam(client, auth)
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=3), tick=True):
        workers = [auth.register(locale="en") for _ in range(2)]
        for worker in workers:
            attempt = client.post(f"{API}/exams/{exam_id}/attempts", headers=worker.headers).get_json()
            question = attempt["questions"][0]["id"]
            result = client.post(f"{API}/attempts/{attempt['id']}/submission",
                                 json={"answers": {str(question): {"value": True}}}, headers=worker.headers)
            assert result.get_json()["passed"] is True
    assert [_level(client, auth, worker) for worker in workers] == [1, 1]
    crash(app, "quizzes.expire_certificates", point, n, extra)
    run(app, "quizzes.expire_certificates")
    run(app, "quizzes.expire_certificates")
    for worker in workers:
        fresh = auth.login(worker.email, worker.password)
        certificates = client.get(f"{API}/me/certificates", headers=fresh.headers).get_json()["items"]
        assert [c["status"] for c in certificates] == ["expired"], certificates
        assert _level(client, auth, worker) == 0
        kinds = _kinds(app, worker.id)
        assert kinds.count("levels.suspended") == 1, kinds
