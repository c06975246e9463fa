"""Races with real commits from several threads and connections, on SQLite and PostgreSQL:
the available balance never goes negative, a payout is transferred once however many
schedulers run, and a webhook delivered twice at once is booked once."""

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.models import LedgerEntry, Payout, Reward, WorkerBalance
from tests.conftest import AuthActions
from tests.standins import make_event
from tests.support.concurrency import run_together

from .conftest import WEBHOOK_SECRET, connect_stripe, deliver, earn, job, onboard, review


def assert_ledger_consistent(app):
    with app.app_context():
        for row in db.session.execute(sa.select(WorkerBalance)).scalars():
            derived = payouts.balance_from_entries(row.user_id, row.currency)
            assert derived == payouts.balance_of(row.user_id, row.currency)
            assert min(derived.values()) >= 0


@pytest.fixture
def auth_committing(committing_app):
    return AuthActions(committing_app, committing_app.test_client())


def test_racing_payout_requests_never_overdraw(committing_app, auth_committing):
    app = committing_app
    worker = auth_committing.register()
    earn(app, worker.id, 35000)

    def request(index):
        client = app.test_client()
        return client.post("/api/v1/me/payouts", json={"amount": 10000}, headers=worker.headers).status_code

    statuses = run_together(8, request)
    assert sorted(statuses) == [201, 201, 201, 409, 409, 409, 409, 409], statuses
    with app.app_context():
        assert payouts.balance_of(worker.id) == {"pending": 0, "available": 5000, "processing": 30000,
                                                 "paid_out": 0}
        assert db.session.execute(sa.select(sa.func.count()).select_from(Payout)).scalar() == 3
    assert_ledger_consistent(app)


def test_racing_service_debits_of_the_last_won(committing_app, auth_committing):
    """Every thread sees enough money before it writes; only one debit may land."""
    app = committing_app
    worker = auth_committing.register()
    earn(app, worker.id, 10000)

    def request(index):
        with app.app_context():
            try:
                payouts.request_payout(worker.id, 10000)
                db.session.commit()
                return "paid"
            except payouts.BalanceTooLow:
                db.session.rollback()
                return "refused"

    results = run_together(6, request)
    assert sorted(results) == ["paid"] + ["refused"] * 5, results
    assert_ledger_consistent(app)


def test_racing_rewards_bonuses_and_payouts_keep_the_cache_exact(committing_app, auth_committing):
    app = committing_app
    manager = auth_committing.create("manager")
    worker = auth_committing.register()
    earn(app, worker.id, 10000)

    def act(index):
        client = app.test_client()
        if index % 3 == 0:
            return earn(app, worker.id, 1000)
        if index % 3 == 1:
            return client.post(f"/api/v1/manage/workers/{worker.id}/bonuses",
                               json={"amount": 500, "reason": "race"}, headers=manager.headers).status_code
        return client.post("/api/v1/me/payouts", json={"amount": 10000}, headers=worker.headers).status_code

    run_together(9, act)
    assert_ledger_consistent(app)
    with app.app_context():
        total_in = 10000 + 3 * 1000 + 3 * 500
        balance = payouts.balance_of(worker.id)
        assert sum(balance.values()) == total_in


def test_review_and_auto_approval_racing_release_the_reward_once(committing_app, auth_committing):
    app = committing_app
    app.config["REVIEW_WINDOW_S"] = 1
    worker = auth_committing.register()
    submissions = [earn(app, worker.id, 1000) for _ in range(5)]

    def act(index):
        if index == 0:
            job(app, "payouts.approve_due_rewards")
            return "job"
        for submission in submissions:
            review(app, submission, worker.id, "approved")
        return "review"

    # the review window has passed: the auto-approval job and the reviews race for the rewards
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)):
        results = run_together(3, act)
    assert all(isinstance(r, str) for r in results), results
    with app.app_context():
        approvals = db.session.execute(
            sa.select(sa.func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reward_approved")
        ).scalar()
        assert approvals == 5
        assert db.session.execute(sa.select(sa.func.count()).select_from(Reward)
                                  .where(Reward.status == "available")).scalar() == 5
    assert_ledger_consistent(app)


def test_two_schedulers_sending_at_once_transfer_each_payout_once(committing_app, auth_committing, stripe_api):
    app = committing_app
    connect_stripe(app, stripe_api)
    client = app.test_client()
    workers = []
    for _ in range(3):
        worker = auth_committing.register()
        earn(app, worker.id, 20000)
        onboard(client, worker, stripe_api)
        for _ in range(2):
            assert client.post("/api/v1/me/payouts", json={"amount": 10000},
                               headers=worker.headers).status_code == 201
        workers.append(worker)
    stripe_api.fail_next("slow", "/v1/transfers", times=2, seconds=0.2)

    results = run_together(3, lambda index: job(app, "payouts.send_queued"))
    assert all(r is None for r in results), results
    with app.app_context():
        payout_ids = db.session.execute(sa.select(Payout.id)).scalars().all()
        statuses = db.session.execute(sa.select(Payout.status)).scalars().all()
    assert len(payout_ids) == 6 and set(statuses) == {"transferred"}
    for payout_id in payout_ids:
        assert len([t for t in stripe_api.transfers if t["metadata"]["payout_id"] == str(payout_id)]) == 1
    # each payout was claimed by one scheduler only: one transfer request per payout
    assert len(stripe_api.requests_to("/v1/transfers", "POST")) == 6
    assert_ledger_consistent(app)


def test_one_event_delivered_twice_at_once_is_booked_once(committing_app, auth_committing, stripe_api):
    app = committing_app
    connect_stripe(app, stripe_api)
    client = app.test_client()
    worker = auth_committing.register()
    earn(app, worker.id, 10000)
    onboard(client, worker, stripe_api)
    client.post("/api/v1/me/payouts", json={"amount": 10000}, headers=worker.headers)
    job(app, "payouts.send_queued")
    (transfer,) = stripe_api.transfers
    event = make_event("transfer.reversed", {**transfer, "amount_reversed": transfer["amount"], "reversed": True})

    def delivery(index):
        answer = deliver(app.test_client(), event, secret=WEBHOOK_SECRET)
        return answer.status_code, answer.get_json()["duplicate"]

    results = run_together(4, delivery)
    assert sorted(results) == [(200, False), (200, True), (200, True), (200, True)], results
    with app.app_context():
        reversals = db.session.execute(
            sa.select(sa.func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "payout_reversed")
        ).scalar()
        assert reversals == 1
        assert payouts.balance_of(worker.id)["available"] == 10000
    assert_ledger_consistent(app)


def test_final_rejections_racing_approvals_and_payouts_never_overdraw(committing_app, auth_committing):
    app = committing_app
    app.config["REVIEW_WINDOW_S"] = 1
    worker = auth_committing.register()
    submissions = [earn(app, worker.id, 4000) for _ in range(6)]

    def act(index):
        if index == 0:
            job(app, "payouts.approve_due_rewards")
        elif index == 1:
            for submission in submissions[::2]:
                review(app, submission, worker.id, "rejected", reason="copied", final=True)
        else:
            with app.app_context():
                try:
                    payouts.request_payout(worker.id, 10000)
                    db.session.commit()
                except payouts.BalanceTooLow:
                    db.session.rollback()
        return index

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)):
        results = run_together(4, act)
    assert sorted(results) == [0, 1, 2, 3], results
    with app.app_context():
        statuses = db.session.execute(sa.select(Reward.status).order_by(Reward.id)).scalars().all()
        assert statuses[::2] == ["reversed"] * 3 and statuses[1::2] == ["available"] * 3
    assert_ledger_consistent(app)
