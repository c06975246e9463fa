"""Fixtures for earnings and payouts: the Stripe stand-in driven by the real SDK, helpers to earn
money through the public event, onboard through the stand-in and deliver signed webhooks."""

from __future__ import annotations

import itertools

import pytest
import requests
import stripe

from backend import events
from backend.extensions import db
from backend.payouts.gateway import StripeGateway
from backend.scheduler import run_job
from tests.standins import StripeStandIn, build_webhook_request, isolate_network_env, make_event

API_KEY = "sk_test_labelpath"
WEBHOOK_SECRET = "whsec_platform_test_secret"
CONNECT_SECRET = "whsec_connect_test_secret"
FAST_RETRIES = (0.01, 0.02, 0.04)

_submission_ids = itertools.count(1000)


@pytest.fixture(scope="session")
def stripe_server():
    with isolate_network_env(), StripeStandIn(hang_seconds=10) as server:
        yield server


@pytest.fixture
def stripe_api(stripe_server, monkeypatch):
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    stripe_server.reset()
    yield stripe_server
    stripe_server.reset()


def connect_stripe(app, server, *, timeout: float = 2.0, gateway=None) -> None:
    """Point the app at the stand-in: the real StripeGateway (fast retries for tests)."""
    app.config.update(STRIPE_API_KEY=API_KEY, STRIPE_API_BASE=server.url,
                      STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_SECRET)
    app.extensions["labelpath_payout_gateway"] = gateway or StripeGateway(
        API_KEY, api_base=server.url, timeout=timeout, retry_delays=FAST_RETRIES)


@pytest.fixture
def live(app, stripe_api):
    """The app with Stripe credentials, talking to the stand-in."""
    connect_stripe(app, stripe_api)
    return stripe_api


@pytest.fixture
def payout_events():
    """payout_changed events as sent: [(payout_id, status), …]."""
    seen = []

    def receiver(_sender=None, **kwargs):
        seen.append(kwargs)

    events.payout_changed.connect(receiver)
    yield seen
    events.payout_changed.disconnect(receiver)


def earn(app, user_id: int, amount: int, *, currency: str = "KRW", submission_id: int | None = None,
         task_id: int = 7, gold: bool = False) -> int:
    """What the micro-task engine does when it accepts a submission (the public contract)."""
    submission_id = submission_id or next(_submission_ids)
    with app.app_context():
        events.submission_accepted.send(submission_id=submission_id, user_id=user_id, project_id=3,
                                        task_id=task_id, reward_amount=amount, currency=currency,
                                        gold=gold, correct=None)
        db.session.commit()
    return submission_id


def review(app, submission_id: int, user_id: int, decision: str, reason=None, final: bool = True) -> None:
    with app.app_context():
        events.submission_reviewed.send(submission_id=submission_id, user_id=user_id, decision=decision,
                                        reason=reason, final=final)
        db.session.commit()


def deliver(client, event: dict, secret: str = CONNECT_SECRET, timestamp: int | None = None):
    body, headers = build_webhook_request(event, secret, timestamp)
    return client.post("/api/v1/webhooks/stripe", data=body, headers=headers)


def onboard(client, account, server) -> str:
    """The worker's onboarding through the stand-in: the link, the browser, the Connect webhook."""
    answer = client.post("/api/v1/me/payout-account", headers=account.headers)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "onboarding" and body["onboarding_url"].startswith(server.url)
    browser = requests.get(body["onboarding_url"], allow_redirects=False, timeout=2)
    assert browser.status_code == 302
    account_id = body["onboarding_url"].split("/")[-2]
    updated = [e for e in server.events if e["type"] == "account.updated" and e["account"] == account_id]
    assert deliver(client, updated[-1]).status_code == 200
    assert client.get("/api/v1/me/payout-account", headers=account.headers).get_json()["status"] == "enabled"
    return account_id


def job(app, job_id: str) -> None:
    """Run one scheduled job the way the scheduler does (app context, commit, raise on failure)."""
    found = [j for j in app.extensions["labelpath_jobs"] if j.id == job_id]
    assert found, job_id
    run_job(app, found[0])


def bank_payout_event(account_id: str, *, paid: bool, created: int, amount: int = 0, currency: str = "krw",
                      failure_code: str | None = None) -> dict:
    obj = {"id": "po_test", "object": "payout", "amount": amount, "currency": currency, "created": created,
           "arrival_date": created, "status": "paid" if paid else "failed",
           "failure_code": failure_code, "failure_message": "The bank account has been closed." if failure_code else None}
    return make_event("payout.paid" if paid else "payout.failed", obj, account=account_id)
