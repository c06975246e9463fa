"""Races with real commits from many connections, and the claim's query plan on PostgreSQL.

Every thread is a different worker with its own app context (its own session and connection),
claiming and submitting until the project has nothing left it may take. Whatever the
interleaving, each task ends with exactly `overlap` answers from distinct workers.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from backend.accounts import services as accounts
from backend.database import is_postgresql, utcnow
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Assignment, Submission, Task
from backend.microtasks.services import leasing
from backend.skills import services as skills
from tests.conftest import TEST_DB

from .conftest import classification_tasks, make_project


def _workers(app, n: int) -> list[int]:
    with app.app_context():
        skills.ensure_starter_skills()
        password_hash = accounts.hash_password("race password 1")  # hash once (TRAPS.md)
        ids = []
        for i in range(n):
            user = accounts.create_user(f"racer{i}@example.com", "unused", f"racer {i}",
                                        password_hash=password_hash)
            skills.set_level(user.id, "llm_eval", 1, "race", source="override")
            ids.append(user.id)
        db.session.commit()
        return ids


def _drain(app, project_id: int, user_id: int, barrier: threading.Barrier) -> list[int]:
    """Claim 1–5 slots at a time and submit them, until nothing is left for this worker."""
    rng = random.Random(user_id)
    taken: list[int] = []
    with app.app_context():
        barrier.wait()
        while True:
            got = microtasks.lease(user_id, rng.randint(1, 5), project_id)
            db.session.commit()
            for item in got:
                microtasks.submit(user_id, item["id"], {"label": rng.choice(["pos", "neg"])}, 900)
                db.session.commit()
                taken.append(item["task"]["id"])
            if got:
                continue
            # Empty: slots may be locked by a claim in flight (SKIP LOCKED); stop only when the
            # project really has nothing left that this worker may take.
            left = db.session.execute(microtasks.open_work_statement(project_id, user_id, 1)).first()
            db.session.rollback()
            if left is None:
                return taken
            time.sleep(0.002)


def _race(app, tasks: int, overlap: int, threads: int):
    project_id = make_project(app, tasks=classification_tasks(tasks), overlap=overlap, lease_seconds=600)
    workers = _workers(app, threads)
    app.config["MICROTASKS_MAX_OPEN_LEASES"] = 20
    barrier = threading.Barrier(threads)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(_drain, app, project_id, user_id, barrier) for user_id in workers]
        per_worker = {user_id: future.result(timeout=300) for user_id, future in zip(workers, futures, strict=True)}
    with app.app_context():
        pairs = db.session.execute(sa.select(Assignment.task_id, Assignment.user_id)).all()
        answers = db.session.execute(sa.select(Submission.task_id, Submission.user_id)).all()
        slots = db.session.execute(sa.select(Task.open_slots, Task.answer_count)).all()
    return per_worker, pairs, answers, slots


def test_race_many_workers_claim_every_slot_exactly_once(committing_app):
    """PostgreSQL: 50 workers on 50 connections, 100 tasks × overlap 3. SQLite: the same, smaller."""
    scale = dict(tasks=100, overlap=3, threads=50) if TEST_DB == "postgresql" else \
        dict(tasks=20, overlap=3, threads=8)
    per_worker, pairs, answers, slots = _race(committing_app, **scale)
    _check(per_worker, pairs, answers, slots, tasks=scale["tasks"], overlap=scale["overlap"])


def _check(per_worker, pairs, answers, slots, *, tasks: int, overlap: int) -> None:
    total = tasks * overlap
    assert len(pairs) == total and len(set(pairs)) == total, "exactly overlap × tasks distinct slots"
    assert sorted(answers) == sorted(pairs), "every slot answered once"
    assert set(Counter(task for task, _ in pairs).values()) == {overlap}
    assert all(len(got) == len(set(got)) for got in per_worker.values()), "no worker twice on a task"
    assert sum(len(got) for got in per_worker.values()) == total
    assert set(slots) == {(0, overlap)}


# ------------------------------------------------------------------------------ EXPLAIN


def _plan(statement, **values) -> str:
    """EXPLAIN of a statement with its bound values (`values`: those of the engine's constant
    statements, by name; PostgreSQL only)."""
    compiled = statement.compile(dialect=db.session.get_bind().dialect,
                                 compile_kwargs={"render_postcompile": True})
    if is_postgresql(db.session):
        explain, params = "EXPLAIN", {**compiled.params, **values}
    else:
        explain, params = "EXPLAIN QUERY PLAN", tuple(compiled.params[name] for name in compiled.positiontup)
    rows = db.session.connection().exec_driver_sql(f"{explain} {compiled}", params).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_claim_uses_the_indexes(app):
    """The plans of the claim, the gold draw and the reclaim walk the partial indexes."""
    big = make_project(app, tasks=classification_tasks(20_000, gold=200), overlap=3, gold_ratio=0.1)
    done = make_project(app, tasks=classification_tasks(5_000, start=50_000), overlap=3)
    [worker] = _workers(app, 1)
    with app.app_context():
        app.config["MICROTASKS_MAX_OPEN_LEASES"] = 1000
        for _ in range(10):
            microtasks.lease(worker, 20, big)
        # A history of 5,000 answered leases, as a working database has.
        now = utcnow()
        history = db.session.execute(sa.select(Task.id).where(Task.project_id == done)).scalars().all()
        db.session.execute(sa.insert(Assignment.__table__), [
            {"task_id": task_id, "project_id": done, "user_id": worker, "is_gold": False, "sensitive": False,
             "status": "submitted", "reward_amount": 50, "currency": "KRW", "leased_at": now,
             "lease_expires_at": now, "ended_at": now} for task_id in history])
        db.session.execute(sa.text("ANALYZE"))
        claim = _plan(microtasks.claim_statement(big, worker, 1, 5))
        gold = _plan(microtasks.gold_statement(big, worker, 1, 2, 12345, False))
        reclaim = _plan(microtasks.reclaim_statement(utcnow(), 100, [big]))
        print(f"\n--- claim ({TEST_DB}):\n{claim}\n--- gold:\n{gold}\n--- reclaim:\n{reclaim}")
        postgres = is_postgresql(db.session)
        if postgres:  # the claim as a lease sends it there: it also writes the assignments
            now = utcnow()
            statements = leasing.hot_path_statements()
            recorded = _plan(statements["claim_and_record"], pid=big, uid=worker, level=1, limit=5,
                             p_sensitive=False, p_reward=50, p_currency="KRW", now=now, p_expires=now)
            candidates = _plan(statements["candidates"], uid=worker, now=now, day_ago=now)
            print(f"--- claim and record:\n{recorded}\n--- candidates:\n{candidates}")
    # The NOT EXISTS is one probe of the (task_id, user_id) unique index.
    unique_index = "uq_assignments_task_id_user_id" if postgres else "sqlite_autoindex_assignments_1"
    assert "ix_tasks_claimable" in claim and unique_index in claim
    assert "ix_tasks_gold" in gold
    assert "ix_assignments_open_by_project" in reclaim
    if postgres:
        assert "Seq Scan" not in claim + gold + reclaim + recorded
        assert "LockRows" in claim and "LockRows" in recorded
        assert "ix_tasks_claimable" in recorded and unique_index in recorded
        assert "ix_assignments_open_by_user" in candidates and "ix_assignments_sensitive_by_user" in candidates
    else:
        assert "SCAN t\n" not in claim + "\n" and "SCAN a\n" not in reclaim + "\n"
