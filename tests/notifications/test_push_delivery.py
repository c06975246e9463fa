"""The outbox against the FCM stand-in, through the real firebase-admin SDK."""

from __future__ import annotations

import datetime as dt
import logging
import warnings

import pytest
import sqlalchemy as sa
import time_machine

from backend import events
from backend.database import utcnow
from backend.extensions import db
from backend.notifications import gateway as gateways
from backend.notifications import services
from backend.notifications.models import Device, PushDelivery
from tests.notifications.helpers import deliveries, drain, feed_rows, notify


def pass_exam(app, user_id: int, code: str = "BBX-1-0001", skill: str = "bbox", level: int = 1) -> None:
    """What quizzes does when a worker passes: send certificate_issued inside its transaction."""
    with app.app_context():
        events.certificate_issued.send(None, user_id=user_id, skill=skill, level=level, code=code,
                                       expires_at=utcnow() + dt.timedelta(days=365), exam_id=7)
        db.session.commit()


def test_a_worker_passes_an_exam_and_fcm_gets_one_message_in_their_language(app, client, fcm, workers):
    worker = workers.new(locale="en")
    pass_exam(app, worker.id)

    result = drain(app)

    assert result == {"sent": 1}
    assert len(fcm.messages) == 1  # the level change the certificate caused sends nothing more
    message = fcm.messages[0]
    assert message["token"] == worker.tokens[0]
    assert message["notification"]["title"] == "You passed! Your certificate is ready"
    assert "Bounding boxes level 1 certificate (BBX-1-0001)" in message["notification"]["body"]
    assert message["data"]["screen"] == "certificate" and message["data"]["code"] == "BBX-1-0001"
    assert message["data"]["category"] == "certification"
    assert message["android"]["priority"] == "normal"
    assert message["android"]["notification"]["channel_id"] == "certification"
    assert message["apns"]["headers"]["apns-push-type"] == "alert"
    assert message["apns"]["payload"]["aps"]["sound"] == "default"
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "sent" and delivery.message_id.startswith("projects/labelpath-test/messages/")
    # the feed has it too, in the worker's language
    page = client.get("/api/v1/me/notifications", headers=worker.headers).get_json()
    assert [item["title"] for item in page["items"]] == ["You passed! Your certificate is ready"]
    assert drain(app) == {}  # a recorded success is never sent again
    assert len(fcm.messages) == 1


def test_a_korean_worker_gets_korean(app, fcm, workers):
    worker = workers.new(locale="ko")
    pass_exam(app, worker.id)
    drain(app)
    [message] = fcm.messages
    assert message["notification"]["title"] == "시험 합격! 인증서가 발급되었어요"
    assert "바운딩 박스 레벨 1 인증서(BBX-1-0001)" in message["notification"]["body"]


def test_the_language_is_the_one_the_worker_has_when_the_push_goes(app, client, fcm, workers):
    worker = workers.new(locale="ko")
    pass_exam(app, worker.id)
    client.patch("/api/v1/me", json={"locale": "en"}, headers=worker.headers)
    drain(app)
    assert fcm.messages[0]["notification"]["title"] == "You passed! Your certificate is ready"


def test_one_push_per_device_and_none_without_devices(app, fcm, workers):
    two = workers.new(devices=2, platform="ios")
    none = workers.new(devices=0)
    pass_exam(app, two.id, code="C-2")
    pass_exam(app, none.id, code="C-3")
    assert drain(app) == {"sent": 2}
    assert sorted(m["token"] for m in fcm.messages) == sorted(two.tokens)
    assert deliveries(app, none.id) == [] and len(feed_rows(app, none.id)) == 1


def test_outbox_survives_an_outage_and_delivers_once_fcm_is_back(app, fcm, workers):
    worker = workers.new()
    pass_exam(app, worker.id)
    fcm.down("refuse")
    assert drain(app) == {"retry": 1}
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "pending" and delivery.last_error == "UNAVAILABLE"
    assert delivery.next_attempt_at > utcnow()
    assert drain(app) == {}  # not due yet: the backoff holds it
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1)) as clock:
        fcm.up()
        fcm.down("drop")  # up again, but every request is dropped unanswered
        assert drain(app) == {"retry": 1}
        [delivery] = deliveries(app, worker.id)
        assert delivery.status == "pending" and delivery.attempts == 2
        fcm.up()
        clock.move_to(delivery.next_attempt_at + dt.timedelta(seconds=1))
        assert drain(app) == {"sent": 1}
    assert len(fcm.messages) == 1 and fcm.messages[0]["token"] == worker.tokens[0]
    [delivery] = deliveries(app, worker.id)
    assert (delivery.status, delivery.attempts) == ("sent", 3)


@pytest.mark.parametrize("kind, code", [("internal", "INTERNAL"), ("unavailable", "UNAVAILABLE"),
                                        ("quota_exceeded", "QUOTA_EXCEEDED")])
def test_transient_fcm_errors_are_retried_later(app, fcm, workers, kind, code):
    worker = workers.new()
    fcm.fail_token(worker.tokens[0], kind, retry_after=600 if kind == "quota_exceeded" else None)
    pass_exam(app, worker.id)
    started = utcnow()
    assert drain(app) == {"retry": 1}
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "pending" and delivery.last_error == code
    if kind == "quota_exceeded":  # FCM's Retry-After is honoured, without sleeping in the drain
        assert delivery.next_attempt_at >= started + dt.timedelta(seconds=600)
        assert len(fcm.send_attempts(worker.tokens[0])) == 1
    else:
        assert started + dt.timedelta(seconds=15) <= delivery.next_attempt_at <= utcnow() + dt.timedelta(seconds=30)
    fcm.clear_token(worker.tokens[0])
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1)):
        assert drain(app) == {"sent": 1}
    assert len(fcm.messages) == 1


def test_backoff_grows_exponentially_with_jitter_and_gives_up_in_the_end(app, fcm, workers):
    worker = workers.new()
    fcm.fail_token(worker.tokens[0], "unavailable")
    pass_exam(app, worker.id)
    delays = []
    with time_machine.travel(utcnow()) as clock:
        for _ in range(5):
            before = utcnow()
            assert drain(app) == {"retry": 1}
            [delivery] = deliveries(app, worker.id)
            delays.append((delivery.next_attempt_at - before).total_seconds())
            clock.move_to(delivery.next_attempt_at + dt.timedelta(seconds=1))
        for step, delay in enumerate(delays):
            full = services.BACKOFF_BASE_S * 2 ** step
            assert full / 2 - 1 <= delay <= full + 1, (step, delays)
        assert len(set(round(d) for d in delays)) == 5
        with app.app_context():
            db.session.execute(sa.update(PushDelivery).values(attempts=services.MAX_ATTEMPTS - 1))
            db.session.commit()
        assert drain(app) == {"retry": 1}
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "failed" and delivery.last_error.startswith(f"gave up after {services.MAX_ATTEMPTS} attempts")
    assert len(feed_rows(app, worker.id)) == 1  # the feed keeps it
    assert len(fcm.send_attempts(worker.tokens[0])) == 6 * 2  # one in-drain retry of a 503 each


def test_backoff_delay_is_capped_and_respects_retry_after():
    import random

    rng = random.Random(1)
    assert services.backoff_delay(50, rng=rng) <= dt.timedelta(seconds=services.BACKOFF_CAP_S)
    assert services.backoff_delay(50, rng=rng) >= dt.timedelta(seconds=services.BACKOFF_CAP_S / 2)
    assert services.backoff_delay(1, retry_after=300, rng=rng) >= dt.timedelta(seconds=300)
    assert services.backoff_delay(1, retry_after=10**6, rng=rng) <= dt.timedelta(seconds=services.BACKOFF_CAP_S)


@pytest.mark.parametrize("kind, code", [("unregistered", "UNREGISTERED"),
                                        ("invalid_argument", "INVALID_ARGUMENT"),
                                        ("sender_id_mismatch", "SENDER_ID_MISMATCH")])
def test_dead_tokens_are_pruned_and_the_other_devices_still_get_theirs(app, client, fcm, workers, kind, code):
    worker = workers.new(devices=2)
    dead, alive = worker.tokens
    fcm.fail_token(dead, kind)
    pass_exam(app, worker.id, code="C-1")
    pass_exam(app, worker.id, code="C-2")

    # batches of two: the first answer removes the token before the second push to it is sent
    assert drain(app, batch_size=2) == {"sent": 2, "invalid_token": 1, "tokens_removed": 1}
    with app.app_context():
        assert list(db.session.execute(sa.select(Device.token)).scalars()) == [alive]
    rows = deliveries(app, worker.id)
    assert sorted((r.status, r.last_error or "") for r in rows) == [
        ("cancelled", "token no longer valid at FCM"), ("failed", code), ("sent", ""), ("sent", "")]
    assert len(fcm.send_attempts(dead)) == 1  # the second push to the dead token never went out
    assert [m["token"] for m in fcm.messages] == [alive, alive]
    listed = client.get("/api/v1/me/devices", headers=worker.headers).get_json()["items"]
    assert [d["token"] for d in listed] == [alive]


def test_an_invalid_argument_not_about_the_token_keeps_the_token():
    from firebase_admin import exceptions

    class Response:
        headers = {}

        def json(self):
            return {"error": {"status": "INVALID_ARGUMENT", "message": "Message payload too big",
                              "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                           "fieldViolations": [{"field": "message.data"}]}]}}

    result = gateways.classify(exceptions.InvalidArgumentError("Message payload too big",
                                                                http_response=Response()))
    assert result.outcome == "rejected"


def test_an_oauth_failure_keeps_the_whole_batch_for_later(app, fcm, workers):
    worker = workers.new()
    pass_exam(app, worker.id)
    with app.app_context():
        gateway = services.push_gateway()
    gateway.app.credential.get_credential().token = None  # force a fresh access token
    gateway.app.credential.get_credential().expiry = None
    fcm.fail_next("invalid_grant", endpoint="token")
    assert drain(app) == {"retry": 1}
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "pending" and fcm.messages == []
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1)):
        assert drain(app) == {"sent": 1}


def test_big_outboxes_go_in_batches(app, fcm, workers):
    worker = workers.new(devices=3)
    for n in range(7):
        notify(app, worker.id, "welcome", dedupe_key=f"w{n}")
    assert drain(app, batch_size=4) == {"sent": 21}
    assert len(fcm.messages) == 21
    with app.app_context():
        assert services.push_gateway().batch_size == 100  # FCM_BATCH_SIZE's default
    huge = gateways.from_config({**app.config, "FCM_BATCH_SIZE": 10_000})
    assert huge.batch_size == 500  # send_each takes at most 500 messages


def test_message_token_field_is_used_without_a_deprecation_warning():
    push = gateways.Push(token="reg-token", platform="android", title="t", body="b", data={"a": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = gateways.FcmGateway.build_message(push)
    assert message.token == "reg-token" and message.fid is None and message.data == {"a": "1"}


def test_without_credentials_pushes_go_to_the_log(app, workers, caplog):
    assert not app.config["FIREBASE_CREDENTIALS"]
    worker = workers.new(locale="en")
    pass_exam(app, worker.id)
    with caplog.at_level(logging.INFO, logger="backend.notifications.gateway"):
        assert drain(app) == {"sent": 1}
    assert "You passed! Your certificate is ready" in caplog.text
    with app.app_context():
        assert isinstance(services.push_gateway(), gateways.LogGateway)
    [delivery] = deliveries(app, worker.id)
    assert delivery.status == "sent"


def test_firebase_admin_still_has_what_the_gateway_relies_on(app, fcm):
    """Fails when firebase-admin moves the private names the FCM wiring uses."""
    from firebase_admin import messaging

    assert messaging._MessagingService.FCM_URL == "https://fcm.googleapis.com/v1/projects/{0}/messages:send"
    with app.app_context():
        gateway = services.push_gateway()
    service = messaging._get_messaging_service(gateway.app)
    assert service._fcm_url == f"{fcm.url}/v1/projects/labelpath-test/messages:send"
    adapter = service._client.session.get_adapter(service._fcm_url)
    assert adapter.max_retries.respect_retry_after_header is False  # no Retry-After sleeps in a drain
    assert adapter.max_retries.backoff_factor == 0 and adapter.max_retries.status == 1
    assert gateway.app.options.get("httpTimeout") == 5


def test_the_credentials_may_be_the_key_file_or_its_json(app, fcm, workers, service_account_file):
    with open(service_account_file) as handle:
        app.config["FIREBASE_CREDENTIALS"] = handle.read()
    app.extensions.pop("labelpath_push_gateway", None)
    worker = workers.new()
    pass_exam(app, worker.id)
    assert drain(app) == {"sent": 1}
    assert fcm.token_grants and fcm.messages_to(worker.tokens[0])
