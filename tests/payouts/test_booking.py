"""Booking a reward runs on every accepted submission: its SQL stays small (no SELECT first, no
SAVEPOINT, no ORM flush), a second booking of the same submission changes nothing, and racing
bookings never lose or double money."""

from __future__ import annotations

import contextlib
import itertools

import sqlalchemy as sa

from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.models import LedgerEntry, Reward, WorkerBalance
from tests.support.concurrency import run_together

from .test_races import assert_ledger_consistent

_submissions = itertools.count(900_000)


@contextlib.contextmanager
def sql_log():
    """The SQL statements sent to the database inside the block (BEGIN excluded: the block
    starts inside an open transaction)."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        seen.append(" ".join(statement.split()))

    db.session.connection()  # the transaction is open before counting starts
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def book(user_id: int, amount: int = 700, submission_id: int | None = None, currency: str = "KRW"):
    return payouts.book_reward(submission_id=submission_id or next(_submissions), user_id=user_id,
                               amount=amount, currency=currency, project_id=3, task_id=7)


def rows(user_id: int) -> tuple:
    rewards = db.session.execute(sa.select(Reward.id, Reward.submission_id, Reward.amount, Reward.status)
                                 .where(Reward.user_id == user_id).order_by(Reward.id)).all()
    entries = db.session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.pending_delta, LedgerEntry.available_delta,
                  LedgerEntry.available_after, LedgerEntry.reward_id)
        .where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)).all()
    return rewards, entries, payouts.balance_of(user_id)


def assert_running_balance(user_id: int) -> None:
    """Every entry's available_after is the sum of the available deltas up to it."""
    running = 0
    for delta, after in db.session.execute(
            sa.select(LedgerEntry.available_delta, LedgerEntry.available_after)
            .where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)):
        running += delta
        assert after == running


def test_booking_a_reward_sends_few_statements(app, auth):
    worker = auth.register()
    with app.app_context():
        with sql_log() as first:  # no balance row yet: UPDATE finds none, the upsert makes it
            assert book(worker.id, 700) is not None
        with sql_log() as steady:  # every later reward
            reward_id = book(worker.id, 300)
        db.session.commit()

        assert len(steady) <= 3, steady
        assert len(first) <= 4, first
        for statement in (*first, *steady):
            assert not statement.upper().startswith(("SELECT", "SAVEPOINT", "RELEASE")), statement
        assert steady[0].upper().startswith("INSERT INTO REWARDS") and "RETURNING" in steady[0].upper()

        reward = db.session.get(Reward, reward_id)
        assert (reward.amount, reward.status, reward.currency, reward.project_id, reward.task_id) == (
            300, "available", "KRW", 3, 7)
        assert reward.decided_at is not None and reward.created_at is not None
        entry = db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.reward_id == reward_id)).scalar_one()
        assert (entry.kind, entry.available_delta, entry.pending_delta, entry.available_after) == (
            "reward", 300, 0, 1000)
        assert entry.reason is None and entry.detail is None and entry.created_at is not None
        assert payouts.balance_of(worker.id) == {"pending": 0, "available": 1000, "processing": 0, "paid_out": 0}
        assert payouts.balance_of(worker.id) == payouts.balance_from_entries(worker.id)


def test_a_reward_in_review_is_booked_as_pending(app, auth):
    app.config["REVIEW_WINDOW_S"] = 600
    worker = auth.register()
    with app.app_context():
        book(worker.id, 400)
        with sql_log() as steady:
            reward_id = book(worker.id, 500)
        db.session.commit()
        assert len(steady) <= 3, steady
        reward = db.session.get(Reward, reward_id)
        assert reward.status == "pending" and reward.decided_at is None
        assert reward.available_at > reward.created_at
        assert payouts.balance_of(worker.id) == {"pending": 900, "available": 0, "processing": 0, "paid_out": 0}
        assert payouts.balance_of(worker.id) == payouts.balance_from_entries(worker.id)
        assert_running_balance(worker.id)


def test_booking_the_same_submission_twice_changes_nothing(app, auth):
    worker = auth.register()
    with app.app_context():
        submission = next(_submissions)
        first = book(worker.id, 800, submission_id=submission)
        assert first is not None
        before = rows(worker.id)
        with sql_log() as again:
            assert book(worker.id, 800, submission_id=submission) is None
            assert book(worker.id, 5000, submission_id=submission) is None  # whatever it says
        assert len(again) == 2, again  # one INSERT … ON CONFLICT DO NOTHING each, nothing else
        assert rows(worker.id) == before
        db.session.commit()

    with app.app_context():  # and again in a later transaction
        assert book(worker.id, 800, submission_id=submission) is None
        db.session.commit()
        rewards, entries, balance = rows(worker.id)
        assert (rewards, entries, balance) == before
        assert len(rewards) == 1 and len(entries) == 1 and balance["available"] == 800


def test_nothing_to_book_sends_nothing(app, auth):
    worker = auth.register()
    with app.app_context(), sql_log() as seen:
        assert book(worker.id, 0) is None
        assert payouts.book_reward(submission_id=next(_submissions), user_id=worker.id, amount=None,
                                   currency="KRW") is None
    assert seen == []


def test_racing_bookings_of_the_same_submissions_book_each_once(committing_app):
    from tests.conftest import AuthActions

    app = committing_app
    auth = AuthActions(app, app.test_client())
    workers = [auth.register().id for _ in range(2)]
    submissions = [next(_submissions) for _ in range(4)]

    def act(index):
        # every thread books every submission (the same ones), in its own transaction each
        booked = 0
        for n, submission in enumerate(submissions):
            with app.app_context():
                booked += book(workers[n % 2], 1000 + n, submission_id=submission) is not None
                db.session.commit()
        return booked

    results = run_together(6, act)
    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == len(submissions)
    assert_ledger_consistent(app)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Reward)).scalar() == 4
        assert db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar() == 4
        assert db.session.execute(sa.select(sa.func.count()).select_from(WorkerBalance)).scalar() == 2
        assert payouts.balance_of(workers[0])["available"] == 1000 + 1002
        assert payouts.balance_of(workers[1])["available"] == 1001 + 1003
        for worker in workers:
            assert_running_balance(worker)


def test_racing_first_rewards_of_a_worker_make_one_balance_row(committing_app):
    """Many first rewards at once: the balance row is made once and every reward counted."""
    from tests.conftest import AuthActions

    app = committing_app
    worker = AuthActions(app, app.test_client()).register().id

    def act(index):
        with app.app_context():
            booked = book(worker, 100 + index)
            db.session.commit()
            return booked

    results = run_together(8, act)
    assert all(isinstance(result, int) for result in results), results
    assert_ledger_consistent(app)
    with app.app_context():
        assert payouts.balance_of(worker)["available"] == sum(100 + i for i in range(8))
        assert db.session.execute(sa.select(sa.func.count()).select_from(WorkerBalance)).scalar() == 1
        assert_running_balance(worker)
