"""A delivery is sent by one drain only: concurrent drains, a drain that died, a takeover."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import sqlalchemy as sa
import time_machine

from backend.accounts import services as accounts
from backend.database import utcnow
from backend.extensions import db
from backend.notifications import services
from backend.notifications.models import PushDelivery
from tests.notifications.helpers import deliveries, drain, notify, use_fcm
from tests.support.concurrency import failures, run_together


def test_concurrent_drains_send_every_push_exactly_once(committing_app, fcm_server, service_account_file):
    app = committing_app
    fcm_server.reset()
    use_fcm(app, fcm_server, service_account_file)
    tokens = []
    with app.app_context():
        for n in range(12):
            user = accounts.create_user(f"race{n}@example.com", "password 1234", f"race {n}", locale="en")
            for d in range(3):
                token = f"race-{n}-{d}:APA91b"
                services.register_device(user.id, token, "android")
                tokens.append(token)
            services.notify(user.id, "welcome")
        db.session.commit()
    results = run_together(4, lambda _index: drain(app, batch_size=5))
    assert not failures(results)
    assert sum(r.get("sent", 0) + r.get("retry", 0) for r in results) == 36  # each claimed once
    # a push the loopback server failed to answer under load waits for its backoff; let it go
    with time_machine.travel(utcnow() + dt.timedelta(hours=1)):
        drain(app)
    sent = Counter(message["token"] for message in fcm_server.messages)
    assert sent == Counter({token: 1 for token in tokens})
    assert {d.status for d in deliveries(app)} == {"sent"}
    fcm_server.reset()


def test_a_drain_that_died_after_claiming_is_taken_over_after_the_lease(app, fcm, workers):
    worker = workers.new()
    notify(app, worker.id, "welcome")
    with app.app_context():
        claimed = services._claim("dead-drain", 10, Counter())[1]
        db.session.commit()
    assert len(claimed) == 1
    # the dead drain's rows are not due for anyone else while its claim is fresh
    assert drain(app) == {}
    assert fcm.messages == []
    with time_machine.travel(utcnow() + services.CLAIM_LEASE + dt.timedelta(seconds=1)):
        assert drain(app) == {"sent": 1}
    assert [m["token"] for m in fcm.messages] == worker.tokens
    [delivery] = deliveries(app, worker.id)
    assert (delivery.status, delivery.attempts, delivery.claim_id) == ("sent", 2, None)
    # the dead drain's late answer would not overwrite anything: its claim id is gone
    with app.app_context():
        from backend.notifications import gateway as gateways

        totals = Counter()
        services._settle("dead-drain", claimed, [gateways.PushResult("retry", error="late")], totals)
        db.session.commit()
    assert deliveries(app, worker.id)[0].status == "sent" and totals == Counter()


def test_claimed_rows_are_marked_before_anything_is_sent(app, fcm, workers):
    worker = workers.new(devices=2)
    notify(app, worker.id, "welcome")
    fcm.down()
    with app.app_context():
        count, claimed = services._claim("c-1", 10, Counter())
        db.session.commit()
        rows = list(db.session.execute(sa.select(PushDelivery.status, PushDelivery.claim_id)).all())
    assert count == 2 and len(claimed) == 2
    assert rows == [("sending", "c-1"), ("sending", "c-1")]
    assert fcm.send_attempts() == []


def test_the_claim_locks_with_skip_locked_on_postgresql():
    from sqlalchemy.dialects import postgresql, sqlite

    statement = services.due_deliveries_statement(utcnow(), 100)
    on_postgresql = str(statement.compile(dialect=postgresql.dialect()))
    assert on_postgresql.rstrip().endswith("FOR UPDATE OF push_deliveries SKIP LOCKED")
    assert "FOR UPDATE" not in str(statement.compile(dialect=sqlite.dialect()))


def test_on_postgresql_a_second_drain_skips_rows_the_first_is_claiming(committing_app):
    """Two claim transactions at once take disjoint rows (SKIP LOCKED); on SQLite the second
    waits for the first's write lock instead, and then finds the rows claimed."""
    from backend.database import is_postgresql

    app = committing_app
    with app.app_context():
        for n in range(4):
            user = accounts.create_user(f"skip{n}@example.com", "password 1234", "skip")
            services.register_device(user.id, f"skip-{n}", "ios")
            services.notify(user.id, "welcome")
        db.session.commit()
        postgresql = is_postgresql(db.session)
    first_claimed, second_claimed, second_ran_meanwhile = [], [], []
    first_holds, second_done = threading.Event(), threading.Event()

    def first():
        with app.app_context():
            first_claimed.extend(services._claim("first", 2, Counter())[1])
            first_holds.set()
            # keep the transaction (and its row locks) open while the second drain claims
            second_ran_meanwhile.append(second_done.wait(10 if postgresql else 0.5))
            db.session.commit()

    def second():
        first_holds.wait(5)
        with app.app_context():
            second_claimed.extend(services._claim("second", 10, Counter())[1])
            db.session.commit()
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    mine = {c.delivery_id for c in first_claimed}
    theirs = {c.delivery_id for c in second_claimed}
    assert len(mine) == 2 and not mine & theirs and len(mine | theirs) == 4
    # PostgreSQL: the second did not wait for the first's locks; SQLite: it waited for its write lock
    assert second_ran_meanwhile == [postgresql]
    with app.app_context():
        assert services.outbox_counts() == {"sending": 4}
