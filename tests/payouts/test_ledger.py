"""The ledger: rewards from accepted work (the submission_accepted event), review timing,
reversals, bonuses, GET /me/earnings, and the cached balance always equal to the entries."""

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from backend.audit.models import AuditEntry
from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.models import LedgerEntry, LedgerIsAppendOnly, Reward

from .conftest import earn, job, review

PROBLEM = "application/problem+json"
START = dt.datetime(2030, 1, 10, tzinfo=dt.UTC)


def clock(minutes: float):
    """Stand at START + minutes (access tokens live 15 minutes: stay inside that)."""
    return time_machine.travel(START + dt.timedelta(minutes=minutes), tick=False)


def assert_consistent(app, user_id, currency="KRW"):
    with app.app_context():
        cached = payouts.balance_of(user_id, currency)
        assert cached == payouts.balance_from_entries(user_id, currency)
        assert all(value >= 0 for value in cached.values())
        return cached


def earnings(client, account, **params):
    response = client.get("/api/v1/me/earnings", headers=account.headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_accepted_work_is_available_at_once_without_a_review_window(app, client, auth):
    worker = auth.register()
    earn(app, worker.id, 1200)
    earn(app, worker.id, 800)
    body = earnings(client, worker)
    assert body["currency"] == "KRW"
    assert body["available"] == {"amount": 2000, "currency": "KRW"}
    assert body["pending"] == {"amount": 0, "currency": "KRW"}
    assert body["paid_out"] == {"amount": 0, "currency": "KRW"}
    assert [e["kind"] for e in body["entries"]["items"]] == ["reward", "reward"]
    first = body["entries"]["items"][-1]
    assert first["amount"] == {"amount": 1200, "currency": "KRW"}
    assert first["changes"] == {"pending": 0, "available": 1200, "processing": 0, "paid_out": 0}
    assert first["status"] == "available" and first["task_id"] == 7
    assert assert_consistent(app, worker.id)["available"] == 2000


def test_the_same_submission_is_booked_once(app, client, auth):
    worker = auth.register()
    submission = earn(app, worker.id, 500)
    earn(app, worker.id, 500, submission_id=submission)
    earn(app, worker.id, 0)  # nothing to book
    assert earnings(client, worker)["available"]["amount"] == 500
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Reward)).scalar() == 1


def test_pending_until_the_review_window_closes_then_auto_approved(app, client, auth):
    app.config["REVIEW_WINDOW_S"] = 600
    with clock(0):
        worker = auth.register(locale="en", timezone="Asia/Seoul")
        earn(app, worker.id, 1500)
        body = earnings(client, worker)
    assert body["pending"]["amount"] == 1500 and body["available"]["amount"] == 0
    entry = body["entries"]["items"][0]
    assert entry["status"] == "pending"
    assert entry["until"] == "2030-01-10T00:10:00Z"
    assert "pending until the review window closes on 2030-01-10 09:10 KST" in entry["description"]

    with clock(9):
        job(app, "payouts.approve_due_rewards")
        assert earnings(client, worker)["available"]["amount"] == 0  # not yet
    with clock(11):
        job(app, "payouts.approve_due_rewards")
        job(app, "payouts.approve_due_rewards")  # a second run (or scheduler) changes nothing
        body = earnings(client, worker)
    assert body["pending"]["amount"] == 0 and body["available"]["amount"] == 1500
    assert [e["kind"] for e in body["entries"]["items"]] == ["reward_approved", "reward"]
    assert body["entries"]["items"][0]["description"] == "review window closed — now available"
    assert_consistent(app, worker.id)


def test_korean_texts_follow_the_workers_locale(app, client, auth):
    app.config["REVIEW_WINDOW_S"] = 600
    worker = auth.register(locale="ko")
    earn(app, worker.id, 1000)
    entry = earnings(client, worker)["entries"]["items"][0]
    assert "검토 기간이 끝나면 출금할 수 있습니다" in entry["description"]


def test_review_approves_before_the_window(app, client, auth):
    app.config["REVIEW_WINDOW_S"] = 86400
    worker = auth.register(locale="en")
    submission = earn(app, worker.id, 900)
    review(app, submission, worker.id, "approved")
    review(app, submission, worker.id, "approved")  # a repeated event books nothing twice
    body = earnings(client, worker)
    assert body["available"]["amount"] == 900 and body["pending"]["amount"] == 0
    assert body["entries"]["items"][0]["description"] == "approved — now available"
    assert_consistent(app, worker.id)


def test_rejection_with_appeal_then_final_rejection_reverses(app, client, auth):
    app.config["REVIEW_WINDOW_S"] = 600
    with clock(0):
        worker = auth.register(locale="en")
        submission = earn(app, worker.id, 700)
        review(app, submission, worker.id, "rejected", reason="wrong label", final=False)
        entry = earnings(client, worker)["entries"]["items"][0]
    assert entry["status"] == "rejected"
    assert entry["description"].endswith("rejected: wrong label — appeal until 2030-01-17 09:00 KST")
    assert entry["until"] == "2030-01-17T00:00:00Z"
    # a rejected reward waiting for its appeal is not auto-approved when the window closes
    with clock(12):
        job(app, "payouts.approve_due_rewards")
        assert earnings(client, worker)["pending"]["amount"] == 700
        review(app, submission, worker.id, "rejected", reason={"ko": "잘못된 라벨", "en": "wrong label"},
               final=True)
        body = earnings(client, worker)
    assert body["pending"]["amount"] == 0 and body["available"]["amount"] == 0
    reversed_entry, reward_entry = body["entries"]["items"]
    assert reversed_entry["kind"] == "reward_reversed"
    assert reversed_entry["changes"]["pending"] == -700
    assert reversed_entry["description"] == "rejected: wrong label — reward withdrawn"
    assert reward_entry["status"] == "reversed"
    assert_consistent(app, worker.id)


def test_an_appeal_that_succeeds_releases_the_reward(app, client, auth):
    app.config["REVIEW_WINDOW_S"] = 3600
    worker = auth.register()
    submission = earn(app, worker.id, 400)
    review(app, submission, worker.id, "rejected", reason="blurry", final=False)
    review(app, submission, worker.id, "approved")
    assert earnings(client, worker)["available"]["amount"] == 400


def test_final_rejection_after_release_never_makes_the_balance_negative(app, client, auth):
    worker = auth.register(locale="en")
    first = earn(app, worker.id, 6000)
    earn(app, worker.id, 5000)
    with app.app_context():  # 10 000 of the 11 000 goes into a payout
        payouts.request_payout(worker.id, 10000)
        db.session.commit()
    review(app, first, worker.id, "rejected", reason="copied answers", final=True)
    body = earnings(client, worker)
    assert body["available"]["amount"] == 0
    top = body["entries"]["items"][0]
    assert top["kind"] == "reward_reversed" and top["changes"]["available"] == -1000
    assert "5,000 KRW already paid out was not taken back" in top["description"]
    assert_consistent(app, worker.id)


def test_unknown_submission_review_is_ignored(app, auth):
    worker = auth.register()
    review(app, 987654, worker.id, "rejected", reason="x", final=True)
    assert assert_consistent(app, worker.id)["pending"] == 0


def test_manager_bonus_with_a_reason_the_worker_reads(app, client, auth):
    manager = auth.create("manager")
    worker = auth.register(locale="ko")
    headers = {**manager.headers, "Idempotency-Key": "bonus-1"}
    body = {"amount": 3000, "reason": {"ko": "꼼꼼한 작업 감사합니다", "en": "Thanks for careful work"}}
    created = client.post(f"/api/v1/manage/workers/{worker.id}/bonuses", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["amount"] == {"amount": 3000, "currency": "KRW"}
    replay = client.post(f"/api/v1/manage/workers/{worker.id}/bonuses", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    other = client.post(f"/api/v1/manage/workers/{worker.id}/bonuses", json={**body, "amount": 1}, headers=headers)
    assert other.status_code == 422
    mine = earnings(client, worker)
    assert mine["available"]["amount"] == 3000
    assert mine["entries"]["items"][0]["description"] == "보너스: 꼼꼼한 작업 감사합니다"
    with app.app_context():
        audit = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "payouts.bonus")).scalars().all()
        assert [(a.actor_id, a.target_id) for a in audit] == [(manager.id, str(worker.id))]
    assert_consistent(app, worker.id)


def test_bonus_needs_staff_a_known_worker_and_a_reason(client, auth):
    worker = auth.register()
    manager = auth.create("manager")
    url = f"/api/v1/manage/workers/{worker.id}/bonuses"
    assert client.post(url, json={"amount": 100, "reason": "x"}, headers=worker.headers).status_code == 403
    missing = client.post("/api/v1/manage/workers/999999/bonuses", json={"amount": 100, "reason": "x"},
                          headers=manager.headers)
    assert missing.status_code == 404 and missing.mimetype == PROBLEM
    invalid = client.post(url, json={"amount": 0}, headers=manager.headers)
    assert invalid.status_code == 422
    assert set(invalid.get_json()["errors"]) == {"amount", "reason"}


def test_entries_are_paged_newest_first(app, client, auth):
    worker = auth.register()
    for amount in range(101, 106):
        earn(app, worker.id, amount)
    first = earnings(client, worker, limit=2)
    assert [e["amount"]["amount"] for e in first["entries"]["items"]] == [105, 104]
    second = earnings(client, worker, limit=2, cursor=first["entries"]["next_cursor"])
    assert [e["amount"]["amount"] for e in second["entries"]["items"]] == [103, 102]
    third = earnings(client, worker, limit=2, cursor=second["entries"]["next_cursor"])
    assert [e["amount"]["amount"] for e in third["entries"]["items"]] == [101]
    assert third["entries"]["next_cursor"] is None
    bad = client.get("/api/v1/me/earnings?cursor=***", headers=worker.headers)
    assert bad.status_code == 422


def test_earnings_need_a_login(client):
    assert client.get("/api/v1/me/earnings").status_code == 401


def test_ledger_entries_are_append_only(app, auth):
    worker = auth.register()
    earn(app, worker.id, 100)
    with app.app_context():
        entry = db.session.execute(sa.select(LedgerEntry)).scalars().first()
        entry.available_delta = 1_000_000
        with pytest.raises(LedgerIsAppendOnly):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.execute(sa.select(LedgerEntry)).scalars().first())
        with pytest.raises(LedgerIsAppendOnly):
            db.session.flush()
        db.session.rollback()


def test_a_debit_larger_than_the_balance_writes_nothing(app, auth):
    worker = auth.register()
    earn(app, worker.id, 100)
    with app.app_context():
        with pytest.raises(payouts.BalanceTooLow):
            payouts.post_entry(worker.id, "KRW", "payout_debit", available=-101, processing=101)
        db.session.rollback()
        count = db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar()
        assert count == 1
        assert payouts.balance_of(worker.id)["available"] == 100


def test_the_database_refuses_a_negative_bucket(app, auth):
    """The CHECK constraints are the last line of defence on both databases."""
    worker = auth.register()
    earn(app, worker.id, 100)
    from backend.payouts.models import WorkerBalance

    with app.app_context():
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(WorkerBalance).values(available=-1))
            db.session.flush()
        db.session.rollback()


def test_the_personal_data_export_holds_the_money(app, client, auth):
    worker = auth.register()
    earn(app, worker.id, 1200)
    exported = client.get("/api/v1/me/export", headers=worker.headers)
    assert exported.status_code == 200
    money = exported.get_json()["money"]
    assert money["balances"] == [{"currency": "KRW", "pending": 0, "available": 1200, "processing": 0,
                                  "paid_out": 0}]
    assert [e["kind"] for e in money["entries"]] == ["reward"]
    assert money["payouts"] == [] and money["payout_account"] is None
