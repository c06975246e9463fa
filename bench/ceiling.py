"""The ceiling: the SQL of a lease + answer cycle straight through psycopg, no HTTP, no Flask, no ORM.

Each virtual phone is a thread with its own connection (at most 64 connections: TRAPS.md), doing
what the app's requests send to PostgreSQL, statement for statement and in the same transactions:

- lease: the auth user load, the worker-row upsert (the per-worker lock), the open-lease and
  sensitive counts, the worker's levels, the candidate projects (without the ones the worker is
  paused on), the claim (the engine's own `claim_statement`, and `gold_statement` +
  `open_work_statement` at the project's gold ratio, compiled for psycopg), the assignment
  insert; COMMIT.
- submit: the auth user load, the idempotency lookup, the assignment row FOR UPDATE, the task's
  answer count, the assignment marked submitted, the submission insert, the reward booking
  (lookup, SAVEPOINT, insert, RELEASE, balance update, ledger entry), the data-collection
  handler's look at the submission, the quality review (the submission, the project's pace, the
  worker's project stats FOR UPDATE and their update, a review sample at REVIEW_SAMPLE_RATE), the
  idempotency record; COMMIT.
- the same mix as the phones: 10 % of leases abandoned, 5 % of submissions replayed (user load +
  idempotency lookup, as the app answers a replay).

The engine exposes its claim and gold statements; the other statements are written here with the
text the app's SQL log shows (bench/sqllog.py captures it; the report lists both so a drift shows).
Answer validation, grading and JSON are the app's Python work and are not part of the ceiling.
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

USER = ("SELECT users.id AS users_id, users.email AS users_email, users.password_hash AS users_password_hash, "
        "users.display_name AS users_display_name, users.role AS users_role, users.locale AS users_locale, "
        "users.timezone AS users_timezone, users.created_at AS users_created_at, users.last_active_at AS "
        "users_last_active_at, users.deleted_at AS users_deleted_at FROM users WHERE users.id = %(pk_1)s::INTEGER")
LOCK_WORKER = (
    "INSERT INTO work_preferences (user_id, sensitive_content, last_claim_at, updated_at) VALUES "
    "(%(user_id)s::INTEGER, %(sensitive_content)s, %(last_claim_at)s::TIMESTAMP WITH TIME ZONE, "
    "%(updated_at)s::TIMESTAMP WITH TIME ZONE) ON CONFLICT (user_id) DO UPDATE SET last_claim_at = "
    "%(param_1)s::TIMESTAMP WITH TIME ZONE RETURNING work_preferences.sensitive_content")
COUNTS = (
    "SELECT (SELECT count(*) AS count_1 FROM assignments WHERE assignments.user_id = %(user_id_1)s::INTEGER AND "
    "assignments.status = 'leased' AND assignments.lease_expires_at > %(lease_expires_at_1)s::TIMESTAMP WITH "
    "TIME ZONE) AS anon_1, (SELECT count(*) AS count_2 FROM assignments WHERE assignments.user_id = "
    "%(user_id_2)s::INTEGER AND assignments.sensitive = true AND assignments.leased_at > %(leased_at_1)s::"
    "TIMESTAMP WITH TIME ZONE) AS anon_2")
LEVELS = ("SELECT worker_skills.skill_code, worker_skills.level FROM worker_skills WHERE worker_skills.user_id = "
          "%(user_id_1)s::INTEGER")
PROJECTS = (
    "SELECT projects.id, projects.skill_code, projects.task_type, projects.difficulty, projects.reward_amount, "
    "projects.currency, projects.lease_seconds, projects.gold_ratio, projects.instructions, "
    "projects.sensitive_content, projects.status FROM projects WHERE projects.status = %(status_1)s::VARCHAR AND "
    "{eligible} AND NOT (EXISTS (SELECT * FROM project_pauses WHERE project_pauses.user_id = %(user_id_1)s::INTEGER "
    "AND project_pauses.project_id = projects.id AND project_pauses.lifted_at IS NULL)) AND "
    "projects.sensitive_content = false ORDER BY projects.priority DESC, projects.id")
INSERT_ASSIGNMENT = (
    "INSERT INTO assignments (task_id, project_id, user_id, is_gold, sensitive, status, reward_amount, currency, "
    "leased_at, lease_expires_at) VALUES (%(task_id)s::INTEGER, %(project_id)s::INTEGER, %(user_id)s::INTEGER, "
    "%(is_gold)s, %(sensitive)s, %(status)s::VARCHAR, %(reward_amount)s::INTEGER, %(currency)s::VARCHAR, "
    "%(leased_at)s::TIMESTAMP WITH TIME ZONE, %(lease_expires_at)s::TIMESTAMP WITH TIME ZONE) "
    "RETURNING assignments.id")
FIND_KEY = (
    "SELECT idempotency_records.id, idempotency_records.user_id, idempotency_records.key, "
    "idempotency_records.fingerprint, idempotency_records.status_code, idempotency_records.response_body, "
    "idempotency_records.created_at FROM idempotency_records WHERE idempotency_records.user_id = "
    "%(user_id_1)s::INTEGER AND idempotency_records.key = %(key_1)s::VARCHAR")
OWN_ASSIGNMENT = (
    "SELECT assignments.status, assignments.task_id, assignments.is_gold, assignments.leased_at, "
    "assignments.lease_expires_at, assignments.project_id, assignments.reward_amount, assignments.currency, "
    "projects.task_type, projects.config, tasks.payload, tasks.gold_answer, tasks.explanation FROM assignments "
    "JOIN projects ON projects.id = assignments.project_id JOIN tasks ON tasks.id = assignments.task_id WHERE "
    "assignments.id = %(id_1)s::INTEGER AND assignments.user_id = %(user_id_1)s::INTEGER FOR UPDATE OF assignments")
BUMP = ("UPDATE tasks SET answer_count=(tasks.answer_count + %(answer_count_1)s::INTEGER) WHERE tasks.id = "
        "%(id_1)s::INTEGER")
MARK_SUBMITTED = ("UPDATE assignments SET status=%(status)s::VARCHAR, ended_at=%(ended_at)s::TIMESTAMP WITH TIME "
                  "ZONE WHERE assignments.id = %(id_1)s::INTEGER")
INSERT_SUBMISSION = (
    "INSERT INTO submissions (assignment_id, task_id, project_id, user_id, answer, duration_ms, late, is_gold, "
    "correct, credit, reward_amount, currency, status, created_at) VALUES (%(assignment_id)s::INTEGER, "
    "%(task_id)s::INTEGER, %(project_id)s::INTEGER, %(user_id)s::INTEGER, %(answer)s::JSON, "
    "%(duration_ms)s::INTEGER, %(late)s, %(is_gold)s, %(correct)s, %(credit)s, %(reward_amount)s::INTEGER, "
    "%(currency)s::VARCHAR, %(status)s::VARCHAR, %(created_at)s::TIMESTAMP WITH TIME ZONE) RETURNING submissions.id")
FIND_REWARD = (
    "SELECT rewards.id, rewards.user_id, rewards.submission_id, rewards.project_id, rewards.task_id, "
    "rewards.amount, rewards.currency, rewards.gold, rewards.status, rewards.available_at, "
    "rewards.rejection_reason, rewards.appeal_until, rewards.decided_at, rewards.created_at FROM rewards WHERE "
    "rewards.submission_id = %(submission_id_1)s::BIGINT")
INSERT_REWARD = (
    "INSERT INTO rewards (user_id, submission_id, project_id, task_id, amount, currency, gold, status, "
    "available_at, appeal_until, decided_at, created_at) VALUES (%(user_id)s::INTEGER, %(submission_id)s::BIGINT, "
    "%(project_id)s::BIGINT, %(task_id)s::BIGINT, %(amount)s::BIGINT, %(currency)s::VARCHAR, %(gold)s, "
    "%(status)s::VARCHAR, %(available_at)s::TIMESTAMP WITH TIME ZONE, %(appeal_until)s::TIMESTAMP WITH TIME ZONE, "
    "%(decided_at)s::TIMESTAMP WITH TIME ZONE, %(created_at)s::TIMESTAMP WITH TIME ZONE) RETURNING rewards.id")
UPDATE_BALANCE = (
    "UPDATE worker_balances SET available=(worker_balances.available + %(available_1)s::BIGINT), "
    "updated_at=%(updated_at)s::TIMESTAMP WITH TIME ZONE WHERE worker_balances.user_id = %(user_id_1)s::INTEGER "
    "AND worker_balances.currency = %(currency_1)s::VARCHAR RETURNING worker_balances.available")
INSERT_BALANCE = (
    "INSERT INTO worker_balances (user_id, currency, pending, available, processing, paid_out, updated_at) VALUES "
    "(%(user_id)s::INTEGER, %(currency)s::VARCHAR, %(pending)s::BIGINT, %(available)s::BIGINT, "
    "%(processing)s::BIGINT, %(paid_out)s::BIGINT, %(updated_at)s::TIMESTAMP WITH TIME ZONE) ON CONFLICT "
    "(user_id, currency) DO NOTHING RETURNING worker_balances.id")
INSERT_LEDGER = (
    "INSERT INTO ledger_entries (user_id, currency, kind, pending_delta, available_delta, processing_delta, "
    "paid_out_delta, available_after, reward_id, payout_id, reason, actor_id, detail, created_at) VALUES "
    "(%(user_id)s::INTEGER, %(currency)s::VARCHAR, %(kind)s::VARCHAR, %(pending_delta)s::BIGINT, "
    "%(available_delta)s::BIGINT, %(processing_delta)s::BIGINT, %(paid_out_delta)s::BIGINT, "
    "%(available_after)s::BIGINT, %(reward_id)s::INTEGER, %(payout_id)s::INTEGER, %(reason)s::JSON, "
    "%(actor_id)s::INTEGER, %(detail)s::JSON, %(created_at)s::TIMESTAMP WITH TIME ZONE) RETURNING ledger_entries.id")
COLLECTION_CHECK = (
    "SELECT submissions.id, submissions.user_id, submissions.assignment_id, submissions.project_id, "
    "submissions.answer, submissions.created_at, projects.task_type, projects.config FROM submissions JOIN projects "
    "ON projects.id = submissions.project_id WHERE submissions.id = %(id_1)s::INTEGER")
# The quality review on submission_accepted (backend/quality/review.py, floors.py).
QUALITY_SUBMISSION = (
    "SELECT submissions.id, submissions.user_id, submissions.project_id, submissions.is_gold, submissions.created_at, "
    "submissions.duration_ms, projects.skill_code FROM submissions JOIN projects ON projects.id = "
    "submissions.project_id WHERE submissions.id = %(id_1)s::INTEGER")
PACE = (
    "SELECT project_paces.project_id AS project_paces_project_id, project_paces.median_ms AS "
    "project_paces_median_ms, project_paces.sample_size AS project_paces_sample_size, project_paces.computed_at AS "
    "project_paces_computed_at FROM project_paces WHERE project_paces.project_id = %(pk_1)s::INTEGER")
STATS = (
    "SELECT worker_project_stats.user_id, worker_project_stats.project_id, worker_project_stats.answers, "
    "worker_project_stats.gold_answers, worker_project_stats.gold_correct, worker_project_stats.fast_answers, "
    "worker_project_stats.recent_gold, worker_project_stats.recent_fast, worker_project_stats.updated_at FROM "
    "worker_project_stats WHERE worker_project_stats.user_id = %(user_id_1)s::INTEGER AND "
    "worker_project_stats.project_id = %(project_id_1)s::INTEGER FOR UPDATE")
INSERT_STATS = (
    "INSERT INTO worker_project_stats (user_id, project_id, answers, gold_answers, gold_correct, fast_answers, "
    "recent_gold, recent_fast, updated_at) VALUES (%(user_id)s::INTEGER, %(project_id)s::INTEGER, "
    "%(answers)s::INTEGER, %(gold_answers)s::INTEGER, %(gold_correct)s::INTEGER, %(fast_answers)s::INTEGER, "
    "%(recent_gold)s::VARCHAR, %(recent_fast)s::VARCHAR, %(updated_at)s::TIMESTAMP WITH TIME ZONE)")
UPDATE_STATS = (  # the ORM sets only what changed: a normal, not-fast answer changes these
    "UPDATE worker_project_stats SET answers=%(answers)s::INTEGER, "
    "recent_fast=%(recent_fast)s::VARCHAR, updated_at=%(updated_at)s::TIMESTAMP WITH TIME ZONE WHERE "
    "worker_project_stats.user_id = %(worker_project_stats_user_id)s::INTEGER AND worker_project_stats.project_id = "
    "%(worker_project_stats_project_id)s::INTEGER")
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
    bind names SQLAlchemy chose (found through sentinel values given at compile time)."""

    def __init__(self, builder, **sentinels):
        from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

        compiled = builder(**sentinels).compile(dialect=pg_psycopg.dialect())
        self.sql = " ".join(str(compiled).split())
        self.fixed = dict(compiled.params)
        self.names: dict[str, list[str]] = {}
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


def engine_statements() -> dict[str, Compiled]:
    from backend.microtasks.services import claim_statement, gold_statement, open_work_statement

    return {
        "open_work": Compiled(open_work_statement, project_id=-9001, user_id=-9002, level=-9003),
        "claim": Compiled(claim_statement, project_id=-9001, user_id=-9002, level=-9003, limit=-9004),
        "gold": Compiled(lambda **kw: gold_statement(**kw, wrapped=False), project_id=-9001, user_id=-9002,
                         level=-9003, limit=-9004, start=-9005),
        "gold_wrapped": Compiled(lambda **kw: gold_statement(**kw, wrapped=True), project_id=-9001,
                                 user_id=-9002, level=-9003, limit=-9004, start=-9005),
    }


def projects_query(levels: dict[str, int], user_id: int = 0) -> tuple[str, dict]:
    """The candidate-projects query as the engine renders it for these levels."""
    terms, params = [], {"status_1": "active", "user_id_1": user_id}
    for n, (code, level) in enumerate(((c, lv) for c, lv in levels.items() if lv >= 1), start=1):
        terms.append(f"projects.skill_code = %(skill_code_{n})s::VARCHAR AND projects.difficulty <= "
                     f"%(difficulty_{n})s::INTEGER")
        params[f"skill_code_{n}"] = code
        params[f"difficulty_{n}"] = level
    eligible = terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
    return PROJECTS.format(eligible=eligible), params


def statement_texts(levels: dict[str, int]) -> dict[str, list[str]]:
    """The statements this ceiling sends for one lease and one steady-state submission (for the report)."""
    compiled = engine_statements()
    projects_sql, _ = projects_query(levels)
    lease = [USER, LOCK_WORKER, COUNTS, LEVELS, projects_sql, compiled["claim"].sql, INSERT_ASSIGNMENT]
    submit = [USER, FIND_KEY, OWN_ASSIGNMENT, BUMP, MARK_SUBMITTED, INSERT_SUBMISSION, FIND_REWARD,
              "SAVEPOINT sa_savepoint_1", INSERT_REWARD, "RELEASE SAVEPOINT sa_savepoint_1", UPDATE_BALANCE,
              INSERT_LEDGER, COLLECTION_CHECK, QUALITY_SUBMISSION, PACE, STATS, UPDATE_STATS, INSERT_KEY]
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
        uid, now, cur = self.user_id, _now(), self.conn.cursor()
        cur.execute(USER, {"pk_1": uid})
        cur.fetchall()
        cur.execute(LOCK_WORKER, {"user_id": uid, "sensitive_content": False, "last_claim_at": now,
                                  "updated_at": now, "param_1": now})
        cur.fetchall()
        cur.execute(COUNTS, {"user_id_1": uid, "lease_expires_at_1": now, "user_id_2": uid,
                             "leased_at_1": now - dt.timedelta(hours=24)})
        open_leases, _sensitive = cur.fetchone()
        if open_leases >= 20:
            self.conn.commit()
            return None
        cur.execute(LEVELS, {"user_id_1": uid})
        levels = dict(cur.fetchall())
        sql, params = projects_query(levels, uid)
        cur.execute(sql, params)
        candidates = cur.fetchall()
        got = None
        for project in candidates:
            pid, skill, task_type, _difficulty, reward, currency, lease_s, gold_ratio = project[:8]
            level = levels.get(skill, 0)
            if gold_ratio and self.rng.random() < gold_ratio:
                start = self.rng.getrandbits(31)
                gold = self.compiled["gold"]
                cur.execute(gold.sql, gold.params(project_id=pid, user_id=uid, level=level, limit=1, start=start))
                rows = cur.fetchall()
                if not rows:
                    wrapped = self.compiled["gold_wrapped"]
                    cur.execute(wrapped.sql, wrapped.params(project_id=pid, user_id=uid, level=level, limit=1,
                                                            start=start))
                    rows = cur.fetchall()
                if rows:
                    # Gold rides along with real work only: the engine checks the project still has some.
                    open_work = self.compiled["open_work"]
                    cur.execute(open_work.sql, open_work.params(project_id=pid, user_id=uid, level=level))
                    if cur.fetchall():
                        got = (project, rows[0][0], True)
                        break
                    continue
            claim = self.compiled["claim"]
            cur.execute(claim.sql, claim.params(project_id=pid, user_id=uid, level=level, limit=1))
            rows = cur.fetchall()
            if rows:
                got = (project, rows[0][0], False)
                break
        if got is None:
            self.conn.commit()
            return None
        project, task_id, is_gold = got
        cur.execute(INSERT_ASSIGNMENT, {
            "task_id": task_id, "project_id": project[0], "user_id": uid, "is_gold": is_gold, "sensitive": False,
            "status": "leased", "reward_amount": project[4], "currency": project[5], "leased_at": now,
            "lease_expires_at": now + dt.timedelta(seconds=project[6])})
        assignment_id = cur.fetchone()[0]
        self.conn.commit()
        return assignment_id, task_id, project

    def submit(self, assignment_id: int, key: str) -> bool:
        uid, now, cur = self.user_id, _now(), self.conn.cursor()
        cur.execute(USER, {"pk_1": uid})
        cur.fetchall()
        cur.execute(FIND_KEY, {"user_id_1": uid, "key_1": key})
        cur.fetchall()
        cur.execute(OWN_ASSIGNMENT, {"id_1": assignment_id, "user_id_1": uid})
        row = cur.fetchone()
        status, task_id, is_gold, _leased_at, _expires, project_id, reward, currency = row[:8]
        if status != "leased":
            self.conn.rollback()
            return False
        cur.execute(BUMP, {"answer_count_1": 1, "id_1": task_id})
        cur.execute(MARK_SUBMITTED, {"status": "submitted", "ended_at": now, "id_1": assignment_id})
        answer = json.dumps({"label": "positive"})
        cur.execute(INSERT_SUBMISSION, {
            "assignment_id": assignment_id, "task_id": task_id, "project_id": project_id, "user_id": uid,
            "answer": answer, "duration_ms": 1234, "late": False, "is_gold": is_gold,
            "correct": True if is_gold else None, "credit": 1.0 if is_gold else None, "reward_amount": reward,
            "currency": currency, "status": "accepted", "created_at": now})
        submission_id = cur.fetchone()[0]
        cur.execute(FIND_REWARD, {"submission_id_1": submission_id})
        cur.fetchall()
        cur.execute("SAVEPOINT sa_savepoint_1")
        cur.execute(INSERT_REWARD, {
            "user_id": uid, "submission_id": submission_id, "project_id": project_id, "task_id": task_id,
            "amount": reward, "currency": currency, "gold": is_gold, "status": "available", "available_at": now,
            "appeal_until": None, "decided_at": now, "created_at": now})
        reward_id = cur.fetchone()[0]
        cur.execute("RELEASE SAVEPOINT sa_savepoint_1")
        balance = {"available_1": reward, "updated_at": now, "user_id_1": uid, "currency_1": currency}
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
            "payout_id": None, "reason": None, "actor_id": None, "detail": None, "created_at": now})
        cur.execute(COLLECTION_CHECK, {"id_1": submission_id})
        cur.fetchall()
        self._quality(cur, submission_id, project_id, now)
        body = json.dumps({"id": submission_id, "status": "accepted", "late": False,
                           "earned": {"amount": reward, "currency": currency}})
        cur.execute(INSERT_KEY, {
            "user_id": uid, "key": key, "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
            "status_code": 201, "response_body": body, "created_at": now})
        self.conn.commit()
        return True

    def _quality(self, cur, submission_id: int, project_id: int, now: dt.datetime) -> None:
        uid = self.user_id
        cur.execute(QUALITY_SUBMISSION, {"id_1": submission_id})
        cur.fetchall()
        cur.execute(PACE, {"pk_1": project_id})
        cur.fetchall()
        cur.execute(STATS, {"user_id_1": uid, "project_id_1": project_id})
        row = cur.fetchone()
        answers = row[2] if row else 0
        if row is None:
            cur.execute("SAVEPOINT sa_savepoint_2")
            cur.execute(INSERT_STATS, {"user_id": uid, "project_id": project_id, "answers": 0, "gold_answers": 0,
                                       "gold_correct": 0, "fast_answers": 0, "recent_gold": "", "recent_fast": "",
                                       "updated_at": now})
            cur.execute("RELEASE SAVEPOINT sa_savepoint_2")
        cur.execute(UPDATE_STATS, {"answers": answers + 1, "recent_fast": "0",
                                   "updated_at": now, "worker_project_stats_user_id": uid,
                                   "worker_project_stats_project_id": project_id})
        if self.rng.random() < REVIEW_SAMPLE_RATE:
            cur.execute(INSERT_SAMPLE, {"submission_id": submission_id, "user_id": uid, "project_id": project_id,
                                        "reasons": json.dumps(["random"]), "status": "open", "created_at": now,
                                        "due_at": now + dt.timedelta(days=2)})

    def replay(self, key: str) -> None:
        cur = self.conn.cursor()
        cur.execute(USER, {"pk_1": self.user_id})
        cur.fetchall()
        cur.execute(FIND_KEY, {"user_id_1": self.user_id, "key_1": key})
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
    """The engine's claim statement alone, timed (each in a transaction that is rolled back, so the
    pool is left as it was and no commit or fsync is measured): the lease's cost as the pool grows."""
    dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
    claim = engine_statements()["claim"]
    rng = random.Random(seed)
    times: list[float] = []
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        plans = []
        for uid in user_ids:
            cur.execute(LEVELS, {"user_id_1": uid})
            levels = dict(cur.fetchall())
            sql, params = projects_query(levels, uid)
            cur.execute(sql, params)
            for project in cur.fetchall():
                plans.append((uid, project[0], levels.get(project[1], 0)))
        conn.rollback()
        if not plans:
            return times
        for _ in range(samples):
            uid, pid, level = rng.choice(plans)
            params = claim.params(project_id=pid, user_id=uid, level=level, limit=1)
            started = time.perf_counter()
            cur.execute(claim.sql, params)
            cur.fetchall()
            times.append(time.perf_counter() - started)
            conn.rollback()
    return times
