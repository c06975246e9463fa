"""The hot path stays a handful of statements (issue #10): one lease and the engine's part of one
submission, counted with a before_cursor_execute listener (transaction control not counted).

PostgreSQL: a lease is the worker-row lock, one read (counts, levels, candidate projects) and one
claim that inserts the assignments in the same statement; a submission is the assignment row
FOR UPDATE and one statement that counts the answer, closes the lease and stores the answer.
SQLite has no INSERT/UPDATE inside WITH: the claim and the insert, and the three writes of a
submission, are separate statements there.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa

from backend import events
from backend.database import is_postgresql
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Assignment

from .conftest import certify, classification_tasks, clock, make_project

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextlib.contextmanager
def _sql():
    seen: list[str] = []

    def listener(_conn, _cursor, statement, _params, _context, _executemany):
        text = " ".join(statement.split())
        if not text.upper().startswith(CONTROL):
            seen.append(text)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def _expected(lease_pg: int, lease_sqlite: int) -> int:
    return lease_pg if is_postgresql(db.session) else lease_sqlite


def test_one_lease_and_one_submission_stay_a_few_statements(app, auth, monkeypatch):
    with clock():
        project = make_project(app, tasks=classification_tasks(10), overlap=2)
        worker = auth.register()
        certify(app, worker.id)
        with app.app_context():
            microtasks.lease(worker.id, 1)  # the first lease creates the worker row
            db.session.commit()

            with _sql() as lease_sql:
                [held] = microtasks.lease(worker.id, 1)
            assert len(lease_sql) == _expected(3, 4), "\n".join(lease_sql)
            with _sql() as chosen_sql:
                assert len(microtasks.lease(worker.id, 2, project)) == 2
            assert len(chosen_sql) == _expected(3, 4), "\n".join(chosen_sql)
            db.session.commit()

            at_send: list[int] = []
            send = events.submission_accepted.send

            def counting_send(*args, **kwargs):
                at_send.append(len(submit_sql))
                return send(*args, **kwargs)

            monkeypatch.setattr(events.submission_accepted, "send", counting_send)
            with _sql() as submit_sql:
                assert microtasks.submit(worker.id, held["id"], {"label": "pos"}, 900)["status"] == "accepted"
            engine_part = submit_sql[:at_send[0]]
            assert len(engine_part) == _expected(2, 4), "\n".join(engine_part)
            db.session.commit()


def test_a_lease_one_project_cannot_fill_is_written_once_with_the_next_projects_tasks(app, auth):
    """The claim writes the assignments itself only when it alone completes the lease; a shorter
    claim's tasks are written with the next project's in one insert (never twice, never lost)."""
    with clock():
        first = make_project(app, tasks=classification_tasks(2), priority=5)
        second = make_project(app, tasks=classification_tasks(3, start=10), priority=1)
        worker = auth.register()
        certify(app, worker.id)
        with app.app_context():
            with _sql() as sql:
                got = microtasks.lease(worker.id, 4)
            # lock, candidates, claim of the first project (2 of 4), claim of the second, one insert
            assert len(sql) == 5, "\n".join(sql)
            assert sum(s.startswith("INSERT INTO assignments") for s in sql) == 1, "\n".join(sql)
            assert sorted(a["project_id"] for a in got) == sorted([first, first, second, second])
            rows = db.session.execute(sa.select(Assignment.id, Assignment.task_id)).all()
            assert sorted(rows) == sorted((a["id"], a["task"]["id"]) for a in got)
            assert len({a["id"] for a in got}) == 4
            db.session.commit()
