"""POST /webhooks/stripe: signatures (platform or Connect secret), replays, and the events that
move payouts: account.updated, transfer.created, transfer.reversed, payout.paid / payout.failed."""

import time

import sqlalchemy as sa

from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.gateway import StripeGateway
from backend.payouts.models import Payout, PayoutAccount, StripeEvent
from tests.standins import make_event, sign_stripe_payload

from .conftest import API_KEY, CONNECT_SECRET, WEBHOOK_SECRET, bank_payout_event, deliver, earn, job, onboard

PROBLEM = "application/problem+json"


def paid_worker(app, client, auth, server, amount=10000):
    """A worker with one transferred payout: (worker, account_id, payout_id, transfer)."""
    worker = auth.register(locale="en")
    earn(app, worker.id, amount)
    account_id = onboard(client, worker, server)
    response = client.post("/api/v1/me/payouts", json={"amount": amount}, headers=worker.headers)
    payout_id = response.get_json()["id"]
    job(app, "payouts.send_queued")
    (transfer,) = [t for t in server.transfers if t["metadata"]["payout_id"] == str(payout_id)]
    return worker, account_id, payout_id, transfer


def status_of(app, payout_id):
    with app.app_context():
        return db.session.get(Payout, payout_id).status


def balances(app, user_id):
    with app.app_context():
        cached = payouts.balance_of(user_id)
        assert cached == payouts.balance_from_entries(user_id)
        return cached


def test_bad_signatures_are_400(app, client, live):
    event = make_event("account.updated", {"id": "acct_x", "object": "account"}, account="acct_x")
    wrong = deliver(client, event, secret="whsec_not_ours")
    assert wrong.status_code == 400 and wrong.mimetype == PROBLEM
    assert wrong.get_json()["type"] == "urn:labelpath:problem:webhook-signature-invalid"
    stale = deliver(client, event, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400
    unsigned = client.post("/api/v1/webhooks/stripe", data=b'{"id": "evt_1", "type": "x"}',
                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 400
    body = b'{"id": "evt_2", "type": "account.updated"}'
    tampered = client.post("/api/v1/webhooks/stripe", data=body.replace(b"evt_2", b"evt_3"),
                           headers={"Stripe-Signature": sign_stripe_payload(body, WEBHOOK_SECRET)})
    assert tampered.status_code == 400
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(StripeEvent)).scalar() == 0


def test_platform_and_connect_secrets_both_verify_and_replays_are_no_ops(app, client, live):
    platform = make_event("balance.available", {"object": "balance"})
    first = deliver(client, platform, secret=WEBHOOK_SECRET)
    assert first.status_code == 200 and first.get_json() == {"received": True, "duplicate": False}
    connect = make_event("account.application.authorized", {"object": "application"}, account="acct_1")
    assert deliver(client, connect, secret=CONNECT_SECRET).get_json()["duplicate"] is False
    again = deliver(client, platform, secret=CONNECT_SECRET)  # redelivered (any valid signature)
    assert again.status_code == 200 and again.get_json() == {"received": True, "duplicate": True}


def test_without_webhook_secrets_the_endpoint_is_503(app, client):
    event = make_event("account.updated", {"id": "acct_x"}, account="acct_x")
    answer = deliver(client, event, secret="whsec_anything")
    assert answer.status_code == 503 and answer.mimetype == PROBLEM


def test_account_updated_applies_only_newer_snapshots(app, client, auth, live):
    worker = auth.register()
    account_id = onboard(client, worker, live)
    snapshot = live.account(account_id)
    newer = make_event("account.updated", {**snapshot, "payouts_enabled": False}, account=account_id,
                       created=int(time.time()) + 60)
    older = make_event("account.updated", snapshot, account=account_id, created=int(time.time()) - 60)
    assert deliver(client, newer).status_code == 200
    assert deliver(client, older).status_code == 200  # arrives late: ignored
    with app.app_context():
        row = db.session.execute(sa.select(PayoutAccount)).scalar_one()
        assert row.payouts_enabled is False
    shown = client.get("/api/v1/me/payout-account", headers=worker.headers).get_json()
    assert shown["status"] == "restricted"


def test_transfer_reversed_credits_back_once(app, client, auth, live, payout_events):
    worker, _, payout_id, transfer = paid_worker(app, client, auth, live)
    StripeGateway(API_KEY, api_base=live.url).client.v1.transfers.reversals.create(transfer["id"])
    reversed_event = [e for e in live.events if e["type"] == "transfer.reversed"][-1]
    assert deliver(client, reversed_event, secret=WEBHOOK_SECRET).status_code == 200
    assert deliver(client, reversed_event, secret=WEBHOOK_SECRET).get_json()["duplicate"] is True
    assert status_of(app, payout_id) == "reversed"
    assert balances(app, worker.id) == {"pending": 0, "available": 10000, "processing": 0, "paid_out": 0}
    shown = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"][0]
    assert shown["status"] == "reversed" and shown["failure_reason"] == "Stripe reversed the transfer"
    assert payout_events[-1]["status"] == "reversed"
    # the same transfer state in a new event (another id) books nothing more
    again = make_event("transfer.reversed", live.transfer(transfer["id"]))
    deliver(client, again, secret=WEBHOOK_SECRET)
    assert balances(app, worker.id)["available"] == 10000


def test_partial_reversal_credits_the_reversed_part(app, client, auth, live):
    worker, _, payout_id, transfer = paid_worker(app, client, auth, live, amount=20000)
    partial = make_event("transfer.reversed", {**transfer, "amount_reversed": 5000})
    deliver(client, partial, secret=WEBHOOK_SECRET)
    assert status_of(app, payout_id) == "transferred"
    assert balances(app, worker.id) == {"pending": 0, "available": 5000, "processing": 0, "paid_out": 15000}
    full = make_event("transfer.reversed", {**transfer, "amount_reversed": 20000, "reversed": True})
    deliver(client, full, secret=WEBHOOK_SECRET)
    assert status_of(app, payout_id) == "reversed"
    assert balances(app, worker.id) == {"pending": 0, "available": 20000, "processing": 0, "paid_out": 0}


def test_transfer_created_webhook_completes_a_payout_whose_answer_was_lost(app, client, auth, live):
    worker = auth.register()
    earn(app, worker.id, 10000)
    onboard(client, worker, live)
    payout_id = client.post("/api/v1/me/payouts", json={"amount": 10000}, headers=worker.headers).get_json()["id"]
    live.fail_next("drop_after_commit", "/v1/transfers", times=4)
    job(app, "payouts.send_queued")
    assert status_of(app, payout_id) == "sending"
    created = [e for e in live.events if e["type"] == "transfer.created"][-1]
    assert deliver(client, created, secret=WEBHOOK_SECRET).status_code == 200
    assert status_of(app, payout_id) == "transferred"
    job(app, "payouts.reconcile")
    assert len(live.transfers) == 1
    assert balances(app, worker.id)["paid_out"] == 10000


def test_a_transfer_of_another_deployment_is_ignored(app, client, auth, live):
    worker, _, payout_id, transfer = paid_worker(app, client, auth, live)
    foreign = make_event("transfer.reversed", {**transfer, "id": "tr_foreign", "transfer_group": "payout-1-other",
                                               "amount_reversed": transfer["amount"]})
    deliver(client, foreign, secret=WEBHOOK_SECRET)
    assert status_of(app, payout_id) == "transferred"


def test_bank_payout_failed_then_paid(app, client, auth, live, payout_events):
    worker, account_id, payout_id, _ = paid_worker(app, client, auth, live)
    now = int(time.time()) + 1
    failed = bank_payout_event(account_id, paid=False, created=now, failure_code="account_closed")
    assert deliver(client, failed).status_code == 200
    shown = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"][0]
    assert shown["status"] == "bank_failed"
    assert "your bank refused the payout (account_closed)" in shown["failure_reason"]
    assert balances(app, worker.id)["paid_out"] == 10000  # the money waits in the Stripe account
    deliver(client, bank_payout_event(account_id, paid=True, created=now + 5))
    shown = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"][0]
    assert shown["status"] == "paid" and shown["failure_reason"] is None
    assert [e["status"] for e in payout_events][-2:] == ["bank_failed", "paid"]


def test_bank_payouts_match_only_earlier_transfers_of_that_account(app, client, auth, live):
    _, account_id, payout_id, _ = paid_worker(app, client, auth, live)
    _, _, other_payout, _ = paid_worker(app, client, auth, live)
    early = bank_payout_event(account_id, paid=True, created=int(time.time()) - 120)
    deliver(client, early)
    assert status_of(app, payout_id) == "transferred"  # that bank payout predates our transfer
    platform_payout = make_event("payout.paid", {"id": "po_platform", "object": "payout",
                                                 "created": int(time.time()) + 5})
    deliver(client, platform_payout, secret=WEBHOOK_SECRET)  # the platform's own payout: not ours
    assert status_of(app, payout_id) == "transferred"
    deliver(client, bank_payout_event(account_id, paid=True, created=int(time.time()) + 5))
    assert status_of(app, payout_id) == "paid"
    assert status_of(app, other_payout) == "transferred"


def test_the_webhook_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/webhooks/stripe"]["post"]
    assert "security" not in operation or operation["security"] == []
    assert {"200", "400"} <= set(operation["responses"])
    for path in ("/api/v1/me/earnings", "/api/v1/me/payout-account", "/api/v1/me/payouts",
                 "/api/v1/manage/payouts", "/api/v1/manage/workers/{worker_id}/bonuses"):
        assert path in spec["paths"]
