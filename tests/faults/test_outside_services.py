"""Stripe and FCM down, hanging or answering 500: no request of a worker waits on them (nothing
they do reaches a stand-in while the request runs: the effects go through the outbox and the
scheduler), nothing is lost, and everything completes exactly once when they are back."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.notifications.models import Notification, PushDelivery
from backend.payouts.models import Payout
from tests.faults.conftest import configure
from tests.faults.people import API, add_phone, earn, onboard, run

EXAM = {"title": "Faults", "skill": "ocr", "grants_level": 1, "time_limit_s": 600, "pass_percent": 50,
        "attempts_allowed": 3, "retake_cooldown_s": 60, "validity_days": 365,
        "questions": [{"key": "q", "kind": "true_false", "prompt": "Yes?", "answer": {"value": True},
                       "explanation": "Yes."}]}

FCM_FAILURES = ["refuse", "drop", "internal", "hang"]
STRIPE_FAILURES = ["drop", "server_error", "hang"]


def _break_fcm(fcm, how: str) -> None:
    if how in ("refuse", "drop"):
        fcm.down(how)
    else:
        fcm.fail_next(how, times=1000, endpoint="any")


def _mend_fcm(fcm) -> None:
    fcm.up()
    fcm._failures.clear()  # the stand-in's queue of injected failures


@pytest.fixture
def ready(app, client, auth, standins, service_account_file):
    """A worker with a phone, money, an enabled Stripe account and an exam to pass."""
    fcm, stripe_api = standins
    configure(app, fcm, service_account_file, stripe_api)
    worker = auth.register(locale="en")
    token = add_phone(client, worker)
    earn(app, worker.id, 5000)
    onboard(client, worker, stripe_api)
    manager = auth.create("manager")
    exam = client.post(f"{API}/manage/exams", json={**EXAM, "key": f"faults-{secrets.token_hex(3)}"},
                       headers=manager.headers)
    assert exam.status_code == 201, exam.get_json()
    return worker, token, exam.get_json()["id"]


def _worker_requests(client, worker, exam_id):
    """What a phone does that causes a payout and pushes, with the statuses it must get."""
    attempt = client.post(f"{API}/exams/{exam_id}/attempts", headers=worker.headers).get_json()
    question = attempt["questions"][0]["id"]
    return [
        ("POST", f"{API}/me/payouts", {"json": {"amount": 1000},
                                       "headers": {"Idempotency-Key": secrets.token_hex(8)}}, 201),
        ("POST", f"{API}/attempts/{attempt['id']}/submission",  # passes: certificate → push
         {"json": {"answers": {str(question): {"value": True}}}}, 200),
        ("POST", f"{API}/me/devices", {"json": {"token": f"second-phone-{secrets.token_hex(4)}",
                                                "platform": "ios"}}, 201),
        ("GET", f"{API}/me/payouts", {}, 200),
        ("GET", f"{API}/me/earnings", {}, 200),
        ("GET", f"{API}/me/payout-account", {}, 200),
        ("GET", f"{API}/me/notifications", {}, 200),
        ("POST", f"{API}/me/notifications/read-all", {}, 200),
    ]


def _pending_pushes(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(PushDelivery).where(
            PushDelivery.status.in_(("pending", "sending"))))


@pytest.mark.parametrize("fcm_failure", FCM_FAILURES)
@pytest.mark.parametrize("stripe_failure", STRIPE_FAILURES)
def test_requests_never_wait_nothing_is_lost_and_all_completes_once_they_are_back(app, client, ready, standins,
                                                                          fcm_failure, stripe_failure):
    fcm, stripe_api = standins
    worker, token, exam_id = ready
    _break_fcm(fcm, fcm_failure)
    stripe_api.fail_next(stripe_failure, times=1000)
    for method, path, kwargs, status in _worker_requests(client, worker, exam_id):
        fcm_before, stripe_before = len(fcm.requests), len(stripe_api.requests)
        headers = {**worker.headers, **kwargs.pop("headers", {})}
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == status, (path, response.get_json())
        # The request answered without a single call to either service: nothing waited on them.
        assert len(fcm.requests) == fcm_before, f"{method} {path} called FCM during the request"
        assert len(stripe_api.requests) == stripe_before, f"{method} {path} called Stripe during the request"
    with app.app_context():
        payout_id = db.session.scalar(sa.select(Payout.id).where(Payout.user_id == worker.id))
        feed = db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.user_id == worker.id))
    # The scheduler runs while both are broken: bounded timeouts, nothing sent, nothing dropped.
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=True):
        run(app, "notifications.drain_outbox")
        run(app, "payouts.send_queued")
    assert fcm.messages_to(token) == [] and stripe_api.transfers == []
    assert _pending_pushes(app) >= 1

    _mend_fcm(fcm)
    stripe_api._failures.clear()
    # Back: later runs (after the backoff and the send lease) finish everything, once.
    for hours in (1, 2, 3):
        with time_machine.travel(start + dt.timedelta(hours=hours), tick=True):
            for job in ("notifications.drain_outbox", "payouts.send_queued", "payouts.reconcile"):
                run(app, job)
    assert _pending_pushes(app) == 0
    assert len(fcm.messages_to(token)) == 1, fcm.messages_to(token)
    transfers = [t for t in stripe_api.transfers if t["metadata"].get("payout_id") == str(payout_id)]
    assert len(transfers) == 1 and transfers[0]["amount"] == 1000, stripe_api.transfers
    payouts = client.get(f"{API}/me/payouts", headers=worker.headers).get_json()["items"]
    assert [p["status"] for p in payouts] == ["transferred"], payouts
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.user_id == worker.id)) == feed  # no notification lost or doubled
