"""Workers as the fault tests need them, made through the public API (and the public event the
micro-task engine sends when it accepts work)."""

from __future__ import annotations

import itertools
import secrets

import requests

from backend import events
from backend.extensions import db
from tests.faults.conftest import CONNECT_SECRET
from tests.standins import build_webhook_request

API = "/api/v1"
_submissions = itertools.count(50_000)


def add_phone(client, account) -> str:
    token = f"fcm-faults-{account.id}-{secrets.token_hex(6)}:APA91b{'z' * 24}"
    response = client.post(f"{API}/me/devices", json={"token": token, "platform": "android"},
                           headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return token


def earn(app, user_id: int, amount: int) -> None:
    with app.app_context():
        events.submission_accepted.send(submission_id=next(_submissions), user_id=user_id, project_id=1,
                                        task_id=1, reward_amount=amount, currency="KRW", gold=False, correct=None)
        db.session.commit()


def onboard(client, account, stripe_server) -> None:
    answer = client.post(f"{API}/me/payout-account", headers=account.headers)
    assert answer.status_code == 200, answer.get_json()
    link = answer.get_json()["onboarding_url"]
    assert requests.get(link, allow_redirects=False, timeout=5).status_code == 302
    account_id = link.split("/")[-2]
    event = [e for e in stripe_server.events if e["type"] == "account.updated" and e["account"] == account_id][-1]
    body, headers = build_webhook_request(event, CONNECT_SECRET)
    assert client.post(f"{API}/webhooks/stripe", data=body, headers=headers).status_code == 200


def request_payout(client, account, amount: int) -> dict:
    response = client.post(f"{API}/me/payouts", json={"amount": amount},
                           headers={**account.headers, "Idempotency-Key": secrets.token_hex(8)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def run(app, job_id: str) -> None:
    from backend.scheduler import run_job

    run_job(app, next(j for j in app.extensions["labelpath_jobs"] if j.id == job_id))
