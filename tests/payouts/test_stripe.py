"""Stripe Connect through the stand-in with the real SDK: onboarding, transfers, every failure
answer, and reconciliation after a crash between Stripe's answer and our commit. No test ever
produces two transfers for one payout."""

import datetime as dt
import time

import pytest
import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.gateway import StripeGateway
from backend.payouts.models import Payout, PayoutAccount

from .conftest import API_KEY, FAST_RETRIES, bank_payout_event, connect_stripe, deliver, earn, job, onboard

PROBLEM = "application/problem+json"


def ready_worker(app, client, auth, server, amount=10000, **register):
    worker = auth.register(**register)
    earn(app, worker.id, amount)
    account_id = onboard(client, worker, server)
    return worker, account_id


def request_payout(client, worker, amount=10000):
    response = client.post("/api/v1/me/payouts", json={"amount": amount}, headers=worker.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def payout_row(app, payout_id):
    with app.app_context():
        payout = db.session.get(Payout, payout_id)
        db.session.expunge(payout)
        return payout


def transfers_for(server, payout_id):
    return [t for t in server.transfers if t["metadata"].get("payout_id") == str(payout_id)]


def assert_one_transfer(app, server, payout_id, amount=10000):
    payout = payout_row(app, payout_id)
    made = transfers_for(server, payout_id)
    assert len(made) == 1, made
    assert payout.status in ("transferred", "paid") and payout.transfer_id == made[0]["id"]
    assert made[0]["amount"] == amount
    return payout


def balances(app, user_id):
    with app.app_context():
        cached = payouts.balance_of(user_id)
        assert cached == payouts.balance_from_entries(user_id)
        return cached


# ----------------------------------------------------------------------------- onboarding
def test_onboarding_creates_one_express_account_and_a_link(app, client, auth, live):
    worker = auth.register(email="onboard@example.com")
    assert client.get("/api/v1/me/payout-account", headers=worker.headers).get_json()["status"] == "none"
    first = client.post("/api/v1/me/payout-account", headers=worker.headers)
    assert first.status_code == 200
    body = first.get_json()
    assert body["status"] == "onboarding" and body["onboarding_url"].startswith(live.url)
    assert body["onboarding_url_expires_at"].endswith("Z")
    (account,) = live.accounts.values()
    assert account["type"] == "express" and account["email"] == "onboard@example.com"
    assert account["metadata"] == {"user_id": str(worker.id)}
    link_request = live.requests_to("/v1/account_links", "POST")[-1]
    assert link_request.params["return_url"] == app.config["STRIPE_CONNECT_RETURN_URL"]
    assert link_request.params["refresh_url"] == app.config["STRIPE_CONNECT_REFRESH_URL"]
    # GET returns the unexpired link without calling Stripe
    calls = len(live.requests)
    shown = client.get("/api/v1/me/payout-account", headers=worker.headers).get_json()
    assert shown["onboarding_url"] == body["onboarding_url"] and len(live.requests) == calls

    second = client.post("/api/v1/me/payout-account", headers=worker.headers)
    assert second.status_code == 200 and second.get_json()["onboarding_url"] != body["onboarding_url"]
    assert len(live.accounts) == 1  # once per worker


def test_onboarding_finishes_through_the_link_and_the_connect_webhook(app, client, auth, live):
    worker = auth.register()
    account_id = onboard(client, worker, live)
    with app.app_context():
        row = db.session.execute(sa.select(PayoutAccount)).scalar_one()
        assert (row.stripe_account_id, row.payouts_enabled, row.transfers_active) == (account_id, True, True)
    again = client.post("/api/v1/me/payout-account", headers=worker.headers)
    assert again.get_json() == {"status": "enabled", "payouts_enabled": True, "details_submitted": True}


def test_returning_from_stripe_before_the_webhook_reads_the_account(app, client, auth, live):
    worker = auth.register()
    url = client.post("/api/v1/me/payout-account", headers=worker.headers).get_json()["onboarding_url"]
    live.complete_onboarding(url.split("/")[-2])  # the webhook has not arrived yet
    assert client.post("/api/v1/me/payout-account", headers=worker.headers).get_json()["status"] == "enabled"


@pytest.mark.parametrize("failure", ["drop", "server_error", "rate_limit"])
def test_onboarding_when_stripe_is_away_is_a_clear_503(app, client, auth, live, failure):
    worker = auth.register()
    live.fail_next(failure, "/v1/accounts")
    answer = client.post("/api/v1/me/payout-account", headers=worker.headers)
    assert answer.status_code == 503 and answer.mimetype == PROBLEM
    assert answer.get_json()["type"] == "urn:labelpath:problem:stripe-unavailable"
    assert answer.headers["Retry-After"] == "30"
    assert client.post("/api/v1/me/payout-account", headers=worker.headers).status_code == 200
    assert len(live.accounts) == 1


def test_an_account_made_before_the_link_failed_is_kept(app, client, auth, live):
    worker = auth.register()
    live.fail_next("drop_after_commit", "/v1/accounts")  # Stripe made it, we never heard
    assert client.post("/api/v1/me/payout-account", headers=worker.headers).status_code == 503
    live.fail_next("server_error", "/v1/account_links")
    assert client.post("/api/v1/me/payout-account", headers=worker.headers).status_code == 503
    assert client.post("/api/v1/me/payout-account", headers=worker.headers).status_code == 200
    assert len(live.accounts) == 1  # the same idempotency key found the account Stripe had made


def test_a_hanging_stripe_times_out_quickly(app, client, auth, live):
    connect_stripe(app, live, timeout=0.3)
    worker = auth.register()
    live.fail_next("hang", "/v1/accounts")
    started = time.monotonic()
    answer = client.post("/api/v1/me/payout-account", headers=worker.headers)
    assert answer.status_code == 503
    assert time.monotonic() - started < 5


# ----------------------------------------------------------------------------- the happy path
def test_a_worker_earns_onboards_requests_and_sees_it_paid(app, client, auth, live, payout_events):
    worker, account_id = ready_worker(app, client, auth, live, amount=12500, locale="en")
    payout_id = request_payout(client, worker, 10000)
    assert live.transfers == []  # nothing is sent on the worker's request
    assert balances(app, worker.id) == {"pending": 0, "available": 2500, "processing": 10000, "paid_out": 0}

    job(app, "payouts.send_queued")
    (transfer,) = live.transfers
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (10000, "krw", account_id)
    payout = payout_row(app, payout_id)
    assert transfer["transfer_group"] == payout.transfer_group == f"payout-{payout_id}-{payout.reference}"
    assert transfer["metadata"]["payout_id"] == str(payout_id)
    assert transfer["metadata"]["user_id"] == str(worker.id)
    sent = live.requests_to("/v1/transfers", "POST")
    assert [r.header("idempotency-key") for r in sent] == [payout.idempotency_key]
    assert payout.idempotency_key.startswith(f"payout-{payout_id}-")
    assert payout.status == "transferred" and payout.transfer_id == transfer["id"]
    assert balances(app, worker.id) == {"pending": 0, "available": 2500, "processing": 0, "paid_out": 10000}
    shown = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"][0]
    assert shown["status"] == "transferred" and "on its way to your bank" in shown["status_detail"]

    job(app, "payouts.send_queued")  # a second run sends nothing
    assert len(live.transfers) == 1

    paid = deliver(client, bank_payout_event(account_id, paid=True, created=int(time.time()) + 1, amount=10000))
    assert paid.status_code == 200
    shown = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"][0]
    assert shown["status"] == "paid" and shown["paid_at"]
    assert [e["status"] for e in payout_events] == ["queued", "sending", "transferred", "paid"]
    assert payout_events[-1]["amount"] == 10000 and payout_events[-1]["currency"] == "KRW"
    kinds = [e["kind"] for e in client.get("/api/v1/me/earnings", headers=worker.headers).get_json()
             ["entries"]["items"]]
    assert kinds == ["payout_transferred", "payout_debit", "reward"]


def test_usd_deployment_sends_cents(app, client, auth, live):
    app.config.update(CURRENCY="USD", PAYOUT_MINIMUM=1000)
    worker = auth.register()
    earn(app, worker.id, 1250, currency="USD")
    onboard(client, worker, live)
    payout_id = request_payout(client, worker, 1250)
    job(app, "payouts.send_queued")
    (transfer,) = live.transfers
    assert (transfer["amount"], transfer["currency"]) == (1250, "usd")
    assert payout_row(app, payout_id).status == "transferred"


# ----------------------------------------------------------------------------- failure answers
def test_balance_insufficient_fails_and_credits_back(app, client, auth, live, payout_events):
    worker, _ = ready_worker(app, client, auth, live, locale="en")
    payout_id = request_payout(client, worker)
    live.fail_next("balance_insufficient", "/v1/transfers")
    job(app, "payouts.send_queued")
    payout = payout_row(app, payout_id)
    assert payout.status == "failed" and payout.failure_code == "balance_insufficient"
    assert live.transfers == [] and len(live.requests_to("/v1/transfers", "POST")) == 1  # no retry
    assert balances(app, worker.id) == {"pending": 0, "available": 10000, "processing": 0, "paid_out": 0}
    shown = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"][0]
    assert shown["status"] == "failed" and "platform's balance was too low" in shown["failure_reason"]
    top = client.get("/api/v1/me/earnings", headers=worker.headers).get_json()["entries"]["items"][0]
    assert top["kind"] == "payout_failed" and top["changes"]["available"] == 10000
    assert payout_events[-1]["status"] == "failed"
    assert payout_events[-1]["failure_reason"]["en"].startswith("the platform's balance")
    # the worker asks again: a new payout, a new key, paid once
    second = request_payout(client, worker)
    job(app, "payouts.send_queued")
    assert_one_transfer(app, live, second)


@pytest.mark.parametrize("failure", ["rate_limit", "server_error", "drop", "drop_after_commit"])
def test_retryable_answers_are_retried_with_the_same_key(app, client, auth, live, failure):
    worker, _ = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    live.fail_next(failure, "/v1/transfers", times=2)
    job(app, "payouts.send_queued")
    assert_one_transfer(app, live, payout_id)
    attempts = live.requests_to("/v1/transfers", "POST")
    assert len(attempts) == 3
    assert len({r.header("idempotency-key") for r in attempts}) == 1
    assert balances(app, worker.id)["paid_out"] == 10000


def test_retries_run_out_then_reconciliation_finds_the_transfer(app, client, auth, live):
    """drop_after_commit on every attempt: Stripe made the transfer, we never heard."""
    worker, _ = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    live.fail_next("drop_after_commit", "/v1/transfers", times=4)
    job(app, "payouts.send_queued")
    payout = payout_row(app, payout_id)
    assert payout.status == "sending" and "APIConnectionError" in payout.last_error
    assert len(live.transfers) == 1
    assert balances(app, worker.id)["processing"] == 10000  # not paid out in our books yet

    job(app, "payouts.reconcile")  # too early: the backoff has not passed
    assert payout_row(app, payout_id).status == "sending"
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)):
        job(app, "payouts.reconcile")
    assert_one_transfer(app, live, payout_id)
    assert len(live.requests_to("/v1/transfers", "POST")) == 4  # found by transfer_group, not re-made
    assert balances(app, worker.id) == {"pending": 0, "available": 0, "processing": 0, "paid_out": 10000}


class CrashAfterStripe(StripeGateway):
    """The process dies after Stripe accepted the transfer and before the database recorded it."""

    def create_transfer(self, request):
        outcome = super().create_transfer(request)
        raise SystemExit(f"killed after Stripe answered {outcome.status}")


@pytest.mark.parametrize("stripe_forgot_the_key", [False, True])
def test_crash_between_stripe_and_commit_is_reconciled_without_a_second_transfer(
        app, client, auth, live, stripe_forgot_the_key):
    worker, _ = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    connect_stripe(app, live, gateway=CrashAfterStripe(API_KEY, api_base=live.url, retry_delays=FAST_RETRIES))
    with pytest.raises(SystemExit):
        job(app, "payouts.send_queued")
    assert len(live.transfers) == 1
    assert payout_row(app, payout_id).status == "sending"  # the claim was committed before the call

    connect_stripe(app, live)  # the restarted process
    job(app, "payouts.send_queued")  # only queued payouts are sent: this one is left alone
    job(app, "payouts.reconcile")  # its lease has not run out
    assert len(live.transfers) == 1 and payout_row(app, payout_id).status == "sending"
    if stripe_forgot_the_key:
        live.expire_idempotency_keys()  # more than 24 h later: a replay would pay twice
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)):
        job(app, "payouts.reconcile")
    assert_one_transfer(app, live, payout_id)
    assert balances(app, worker.id)["paid_out"] == 10000


def test_reconciliation_makes_the_transfer_when_stripe_never_got_it(app, client, auth, live):
    worker, _ = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    live.fail_next("drop", "/v1/transfers", times=4)  # nothing reached Stripe
    job(app, "payouts.send_queued")
    assert live.transfers == [] and payout_row(app, payout_id).status == "sending"
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)):
        job(app, "payouts.reconcile")
    assert_one_transfer(app, live, payout_id)
    looked_up = live.requests_to("/v1/transfers", "GET")
    assert looked_up and looked_up[0].params["transfer_group"] == payout_row(app, payout_id).transfer_group


def test_reconciliation_while_stripe_is_still_away_keeps_waiting(app, client, auth, live):
    worker, _ = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    live.fail_next("server_error", "/v1/transfers", times=None)
    job(app, "payouts.send_queued")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)):
        job(app, "payouts.reconcile")
    payout = payout_row(app, payout_id)
    assert payout.status == "sending" and payout.attempts == 2
    live.clear_failures()
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)):
        job(app, "payouts.reconcile")
    assert_one_transfer(app, live, payout_id)


def test_a_key_used_with_other_parameters_is_never_guessed_at(app, client, auth, live):
    """Stripe's idempotency_error (same key, other parameters): neither a failure (the money may
    have left) nor a new attempt; the payout waits for reconciliation, nothing is credited back."""
    worker, account_id = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    payout = payout_row(app, payout_id)
    StripeGateway(API_KEY, api_base=live.url).client.v1.transfers.create(
        params={"amount": 1, "currency": "krw", "destination": account_id},
        options={"idempotency_key": payout.idempotency_key})
    job(app, "payouts.send_queued")
    payout = payout_row(app, payout_id)
    assert payout.status == "sending" and "IdempotencyError" in payout.last_error
    assert len(live.transfers) == 1  # only the stray one
    assert balances(app, worker.id) == {"pending": 0, "available": 0, "processing": 10000, "paid_out": 0}


def test_wrong_credentials_send_nothing_and_keep_the_payout_queued(app, client, auth, live):
    worker, _ = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    connect_stripe(app, live, gateway=StripeGateway("rk_live_wrongkey", api_base=live.url,
                                                    retry_delays=FAST_RETRIES))
    job(app, "payouts.send_queued")
    payout = payout_row(app, payout_id)
    assert payout.status == "queued" and "AuthenticationError" in payout.last_error
    assert live.transfers == []
    connect_stripe(app, live)
    job(app, "payouts.send_queued")
    assert_one_transfer(app, live, payout_id)


def test_an_account_disabled_before_sending_fails_the_payout_and_credits_back(app, client, auth, live):
    worker, account_id = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    live.set_account(account_id, payouts_enabled=False)
    assert deliver(client, live.events[-1]).status_code == 200
    job(app, "payouts.send_queued")
    payout = payout_row(app, payout_id)
    assert payout.status == "failed" and payout.failure_code == "account_not_ready"
    assert live.transfers == []
    assert balances(app, worker.id)["available"] == 10000


def test_a_destination_stripe_refuses_fails_the_payout(app, client, auth, live):
    worker, account_id = ready_worker(app, client, auth, live)
    payout_id = request_payout(client, worker)
    live.set_account(account_id, capabilities={"transfers": "inactive"}, emit_event=False)
    job(app, "payouts.send_queued")
    payout = payout_row(app, payout_id)
    assert payout.status == "failed" and payout.failure_code == "insufficient_capabilities_for_transfer"
    assert balances(app, worker.id)["available"] == 10000


# ----------------------------------------------------------------------------- scheduled payouts
def test_weekly_auto_payout_pays_everyone_over_the_minimum_once(app, client, auth, live):
    rich, _ = ready_worker(app, client, auth, live, amount=23456)
    poor, _ = ready_worker(app, client, auth, live, amount=9999)
    unboarded = auth.register()
    earn(app, unboarded.id, 50000)
    job(app, "payouts.weekly_auto_payout")
    job(app, "payouts.weekly_auto_payout")  # a second scheduler by mistake
    with app.app_context():
        made = db.session.execute(sa.select(Payout.user_id, Payout.amount, Payout.source)).all()
    assert made == [(rich.id, 23456, "auto")]
    job(app, "payouts.send_queued")
    assert [t["amount"] for t in live.transfers] == [23456]
    assert balances(app, poor.id)["available"] == 9999
    assert balances(app, unboarded.id)["available"] == 50000


def test_jobs_are_registered():
    from backend.payouts.jobs import JOBS

    assert {j.id for j in JOBS} == {"payouts.approve_due_rewards", "payouts.send_queued", "payouts.reconcile",
                                    "payouts.weekly_auto_payout"}


# ----------------------------------------------------------------------------- manager list
def test_managers_list_payouts_as_json_and_csv(app, client, auth, live):
    manager = auth.create("manager")
    worker, _ = ready_worker(app, client, auth, live, amount=30000, display_name="김하늘")
    first = request_payout(client, worker)
    second = request_payout(client, worker)
    live.fail_next("balance_insufficient", "/v1/transfers")
    job(app, "payouts.send_queued")
    listed = client.get("/api/v1/manage/payouts", headers=manager.headers).get_json()
    assert [(p["id"], p["status"]) for p in listed["items"]] == [(second, "transferred"), (first, "failed")]
    assert listed["items"][1]["failure_code"] == "balance_insufficient"
    assert listed["items"][0]["display_name"] == "김하늘"
    failed = client.get("/api/v1/manage/payouts?status=failed", headers=manager.headers).get_json()
    assert [p["id"] for p in failed["items"]] == [first]
    paged = client.get("/api/v1/manage/payouts?limit=1", headers=manager.headers).get_json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]
    csv = client.get("/api/v1/manage/payouts?format=csv", headers=manager.headers)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert text.startswith("\ufeffid,user_id,email,display_name,amount,currency,status")
    assert "김하늘" in text and f"{first}," in text and ",failed," in text
    assert client.get("/api/v1/manage/payouts", headers=worker.headers).status_code == 403
