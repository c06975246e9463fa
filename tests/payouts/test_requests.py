"""Payout requests: minimum, payable amounts, an enabled account, balance too low, Idempotency-Key,
and what happens with no Stripe credentials (the default for `make run`)."""

import sqlalchemy as sa

from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.gateway import from_stripe_amount, payable_step, to_stripe_amount
from backend.payouts.models import Payout

from .conftest import earn, job, onboard

PROBLEM = "application/problem+json"


def post_payout(client, account, amount, key=None):
    headers = dict(account.headers)
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/me/payouts", json={"amount": amount}, headers=headers)


def test_without_stripe_payouts_stay_queued_and_nothing_pretends_to_pay(app, client, auth, payout_events):
    worker = auth.register(locale="en")
    earn(app, worker.id, 15000)
    account = client.get("/api/v1/me/payout-account", headers=worker.headers)
    assert account.get_json()["status"] == "unavailable"
    start = client.post("/api/v1/me/payout-account", headers=worker.headers)
    assert start.status_code == 503 and start.mimetype == PROBLEM
    assert start.get_json()["type"] == "urn:labelpath:problem:payouts-not-configured"

    created = post_payout(client, worker, 10000)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["amount"] == {"amount": 10000, "currency": "KRW"} and body["status"] == "queued"
    assert "not connected on this server" in body["status_detail"]

    job(app, "payouts.send_queued")
    job(app, "payouts.reconcile")
    job(app, "payouts.weekly_auto_payout")
    listed = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"]
    assert [(p["id"], p["status"]) for p in listed] == [(body["id"], "queued")]
    earnings = client.get("/api/v1/me/earnings", headers=worker.headers).get_json()
    assert earnings["available"]["amount"] == 5000
    assert earnings["processing"]["amount"] == 10000
    assert earnings["paid_out"]["amount"] == 0
    assert [e["status"] for e in payout_events] == ["queued"]


def test_minimum_and_payable_amounts_are_422(app, client, auth):
    worker = auth.register()
    earn(app, worker.id, 50000)
    low = post_payout(client, worker, 9999)
    assert low.status_code == 422 and low.get_json()["errors"]["amount"]
    assert post_payout(client, worker, "10000").status_code == 422  # a string is not an amount
    app.config["CURRENCY"] = "HUF"
    app.config["PAYOUT_MINIMUM"] = 100
    earn(app, worker.id, 5000, currency="HUF")
    odd = post_payout(client, worker, 150)  # HUF payouts are whole forints
    assert odd.status_code == 422 and "multiple of 100" in odd.get_json()["errors"]["amount"][0]
    assert post_payout(client, worker, 200).status_code == 201


def test_balance_too_low_is_409(app, client, auth):
    worker = auth.register()
    earn(app, worker.id, 12000)
    assert post_payout(client, worker, 10000).status_code == 201
    again = post_payout(client, worker, 10000)
    assert again.status_code == 409 and again.mimetype == PROBLEM
    assert again.get_json()["type"] == "urn:labelpath:problem:balance-too-low"
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Payout)).scalar() == 1
        assert payouts.balance_of(worker.id) == {"pending": 0, "available": 2000, "processing": 10000,
                                                 "paid_out": 0}


def test_idempotency_key_books_one_payout(app, client, auth, payout_events):
    worker = auth.register()
    earn(app, worker.id, 30000)
    first = post_payout(client, worker, 10000, key="tap-1")
    replay = post_payout(client, worker, 10000, key="tap-1")
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] == first.get_json()["id"]
    assert post_payout(client, worker, 20000, key="tap-1").status_code == 422
    with app.app_context():
        assert payouts.balance_of(worker.id)["available"] == 20000
    assert len(payout_events) == 1


def test_with_stripe_an_enabled_account_is_required(app, client, auth, live):
    worker = auth.register()
    earn(app, worker.id, 20000)
    refused = post_payout(client, worker, 10000)
    assert refused.status_code == 409
    assert refused.get_json()["type"] == "urn:labelpath:problem:payout-account-not-ready"
    onboard(client, worker, live)
    assert post_payout(client, worker, 10000).status_code == 201


def test_payouts_of_others_are_not_listed(app, client, auth):
    one, two = auth.register(), auth.register()
    earn(app, one.id, 10000)
    post_payout(client, one, 10000)
    assert client.get("/api/v1/me/payouts", headers=two.headers).get_json()["items"] == []


def test_stripe_amounts_for_zero_decimal_and_special_currencies():
    assert to_stripe_amount(10000, "KRW") == 10000  # zero-decimal: won
    assert to_stripe_amount(1250, "USD") == 1250  # cents
    assert to_stripe_amount(500, "ISK") == 50000  # zero-decimal, sent as two-decimal
    assert to_stripe_amount(3000, "UGX") == 300000
    assert from_stripe_amount(50000, "isk") == 500
    assert from_stripe_amount(10000, "krw") == 10000
    assert payable_step("HUF") == payable_step("TWD") == 100
    assert payable_step("KWD") == 10
    assert payable_step("KRW") == payable_step("USD") == 1
