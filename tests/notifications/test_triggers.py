"""Domain events (backend/events.py, the public contract) → feed entries and queued pushes."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from backend import events
from backend.accounts.models import User
from backend.extensions import db
from backend.notifications.models import Notification
from backend.skills import services as skills
from tests.notifications.helpers import deliveries, feed_rows


def send(app, signal, **kwargs):
    with app.app_context():
        signal.send(None, **kwargs)
        db.session.commit()


def only(app, user_id) -> Notification:
    rows = feed_rows(app, user_id)
    assert len(rows) == 1, [r.kind for r in rows]
    return rows[0]


def test_course_completed_opens_the_exam(app, auth):
    worker = auth.register(locale="en")
    send(app, events.course_completed, user_id=worker.id, course_id=3, slug="bbox-basics", skill="bbox", level=1)
    note = only(app, worker.id)
    assert (note.kind, note.category) == ("training.exam_open", "training")
    assert note.title == {"ko": "과정 수료! 시험이 열렸어요", "en": "Course completed: your exam is open"}
    assert note.body["en"] == "You can now take the Bounding boxes level 1 certification exam."
    assert note.body["ko"] == "바운딩 박스 레벨 1 인증 시험에 지금 응시할 수 있어요."
    assert note.data == {"screen": "exams", "skill": "bbox", "level": "1", "course": "bbox-basics"}
    # the same course completed again (a replayed event) says nothing new
    send(app, events.course_completed, user_id=worker.id, course_id=3, slug="bbox-basics", skill="bbox", level=1)
    assert len(feed_rows(app, worker.id)) == 1


def test_certificate_issued_is_one_notice_even_though_the_level_rises(app, auth):
    worker = auth.register(timezone="Asia/Seoul")
    expires = dt.datetime(2027, 11, 27, 15, 30, tzinfo=dt.UTC)  # 28 Nov 2027 in Seoul
    send(app, events.certificate_issued, user_id=worker.id, skill="ocr", level=1, code="OCR-1-77",
         expires_at=expires, exam_id=4)
    with app.app_context():
        assert skills.level_of(worker.id, "ocr") == 1  # skills reacted: level_changed was sent
    note = only(app, worker.id)
    assert note.kind == "certification.passed"
    assert note.body["ko"] == "한국어 OCR 전사 레벨 1 인증서(OCR-1-77)가 발급되었어요. 유효기간: 2027년 11월 28일까지."
    assert note.body["en"].endswith("Valid until Nov 28, 2027.")
    assert note.data == {"screen": "certificate", "code": "OCR-1-77"}


def test_exam_failed_with_a_retake_time_in_the_workers_timezone(app, auth):
    worker = auth.register(locale="en", timezone="America/New_York")
    retake = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    send(app, events.exam_failed, user_id=worker.id, exam_id=12, attempt_id=99, retake_at=retake)
    note = only(app, worker.id)
    assert note.kind == "certification.failed"
    assert note.body["en"].startswith("You can retake the exam from Dec 1, 2026 10:00.")
    assert note.body["ko"].startswith("2026년 12월 1일 10:00부터 다시 응시할 수 있어요.")
    assert note.data == {"screen": "exam", "id": "12"}


def test_exam_failed_without_attempts_left(app, auth):
    worker = auth.register()
    send(app, events.exam_failed, user_id=worker.id, exam_id=12, attempt_id=100, retake_at=None)
    note = only(app, worker.id)
    assert note.kind == "certification.failed_final"
    assert note.body["ko"] == "이 시험의 응시 기회를 모두 사용했어요."


def test_level_up_down_and_suspension(app, auth):
    worker = auth.register(locale="en")
    with app.app_context():
        skills.set_level(worker.id, "bbox", 2, "great gold accuracy", source="promotion")
        skills.set_level(worker.id, "bbox", 1, "gold accuracy fell below 80%", source="demotion")
        skills.set_level(worker.id, "bbox", 0, "certificate BBX-1 expired", source="lapse")
        db.session.commit()
    up, down, suspended = feed_rows(app, worker.id)
    assert (up.kind, up.title["en"]) == ("levels.up", "Level up!")
    assert up.body["en"] == "Your Bounding boxes level went from 0 to 2. Check the new work."
    assert down.kind == "levels.down"
    assert down.body["en"] == "Your Bounding boxes level went from 2 to 1. Reason: gold accuracy fell below 80%"
    assert suspended.kind == "levels.suspended" and suspended.data == {"screen": "skill", "skill": "bbox"}


def test_a_rejected_submission_says_why_and_an_approved_one_says_nothing(app, auth):
    worker = auth.register(locale="en")
    send(app, events.submission_reviewed, submission_id=41, user_id=worker.id, decision="approved",
         reason="", final=True)
    assert feed_rows(app, worker.id) == []
    send(app, events.submission_reviewed, submission_id=42, user_id=worker.id, decision="rejected",
         reason="The box cuts off the car's mirror.", final=True)
    note = only(app, worker.id)
    assert (note.kind, note.category) == ("tasks.rejected", "tasks")
    assert note.body == {"ko": "반려 사유: The box cuts off the car's mirror.",
                         "en": "Reason: The box cuts off the car's mirror."}
    assert note.data == {"screen": "submission", "id": "42"}


def test_an_appeals_answer_is_told_either_way(app, auth):
    worker = auth.register(locale="en")
    send(app, events.submission_reviewed, submission_id=43, user_id=worker.id, decision="rejected",
         reason={"ko": "잘못된 라벨", "en": "Wrong label"}, final=True, appeal=True)
    upheld = only(app, worker.id)
    assert (upheld.kind, upheld.title["en"]) == ("tasks.appeal_upheld", "Your appeal was not accepted")
    assert upheld.body == {"ko": "다른 검수자가 다시 보았지만 반려가 유지되었어요. 반려 사유: 잘못된 라벨",
                           "en": "Another reviewer looked again and the rejection stands. Reason: Wrong label"}
    send(app, events.submission_reviewed, submission_id=44, user_id=worker.id, decision="approved",
         reason=None, final=True, appeal=True)
    kinds = sorted(n.kind for n in feed_rows(app, worker.id))
    assert kinds == ["tasks.appeal_overturned", "tasks.appeal_upheld"]


def test_payout_paid_and_failed(app, auth):
    worker = auth.register()
    for status in ("queued", "sending", "transferred"):
        send(app, events.payout_changed, payout_id=8, user_id=worker.id, status=status, amount=1,
             currency="KRW", failure_reason=None)
    assert feed_rows(app, worker.id) == []
    send(app, events.payout_changed, payout_id=8, user_id=worker.id, status="paid", amount=123456,
         currency="KRW", failure_reason=None)
    send(app, events.payout_changed, payout_id=9, user_id=worker.id, status="failed", amount=1050,
         currency="USD", failure_reason="bank rejected")
    paid, failed = feed_rows(app, worker.id)
    assert paid.body["ko"] == "123,456원이(가) 지급 계좌로 송금되었어요."
    assert paid.body["en"] == "₩123,456 has been paid out to your account."
    assert failed.kind == "payouts.failed" and failed.body["en"].startswith("Your payout of $10.50 failed")
    # the bank refusing it later is a failure too; the reason may come in both languages
    send(app, events.payout_changed, payout_id=8, user_id=worker.id, status="bank_failed", amount=123456,
         currency="KRW", failure_reason={"ko": "계좌 해지됨", "en": "account closed"})
    bank = feed_rows(app, worker.id)[-1]
    assert bank.kind == "payouts.failed" and "(account closed)" in bank.body["en"] and "(계좌 해지됨)" in bank.body["ko"]
    # a replayed webhook that re-sends the same change adds nothing
    send(app, events.payout_changed, payout_id=8, user_id=worker.id, status="paid", amount=123456,
         currency="KRW", failure_reason=None)
    assert len(feed_rows(app, worker.id)) == 3


def test_a_notification_handler_that_fails_never_breaks_the_sender(app, auth, caplog):
    worker = auth.register()
    with app.app_context(), caplog.at_level(logging.ERROR, logger="backend.notifications.services"):
        user = db.session.get(User, worker.id)
        user.display_name = "changed by the sender"
        events.payout_changed.send(None, payout_id=1, user_id=worker.id, status="paid", amount="not money",
                                   currency="KRW", failure_reason=None)
        db.session.commit()  # the sender's own work is committed all the same
    assert "on_payout_changed failed" in caplog.text
    with app.app_context():
        assert db.session.get(User, worker.id).display_name == "changed by the sender"
    assert feed_rows(app, worker.id) == []


def test_events_for_unknown_or_deleted_users_are_ignored(app, auth):
    send(app, events.submission_reviewed, submission_id=1, user_id=987654, decision="rejected", reason="x",
         final=True)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar() == 0


def test_an_event_queues_pushes_in_the_senders_transaction(app, client, auth):
    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": "tok-1", "platform": "android"}, headers=worker.headers)
    with app.app_context():
        events.submission_reviewed.send(None, submission_id=5, user_id=worker.id, decision="rejected",
                                        reason="blurry", final=True)
        db.session.rollback()  # the review itself was rolled back: nothing happened
    assert feed_rows(app, worker.id) == [] and deliveries(app, worker.id) == []
    send(app, events.submission_reviewed, submission_id=5, user_id=worker.id, decision="rejected",
         reason="blurry", final=True)
    assert len(feed_rows(app, worker.id)) == 1 and len(deliveries(app, worker.id)) == 1
