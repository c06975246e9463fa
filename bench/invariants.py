"""The invariants, read from the database after every run. Any violation fails the benchmark.

- no task holds more answers + open leases than its overlap (gold tasks are not slot-counted)
- no (task, worker) twice, in leases or in answers
- one answer per slot: one submission per assignment, on that assignment's task and worker, and
  the assignment marked submitted
- the task's slot counter agrees with what it holds (open_slots = overlap − open leases − answers)
- every submission the phones saw accepted is stored once, and every retried one (same
  Idempotency-Key) is stored once with one idempotency record
- every abandoned lease whose time ran out was recycled by the expiry job
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bench.phones import PhoneLog

CHECKS = {
    "answers + open leases ≤ overlap": """
        SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id
        LEFT JOIN (SELECT task_id, COUNT(*) AS n FROM submissions GROUP BY task_id) s ON s.task_id = t.id
        LEFT JOIN (SELECT task_id, COUNT(*) AS n FROM assignments WHERE status = 'leased' GROUP BY task_id) a
               ON a.task_id = t.id
        WHERE t.is_gold = :false AND COALESCE(s.n, 0) + COALESCE(a.n, 0) > p.overlap""",
    "no (task, worker) twice in leases": """
        SELECT task_id FROM assignments GROUP BY task_id, user_id HAVING COUNT(*) > 1""",
    "no (task, worker) twice in answers": """
        SELECT task_id FROM submissions GROUP BY task_id, user_id HAVING COUNT(*) > 1""",
    "one answer per slot": """
        SELECT assignment_id FROM submissions GROUP BY assignment_id HAVING COUNT(*) > 1
        UNION ALL
        SELECT s.id FROM submissions s JOIN assignments a ON a.id = s.assignment_id
        WHERE a.task_id <> s.task_id OR a.user_id <> s.user_id OR a.status <> 'submitted'""",
    "slot counter = overlap − open leases − answers": """
        SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id
        LEFT JOIN (SELECT task_id, COUNT(*) AS n FROM submissions GROUP BY task_id) s ON s.task_id = t.id
        LEFT JOIN (SELECT task_id, COUNT(*) AS n FROM assignments WHERE status = 'leased' GROUP BY task_id) a
               ON a.task_id = t.id
        WHERE t.is_gold = :false AND t.open_slots <> p.overlap - COALESCE(s.n, 0) - COALESCE(a.n, 0)""",
}


def _ids(conn, sql: str, params: dict | None = None, limit: int = 5) -> tuple[int, list]:
    rows = [row[0] for row in conn.execute(sa.text(sql), {"false": False, **(params or {})})]
    return len(rows), rows[:limit]


def _in_batches(values: list, size: int = 900):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def check(url_or_engine, log: PhoneLog | None = None, database: str = "postgresql",
          expiry_grace_s: float = 10.0) -> list[dict]:
    """Run every check; returns [{database, check, violations, detail}]."""
    engine = sa.create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    results = []
    try:
        with engine.connect() as conn:
            for name, sql in CHECKS.items():
                count, sample = _ids(conn, sql)
                results.append({"database": database, "check": name, "violations": count,
                                "detail": f"e.g. {sample}" if count else ""})
            if log is not None:
                results += _check_phone_log(conn, log, database, expiry_grace_s)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
    return results


def _count_where_in(conn, sql: str, column_values: list[int]) -> int:
    total = 0
    for batch in _in_batches(column_values):
        total += conn.execute(sa.text(sql).bindparams(sa.bindparam("ids", expanding=True)), {"ids": batch}).scalar()
    return total


def _check_phone_log(conn, log: PhoneLog, database: str, grace: float) -> list[dict]:
    results = []
    accepted = list(log.submitted)
    stored = _count_where_in(conn, "SELECT COUNT(*) FROM submissions WHERE assignment_id IN :ids", accepted)
    results.append({"database": database, "check": "every accepted submission stored once",
                    "violations": abs(stored - len(accepted)),
                    "detail": f"{len(accepted)} accepted by the API, {stored} stored"})
    retried = list(log.retried)
    stored_retried = _count_where_in(conn, "SELECT COUNT(*) FROM submissions WHERE assignment_id IN :ids", retried)
    keys = list(log.retried.values())
    records = 0
    for batch in _in_batches(keys):
        records += conn.execute(sa.text("SELECT COUNT(*) FROM idempotency_records WHERE key IN :keys")
                                .bindparams(sa.bindparam("keys", expanding=True)), {"keys": batch}).scalar()
    bad = abs(stored_retried - len(retried)) + abs(records - len(retried)) + log.replay_mismatches
    results.append({"database": database, "check": "every retried submission counted once",
                    "violations": bad,
                    "detail": f"{len(retried)} retried: {stored_retried} submissions, {records} idempotency "
                              f"records, {log.replay_mismatches} replays that differed from the first answer"})
    abandoned = log.abandoned
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=grace)
    stale = 0
    recycled = 0
    for batch in _in_batches(abandoned):
        rows = conn.execute(sa.text("SELECT status, lease_expires_at FROM assignments WHERE id IN :ids")
                            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": batch}).all()
        for status, expires in rows:
            if expires is not None and isinstance(expires, str):
                expires = dt.datetime.fromisoformat(expires)
            if expires is not None and expires.tzinfo is None:
                expires = expires.replace(tzinfo=dt.UTC)
            if status == "leased" and expires is not None and expires < cutoff:
                stale += 1
            elif status != "leased":
                recycled += 1
    results.append({"database": database, "check": "abandoned leases recycled by the expiry job",
                    "violations": stale,
                    "detail": f"{len(abandoned)} abandoned, {recycled} recycled, {stale} past expiry by > "
                              f"{grace:.0f}s and still leased"})
    return results
