"""The ceiling: the SQL of a lease + answer cycle straight through psycopg, no HTTP, no Flask, no ORM.

Each virtual phone is a thread with its own connection (at most 64 connections: TRAPS.md), doing
what the app's requests send to PostgreSQL, statement for statement and in the same transactions:

- lease: the auth user load, then the engine's own statements (`hot_path_statements`, compiled
  for psycopg): the worker-row upsert (the per-worker lock), the one read of the worker's counts,
  levels and candidate projects (without the ones the worker is paused on), the claim that also
  writes the assignment; or, when gold is drawn at the project's gold ratio, the gold draw, the
  open-work check and the assignment insert; COMMIT.
- submit: the auth user load, the idempotency lookup, the engine's assignment row FOR UPDATE and
  its one statement that counts the answer, closes the lease and stores the answer; the reward
  booking (reward, balance, ledger entry), the quality review (the worker's project stats upsert;
  a review sample at REVIEW_SAMPLE_RATE; the project's pace is cached per process), the
  idempotency record; COMMIT.
- the same mix as the phones: 10 % of leases abandoned, 5 % of submissions replayed (user load +
  idempotency lookup, as the app answers a replay).

The engine's statements are compiled from the engine itself, so they cannot drift; the other
domains' statements are written here with the text the app's SQL log shows (bench/sqllog.py
captures it; the report lists both so a drift shows). Answer validation, grading and JSON are the
app's Python work and are not part of the ceiling.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import threading
import time
import uuid

import psycopg

from bench.report import LoadRow

MAX_CONNECTIONS = 64

# The other domains' statements, as the app's SQL log showed them on 2026-11-27 (steady state: the
# project's pace is cached per process, the worker's balance and project stats rows exist).
USER = ("SELECT users.id, users.role, users.locale FROM users WHERE users.id = %(user_id)s::INTEGER AND "
        "users.deleted_at IS NULL")
FIND_KEY = (
    "SELECT idempotency_records.fingerprint, idempotency_records.status_code, idempotency_records.response_body "
    "FROM idempotency_records WHERE idempotency_records.user_id = %(user_id)s AND idempotency_records.key = "
    "%(key)s::VARCHAR")
INSERT_REWARD = (
    "INSERT INTO rewards (user_id, submission_id, project_id, task_id, amount, currency, gold, status, "
    "available_at, decided_at, created_at) VALUES (%(user_id)s::INTEGER, %(submission_id)s::BIGINT, "
    "%(project_id)s::BIGINT, %(task_id)s::BIGINT, %(amount)s::BIGINT, %(currency)s::VARCHAR, %(gold)s, "
    "%(status)s::VARCHAR, %(available_at)s::TIMESTAMP WITH TIME ZONE, %(decided_at)s::TIMESTAMP WITH TIME ZONE, "
    "%(created_at)s::TIMESTAMP WITH TIME ZONE) ON CONFLICT (submission_id) DO NOTHING RETURNING rewards.id")
UPDATE_BALANCE = (
    "UPDATE worker_balances SET pending=(worker_balances.pending + %(d_pending)s::BIGINT), "
    "available=(worker_balances.available + %(d_available)s::BIGINT), "
    "processing=(worker_balances.processing + %(d_processing)s::BIGINT), "
    "paid_out=(worker_balances.paid_out + %(d_paid_out)s::BIGINT), updated_at=%(b_now)s::TIMESTAMP WITH TIME ZONE "
    "WHERE worker_balances.user_id = %(b_user_id)s::INTEGER AND worker_balances.currency = %(b_currency)s::VARCHAR "
    "RETURNING worker_balances.available")
INSERT_BALANCE = (  # the worker's first money in this currency, then UPDATE_BALANCE again
    "INSERT INTO worker_balances (user_id, currency, pending, available, processing, paid_out, updated_at) VALUES "
    "(%(user_id)s::INTEGER, %(currency)s::VARCHAR, %(pending)s::BIGINT, %(available)s::BIGINT, "
    "%(processing)s::BIGINT, %(paid_out)s::BIGINT, %(updated_at)s::TIMESTAMP WITH TIME ZONE) ON CONFLICT "
    "(user_id, currency) DO NOTHING")
INSERT_LEDGER = (
    "INSERT INTO ledger_entries (user_id, currency, kind, pending_delta, available_delta, processing_delta, "
    "paid_out_delta, available_after, reward_id, payout_id, reason, actor_id, detail, created_at) VALUES "
    "(%(user_id)s::INTEGER, %(currency)s::VARCHAR, %(kind)s::VARCHAR, %(pending_delta)s::BIGINT, "
    "%(available_delta)s::BIGINT, %(processing_delta)s::BIGINT, %(paid_out_delta)s::BIGINT, "
    "%(available_after)s::BIGINT, %(reward_id)s::INTEGER, %(payout_id)s::INTEGER, %(reason)s::JSON, "
    "%(actor_id)s::INTEGER, %(detail)s::JSON, %(created_at)s::TIMESTAMP WITH TIME ZONE) RETURNING ledger_entries.id")
# The quality review on submission_accepted (backend/quality/review.py, floors.py): one upsert of
# the worker's project stats, and a review sample now and then.
STATS = (
    "INSERT INTO worker_project_stats (user_id, project_id, answers, gold_answers, gold_correct, fast_answers, "
    "recent_gold, recent_fast, updated_at) VALUES (%(user_id)s::INTEGER, %(project_id)s::INTEGER, "
    "%(answers)s::INTEGER, %(gold_answers)s::INTEGER, %(gold_correct)s::INTEGER, %(fast_answers)s::INTEGER, "
    "%(recent_gold)s::VARCHAR, %(recent_fast)s::VARCHAR, %(updated_at)s::TIMESTAMP WITH TIME ZONE) ON CONFLICT "
    "(user_id, project_id) DO UPDATE SET answers = (worker_project_stats.answers + excluded.answers), "
    "gold_answers = (worker_project_stats.gold_answers + excluded.gold_answers), "
    "gold_correct = (worker_project_stats.gold_correct + excluded.gold_correct), "
    "fast_answers = (worker_project_stats.fast_answers + excluded.fast_answers), "
    "recent_gold = right(worker_project_stats.recent_gold || excluded.recent_gold, 200), "
    "recent_fast = right(worker_project_stats.recent_fast || excluded.recent_fast, 200), "
    "updated_at = excluded.updated_at RETURNING worker_project_stats.answers, worker_project_stats.gold_answers, "
    "worker_project_stats.gold_correct, worker_project_stats.fast_answers, worker_project_stats.recent_gold, "
    "worker_project_stats.recent_fast, worker_project_stats.updated_at")
INSERT_SAMPLE = (
    "INSERT INTO review_samples (submission_id, user_id, project_id, reasons, status, created_at, due_at) VALUES "
    "(%(submission_id)s::INTEGER, %(user_id)s::INTEGER, %(project_id)s::INTEGER, %(reasons)s::JSON, "
    "%(status)s::VARCHAR, %(created_at)s::TIMESTAMP WITH TIME ZONE, %(due_at)s::TIMESTAMP WITH TIME ZONE)")
REVIEW_SAMPLE_RATE = 0.05  # REVIEW_SAMPLE_RATE; the first answers of a worker in a project are sampled more
INSERT_KEY = (
    "INSERT INTO idempotency_records (user_id, key, fingerprint, status_code, response_body, created_at) VALUES "
    "(%(user_id)s::INTEGER, %(key)s::VARCHAR, %(fingerprint)s::VARCHAR, %(status_code)s::INTEGER, "
    "%(response_body)s::JSON, %(created_at)s::TIMESTAMP WITH TIME ZONE) RETURNING idempotency_records.id")


class Compiled:
    """An engine statement compiled once for psycopg; `params(**values)` maps our values onto the
    bind names SQLAlchemy chose: the engine's own names (`uid`, `pid`, …) as they are, and for a
    builder called with sentinel values, the names those values were found under."""

    def __init__(self, builder=None, *, statement=None, column_keys=None, **sentinels):
        from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

        statement = builder(**sentinels) if statement is None else statement
        compiled = statement.compile(dialect=pg_psycopg.dialect(), column_keys=column_keys)
        self.sql = " ".join(str(compiled).split())
        self.fixed = dict(compiled.params)
        self.names: dict[str, list[str]] = {name: [name] for name in self.fixed}
        for arg, value in sentinels.items():
            self.names[arg] = [name for name, bound in compiled.params.items() if bound == value]
            if not self.names[arg] and isinstance(value, int) and value < 0:
                raise RuntimeError(f"cannot find the bind parameter for {arg} in {self.sql}")

    def params(self, **values) -> dict:
        out = dict(self.fixed)
        for arg, value in values.items():
            for name in self.names.get(arg, ()):
                out[name] = value
        return out


LEASE_COLUMNS = ["task_id", "project_id", "user_id", "is_gold", "sensitive", "status", "reward_amount", "currency",
                 "leased_at", "lease_expires_at"]


def engine_statements() -> dict[str, Compiled]:
    """The engine's hot-path statements (backend/microtasks/services/leasing.py), compiled for psycopg."""
    from backend.microtasks.services.leasing import hot_path_statements

    compiled = {name: Compiled(statement=statement) for name, statement in hot_path_statements().items()
                if name != "insert_assignments"}
    # The engine inserts a list of rows: with one row SQLAlchemy sends a plain INSERT … VALUES.
    compiled["insert_assignments"] = Compiled(statement=hot_path_statements()["insert_assignments"],
                                              column_keys=LEASE_COLUMNS)
    return compiled


def statement_texts(levels: dict[str, int] | None = None) -> dict[str, list[str]]:
    """The statements this ceiling sends for one lease and one steady-state submission (for the
    report). The engine's statements no longer depend on the worker's levels (they are joined in)."""
    compiled = engine_statements()
    lease = [USER, compiled["lock"].sql, compiled["candidates"].sql, compiled["claim_and_record"].sql]
    submit = [USER, FIND_KEY, compiled["own_assignment"].sql, compiled["record_answer"].sql, INSERT_REWARD,
              UPDATE_BALANCE, INSERT_LEDGER, STATS, INSERT_KEY]
    return {"lease": lease, "submit": submit}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Phone:
    def __init__(self, dsn: str, user_id: int, compiled: dict[str, Compiled], rng: random.Random):
        self.conn = psycopg.connect(dsn)
        self.user_id = user_id
        self.compiled = compiled
        self.rng = rng

    def close(self) -> None:
        self.conn.close()

    def lease(self) -> tuple | None:
        uid, now, cur, sql = self.user_id, _now(), self.conn.cursor(), self.compiled
        cur.execute(USER, {"user_id": uid})
        cur.fetchall()
        cur.execute(sql["lock"].sql, sql["lock"].params(uid=uid, now=now))
        opted_in = cur.fetchone()[0]
        cur.execute(sql["candidates"].sql, sql["candidates"].params(
            uid=uid, now=now, day_ago=now - dt.timedelta(hours=24)))
        candidates = cur.fetchall()
        if not candidates or candidates[0][12] >= 20:  # open leases: the cap
            self.conn.commit()
            return None
        got = None
        for project in candidates:
            pid, _skill, _type, _difficulty, reward, currency, lease_s, gold_ratio, _text, sensitive = project[:10]
            level = project[11]
            if sensitive and not opted_in:
                continue
            ids = {"pid": pid, "uid": uid, "level": level}
            if gold_ratio and self.rng.random() < gold_ratio:
                start = self.rng.getrandbits(31)
                cur.execute(sql["gold"].sql, sql["gold"].params(**ids, limit=1, start=start))
                rows = cur.fetchall()
                if not rows:
                    cur.execute(sql["gold_wrapped"].sql, sql["gold_wrapped"].params(**ids, limit=1, start=start))
                    rows = cur.fetchall()
                if rows:
                    # Gold rides along with real work only: the engine checks the project still has some.
                    cur.execute(sql["open_work"].sql, sql["open_work"].params(**ids))
                    if not cur.fetchall():
                        continue
                    insert = sql["insert_assignments"]
                    cur.execute(insert.sql, insert.params(
                        task_id=rows[0][0], project_id=pid, user_id=uid, is_gold=True, sensitive=sensitive,
                        status="leased", reward_amount=reward, currency=currency, leased_at=now,
                        lease_expires_at=now + dt.timedelta(seconds=lease_s)))
                    got = (cur.fetchone()[1], rows[0][0], project)
                    break
            # One task wanted, no gold: the claim writes the assignment in the same statement.
            claim = sql["claim_and_record"]
            cur.execute(claim.sql, claim.params(**ids, limit=1, p_sensitive=sensitive, p_reward=reward,
                                                p_currency=currency, now=now,
                                                p_expires=now + dt.timedelta(seconds=lease_s)))
            rows = cur.fetchall()
            if rows:
                got = (rows[0][2], rows[0][0], project)
                break
        self.conn.commit()
        return got

    def submit(self, assignment_id: int, key: str) -> bool:
        uid, now, cur = self.user_id, _now(), self.conn.cursor()
        cur.execute(USER, {"user_id": uid})
        cur.fetchall()
        cur.execute(FIND_KEY, {"user_id": uid, "key": key})
        cur.fetchall()
        own = self.compiled["own_assignment"]
        cur.execute(own.sql, own.params(aid=assignment_id, uid=uid))
        row = cur.fetchone()
        status, task_id, is_gold, _leased_at, _expires, project_id, reward, currency = row[:8]
        if status != "leased":
            self.conn.rollback()
            return False
        record = self.compiled["record_answer"]
        cur.execute(record.sql, record.params(
            tid=task_id, aid=assignment_id, pid=project_id, uid=uid, p_answer=json.dumps({"label": "positive"}),
            p_duration=1234, p_late=False, p_gold=is_gold, p_correct=True if is_gold else None,
            p_credit=1.0 if is_gold else None, p_reward=reward, p_currency=currency, now=now))
        submission_id = cur.fetchone()[0]
        cur.execute(INSERT_REWARD, {
            "user_id": uid, "submission_id": submission_id, "project_id": project_id, "task_id": task_id,
            "amount": reward, "currency": currency, "gold": is_gold, "status": "available", "available_at": now,
            "decided_at": now, "created_at": now})
        reward_id = cur.fetchone()[0]
        balance = {"d_pending": 0, "d_available": reward, "d_processing": 0, "d_paid_out": 0, "b_now": now,
                   "b_user_id": uid, "b_currency": currency}
        cur.execute(UPDATE_BALANCE, balance)
        after = cur.fetchone()
        if after is None:
            cur.execute(INSERT_BALANCE, {"user_id": uid, "currency": currency, "pending": 0, "available": 0,
                                         "processing": 0, "paid_out": 0, "updated_at": now})
            cur.execute(UPDATE_BALANCE, balance)
            after = cur.fetchone()
        cur.execute(INSERT_LEDGER, {
            "user_id": uid, "currency": currency, "kind": "reward", "pending_delta": 0, "available_delta": reward,
            "processing_delta": 0, "paid_out_delta": 0, "available_after": after[0], "reward_id": reward_id,
            "payout_id": None, "reason": "null", "actor_id": None, "detail": "null", "created_at": now})
        self._quality(cur, submission_id, project_id, is_gold, now)
        body = json.dumps({"id": submission_id, "status": "accepted", "late": False,
                           "earned": {"amount": reward, "currency": currency}})
        cur.execute(INSERT_KEY, {
            "user_id": uid, "key": key, "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
            "status_code": 201, "response_body": body, "created_at": now})
        self.conn.commit()
        return True

    def _quality(self, cur, submission_id: int, project_id: int, is_gold: bool, now: dt.datetime) -> None:
        uid = self.user_id
        cur.execute(STATS, {"user_id": uid, "project_id": project_id, "answers": 1, "gold_answers": int(is_gold),
                            "gold_correct": int(is_gold), "fast_answers": 0, "recent_gold": "1" if is_gold else "",
                            "recent_fast": "0", "updated_at": now})
        cur.fetchall()
        if self.rng.random() < REVIEW_SAMPLE_RATE:
            cur.execute(INSERT_SAMPLE, {"submission_id": submission_id, "user_id": uid, "project_id": project_id,
                                        "reasons": json.dumps(["random"]), "status": "open", "created_at": now,
                                        "due_at": now + dt.timedelta(days=2)})

    def replay(self, key: str) -> None:
        cur = self.conn.cursor()
        cur.execute(USER, {"user_id": self.user_id})
        cur.fetchall()
        cur.execute(FIND_KEY, {"user_id": self.user_id, "key": key})
        cur.fetchall()
        self.conn.commit()


def run_ceiling(dsn: str, user_ids: list[int], *, duration: float, warmup: float = 1.0, abandon: float = 0.10,
                retry: float = 0.05, label: str = "ceiling", concurrency: int | None = None,
                seed: int = 5, window=None) -> LoadRow:
    """Closed loop over `len(user_ids)` connections (≤ 64) for warmup + duration seconds."""
    if len(user_ids) > MAX_CONNECTIONS:
        raise ValueError(f"the ceiling uses at most {MAX_CONNECTIONS} connections")
    dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
    compiled = engine_statements()
    row = LoadRow(label=label, phones=concurrency or len(user_ids), connections=len(user_ids))
    lock = threading.Lock()
    phones = [Phone(dsn, uid, compiled, random.Random(seed * 7919 + n)) for n, uid in enumerate(user_ids)]
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    def loop(phone: Phone) -> None:
        leases, submits, counts = [], [], {"cycles": 0, "leases": 0, "empty": 0, "abandoned": 0, "retries": 0,
                                           "errors": 0}
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            measured = t0 >= measure_from
            try:
                got = phone.lease()
            except psycopg.Error:
                phone.conn.rollback()
                counts["errors"] += measured
                continue
            t1 = time.perf_counter()
            if measured:
                leases.append(t1 - t0)
                counts["leases"] += 1
            if got is None:
                counts["empty"] += measured
                time.sleep(0.05)
                continue
            if phone.rng.random() < abandon:
                counts["abandoned"] += measured
                continue
            key = uuid.uuid4().hex
            t2 = time.perf_counter()
            try:
                ok = phone.submit(got[0], key)
            except psycopg.Error:
                phone.conn.rollback()
                counts["errors"] += measured
                continue
            t3 = time.perf_counter()
            if not ok:
                counts["errors"] += measured
                continue
            if measured:
                submits.append(t3 - t2)
                counts["cycles"] += 1
            if phone.rng.random() < retry:
                phone.replay(key)
                counts["retries"] += measured
        with lock:
            row.lease_latencies += leases
            row.submit_latencies += submits
            row.cycles += counts["cycles"]
            row.leases += counts["leases"]
            row.empty_leases += counts["empty"]
            row.abandoned += counts["abandoned"]
            row.retries += counts["retries"]
            row.exceptions += counts["errors"]

    threads = [threading.Thread(target=loop, args=(phone,), daemon=True) for phone in phones]
    timers = [threading.Timer(measure_from - time.perf_counter(), window.start),
              threading.Timer(stop_at - time.perf_counter(), window.stop)] if window is not None else []
    for timer in timers:
        timer.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=warmup + duration + 60)
        for timer in timers:
            timer.join()
    finally:
        for phone in phones:
            phone.close()
    row.seconds = duration
    return row


def claim_latencies(dsn: str, user_ids: list[int], samples: int = 300, seed: int = 9) -> list[float]:
    """The engine's claim of one task, as a lease sends it (the claim that also writes the
    assignment), timed alone; each in a transaction that is rolled back, so the pool is left as it
    was and no commit or fsync is measured: the lease's cost as the pool grows."""
    dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
    compiled = engine_statements()
    claim = compiled["claim_and_record"]
    rng = random.Random(seed)
    times: list[float] = []
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        plans = []
        now = _now()
        for uid in user_ids:
            cur.execute(compiled["candidates"].sql, compiled["candidates"].params(
                uid=uid, now=now, day_ago=now - dt.timedelta(hours=24)))
            plans += [(uid, project) for project in cur.fetchall()]
        conn.rollback()
        if not plans:
            return times
        for _ in range(samples):
            uid, project = rng.choice(plans)
            now = _now()
            params = claim.params(pid=project[0], uid=uid, level=project[11], limit=1, p_sensitive=project[9],
                                  p_reward=project[4], p_currency=project[5], now=now,
                                  p_expires=now + dt.timedelta(seconds=project[6]))
            started = time.perf_counter()
            cur.execute(claim.sql, params)
            cur.fetchall()
            times.append(time.perf_counter() - started)
            conn.rollback()
    return times
