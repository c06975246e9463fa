"""Quiet hours in the worker's own timezone delay pushes to their end; urgent ones go at once."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine

from backend import events
from backend.extensions import db
from backend.notifications import services
from backend.notifications.services import quiet_hours_end
from tests.notifications.helpers import deliveries, drain, feed_rows, notify

SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
UTC = dt.UTC


def at(tz, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize("local, start, end, until", [
    ((2026, 11, 27, 23, 30), "22:00", "07:00", (2026, 11, 28, 7, 0)),   # before midnight
    ((2026, 11, 28, 1, 15), "22:00", "07:00", (2026, 11, 28, 7, 0)),    # after midnight
    ((2026, 11, 28, 22, 0), "22:00", "07:00", (2026, 11, 29, 7, 0)),    # the first minute
    ((2026, 11, 28, 7, 0), "22:00", "07:00", None),                     # the end is not quiet
    ((2026, 11, 28, 12, 0), "22:00", "07:00", None),
    ((2026, 11, 28, 13, 0), "12:30", "14:00", (2026, 11, 28, 14, 0)),   # a lunch break
    ((2026, 11, 28, 14, 30), "12:30", "14:00", None),
])
def test_quiet_hours_end(local, start, end, until):
    expected = at(SEOUL, *until) if until else None
    assert quiet_hours_end(at(SEOUL, *local), "Asia/Seoul", start, end) == expected


def test_quiet_hours_follow_the_workers_timezone_and_its_daylight_saving():
    ny = zoneinfo.ZoneInfo("America/New_York")
    # 23:00 in New York is 13:00 the next day in Seoul: quiet there, not in Seoul
    now = at(ny, 2026, 3, 7, 23, 0)
    assert quiet_hours_end(now, "Asia/Seoul", "22:00", "07:00") is None
    # the night clocks go forward (8 March 2026): 07:00 EDT is 11:00 UTC, not 12:00
    assert quiet_hours_end(now, "America/New_York", "22:00", "07:00") == dt.datetime(2026, 3, 8, 11, 0, tzinfo=UTC)


def set_quiet_hours(client, worker, start="22:00", end="07:00"):
    response = client.put("/api/v1/me/notification-preferences", headers=worker.headers,
                          json={"quiet_hours": {"start": start, "end": end}})
    assert response.status_code == 200, response.get_json()


def test_a_push_in_quiet_hours_waits_for_their_end_and_is_not_dropped(app, client, fcm, workers):
    worker = workers.new(timezone="Asia/Seoul")
    set_quiet_hours(client, worker)
    with time_machine.travel(at(SEOUL, 2026, 11, 27, 23, 30)) as clock:
        note = notify(app, worker.id, "welcome")
        [delivery] = deliveries(app, worker.id)
        assert delivery.next_attempt_at == at(SEOUL, 2026, 11, 28, 7, 0)
        assert drain(app) == {}
        clock.move_to(at(SEOUL, 2026, 11, 28, 6, 59))
        assert drain(app) == {} and fcm.messages == []
        clock.move_to(at(SEOUL, 2026, 11, 28, 7, 0, 5))
        assert drain(app) == {"sent": 1}
    assert fcm.messages[0]["data"]["notification_id"] == str(note)
    assert [n.id for n in feed_rows(app, worker.id)] == [note]  # the feed had it all along


def test_quiet_hours_set_after_a_push_was_queued_still_hold_it(app, client, fcm, workers):
    worker = workers.new(timezone="Asia/Seoul")
    with time_machine.travel(at(SEOUL, 2026, 11, 27, 23, 30)) as clock:
        notify(app, worker.id, "welcome")
        with app.app_context():
            services.update_preferences(worker.id, quiet_hours={"start": "22:00", "end": "07:00"})
            db.session.commit()
        assert drain(app) == {"deferred": 1}
        [delivery] = deliveries(app, worker.id)
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert delivery.next_attempt_at == at(SEOUL, 2026, 11, 28, 7, 0)
        clock.move_to(at(SEOUL, 2026, 11, 28, 7, 1))
        assert drain(app) == {"sent": 1}


def test_a_retry_that_falls_in_quiet_hours_waits_for_their_end(app, client, fcm, workers):
    worker = workers.new(timezone="Asia/Seoul")
    set_quiet_hours(client, worker)
    with time_machine.travel(at(SEOUL, 2026, 11, 27, 21, 59, 50)) as clock:
        notify(app, worker.id, "welcome")
        fcm.down()
        assert drain(app) == {"retry": 1}
        fcm.up()
        clock.move_to(at(SEOUL, 2026, 11, 27, 22, 30))
        assert drain(app) == {"deferred": 1} and fcm.messages == []
        clock.move_to(at(SEOUL, 2026, 11, 28, 7, 0, 1))
        assert drain(app) == {"sent": 1}


@pytest.mark.parametrize("event", ["payout_failed", "security"])
def test_security_and_payout_failure_ignore_quiet_hours(app, client, fcm, workers, event):
    worker = workers.new(locale="en", timezone="Asia/Seoul")
    workers.add_device(worker, token="second-phone:APA91b")
    other = workers.auth.register()
    set_quiet_hours(client, worker)
    with time_machine.travel(at(SEOUL, 2026, 11, 27, 23, 30)):
        if event == "payout_failed":
            with app.app_context():
                events.payout_changed.send(None, payout_id=5, user_id=worker.id, status="failed", amount=50000,
                                           currency="KRW", failure_reason="account closed")
                db.session.commit()
        else:  # the worker's token is taken over by another account on a shared phone
            with app.app_context():
                services.register_device(other.id, worker.tokens[0], "android")
                db.session.commit()
        assert drain(app) == {"sent": 1 if event == "security" else 2}
    [message] = fcm.messages if event == "security" else fcm.messages_to(worker.tokens[0])
    assert message["android"]["priority"] == "high" and message["apns"]["headers"]["apns-priority"] == "10"
    if event == "payout_failed":
        assert message["notification"]["title"] == "Payout failed"
        assert message["notification"]["body"] == ("Your payout of ₩50,000 failed (account closed). "
                                                   "Please check your payout account.")
    else:
        assert message["token"] == "second-phone:APA91b"
        assert message["notification"]["title"] == "Another account signed in on your device"


def test_a_payout_paid_notice_does_wait(app, client, fcm, workers):
    worker = workers.new(timezone="Asia/Seoul")
    set_quiet_hours(client, worker)
    with time_machine.travel(at(SEOUL, 2026, 11, 27, 23, 30)):
        with app.app_context():
            events.payout_changed.send(None, payout_id=6, user_id=worker.id, status="paid", amount=12000,
                                       currency="KRW", failure_reason=None)
            db.session.commit()
        assert drain(app) == {}
    assert fcm.messages == []
