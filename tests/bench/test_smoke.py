"""The benchmark harness at tiny size, on both databases, so `make bench` keeps working.

No timing is asserted (speed belongs in bench/): these tests check that the data generator, the
server, the virtual phones, the expiry loop, the ceiling and the invariant checker work together,
and that the checker catches planted violations.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from backend.extensions import db
from bench import datagen, invariants, report
from bench.__main__ import parse
from bench.ceiling import run_ceiling
from bench.expiry import ExpiryLoop
from bench.phones import run_phones
from bench.report import LoadRow, Report, percentile
from bench.server import Server, ServerConfig


def _url(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"]


def _violations(rows: list[dict]) -> dict[str, int]:
    return {row["check"]: row["violations"] for row in rows}


def test_percentiles_and_report_rendering(tmp_path):
    assert percentile([], 50) is None
    values = [i / 1000 for i in range(1, 101)]
    assert percentile(values, 50) == 0.050
    assert percentile(values, 99) == 0.099
    rep = Report(settings={"machine": report.machine(), "mode": "test"})
    rep.load.append(LoadRow(label="app", phones=8, seconds=2, cycles=10, lease_latencies=[0.01, 0.02],
                            submit_latencies=[0.03], rss_mb=100, pss_mb=80, ceiling_cycles_per_s=20.0))
    rep.invariants.append({"database": "x", "check": "c", "violations": 1, "detail": "d"})
    path = report.write(rep, tmp_path / "RESULTS.md")
    text = path.read_text()
    assert "| app | 8 | 5 |" in text and "app/ceiling" in text and "0.25" in text
    assert "cores" in text and "GiB memory" in text
    assert "**FAIL**: 1 violation(s)." in text


def test_command_line_quick_mode_is_smaller_and_connections_are_capped():
    quick = parse(["--quick"])
    full = parse([])
    assert quick.tasks < full.tasks and quick.duration < full.duration and quick.quick
    assert full.phones == [8, 32, 128] and full.tasks == 200_000 and full.workers == 10_000
    assert parse(["--million"]).tasks == 1_000_000
    with pytest.raises(SystemExit):
        parse(["--max-connections", "80"])


def test_the_harness_runs_end_to_end_and_the_checker_catches_planted_violations(committing_app):
    url = _url(committing_app)
    pool = datagen.fill(url, workers=12, tasks=200, lease_seconds=1)
    assert pool.tasks == 200
    with committing_app.app_context():
        gold = db.session.execute(sa.text("SELECT COUNT(*) FROM tasks WHERE is_gold")).scalar()
        slots = db.session.execute(sa.text("SELECT SUM(open_slots) FROM tasks WHERE NOT is_gold")).scalar()
        assert slots == (200 - gold) * 3
    taken: set[int] = set()
    phones = pool.phone_workers(3, taken)
    with ExpiryLoop(url, interval=0.5, duration=120) as expiry, \
            Server(url, ServerConfig(workers=1, worker_class="gthread", threads=4, pool_size=4)) as server:
        row, log = run_phones(server.host, server.port, [datagen.email_of(u) for u in phones], datagen.PASSWORD,
                              duration=1.0, warmup=0.2, abandon=0.3, retry=0.3)
        rss, pss = server.memory()
        assert rss > 0 and pss > 0
        if url.startswith("postgresql"):
            ceiling = run_ceiling(url, pool.phone_workers(2, taken), duration=1.0, warmup=0.1)
            assert ceiling.cycles > 0 and ceiling.errors == 0, ceiling
        time.sleep(1 + 0.5 + 1.0)  # the leases the phones abandoned expire, the loop recycles them
    assert row.cycles > 0 and row.leases > 0, server.log_tail()
    assert row.errors_5xx == 0 and row.exceptions == 0, server.log_tail()
    assert log.abandoned and log.retried
    assert expiry.stats.get("runs", 0) >= 1 and expiry.stats.get("failures") == 0, expiry.stats
    assert expiry.stats["expired"] >= 1

    clean = invariants.check(url, log, database="smoke", expiry_grace_s=1.0)
    assert all(item["violations"] == 0 for item in clean), clean

    # Plant a double assignment: one more open lease on a task than its overlap allows.
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            task_id, project_id = conn.execute(sa.text(
                "SELECT id, project_id FROM tasks WHERE NOT is_gold ORDER BY id LIMIT 1")).one()
            holders = {uid for (uid,) in conn.execute(sa.text(
                "SELECT user_id FROM assignments WHERE task_id = :t"), {"t": task_id})}
            others = [uid for uid in pool.worker_ids if uid not in holders][:4]
            now = dt.datetime.now(dt.UTC)
            for uid in others:
                conn.execute(sa.text(
                    "INSERT INTO assignments (task_id, project_id, user_id, is_gold, sensitive, status, "
                    "reward_amount, currency, leased_at, lease_expires_at) VALUES (:t, :p, :u, :f, :f, 'leased', "
                    "100, 'KRW', :now, :later)"),
                    {"t": task_id, "p": project_id, "u": uid, "f": False, "now": now,
                     "later": now + dt.timedelta(hours=1)})
            # …and an abandoned lease the expiry job "missed": leased, and expired long ago.
            conn.execute(sa.text("UPDATE assignments SET status = 'leased', lease_expires_at = :past WHERE id = :a"),
                         {"a": log.abandoned[0], "past": now - dt.timedelta(hours=1)})
    finally:
        engine.dispose()
    found = _violations(invariants.check(url, log, database="smoke", expiry_grace_s=1.0))
    assert found["answers + open leases ≤ overlap"] >= 1
    assert found["slot counter = overlap − open leases − answers"] >= 1
    assert found["abandoned leases recycled by the expiry job"] == 1
    assert found["no (task, worker) twice in answers"] == 0


def test_the_analytics_data_holds_its_sizes_and_the_timing_reports_what_is_missing(committing_app):
    url = _url(committing_app)
    made = datagen.fill_analytics(url, workers=30, submissions=91, days=10)
    assert made["workers"] == 30
    with committing_app.app_context():
        count = lambda sql: db.session.execute(sa.text(sql)).scalar()  # noqa: E731
        assert count("SELECT COUNT(*) FROM submissions") == 91
        assert count("SELECT COUNT(*) FROM assignments WHERE status = 'submitted'") == 91
        assert count("SELECT COUNT(*) FROM course_enrollments") > 0
        assert count("SELECT COUNT(*) FROM certificates") == count(
            "SELECT COUNT(*) FROM worker_skills WHERE level >= 1")
    assert _violations(invariants.check(url)) == {name: 0 for name in invariants.CHECKS}
    from bench import analytics

    rows = [row for row in analytics.measure(url, "tiny") if not row.get("job")]
    assert [row["name"] for row in rows] == ["workforce summary", "workforce funnel"]
    ok, note = analytics.available()
    assert all((row["seconds"] is not None) == ok for row in rows), rows
    assert ok or all("not available yet" in row["note"] for row in rows)
