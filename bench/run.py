"""The benchmark run: data, server, phones, ceiling, scaling, analytics, SQLite, invariants, report."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import analytics, datagen, invariants, machine_load, profile, report, sqllog
from bench.ceiling import claim_latencies, run_ceiling, statement_texts
from bench.expiry import ExpiryLoop
from bench.phones import PhoneLog, run_phones
from bench.report import LoadRow, Report, percentile
from bench.server import Server, ServerConfig


@dataclass
class Options:
    pg_server: str = "postgresql://postgres@127.0.0.1:5432/"
    database: str = "labelpath_bench"
    workers: int = 10_000
    tasks: int = 200_000
    overlap: int = 3
    gold_ratio: float = 0.05
    lease_seconds: int = 5
    phones: list[int] = field(default_factory=lambda: [8, 32, 128])
    duration: float = 30.0
    warmup: float = 3.0
    ceiling: bool = True
    ceiling_duration: float = 15.0
    max_connections: int = 40
    scaling: list[int] = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    scaling_workers: int = 2_000
    scaling_duration: float = 15.0
    analytics: bool = True
    analytics_workers: int = 100_000
    analytics_submissions: int = 1_000_000
    sqlite: bool = True
    sqlite_workers: int = 10_000
    sqlite_tasks: int = 200_000
    sqlite_phones: int = 8
    sqlite_duration: float = 20.0
    expiry_interval: float = 1.0
    server: ServerConfig = field(default_factory=ServerConfig)
    keep: bool = False
    write: bool = True
    results_path: Path = report.RESULTS_PATH
    quick: bool = False
    async_commit: bool = False
    profile: list[int] = field(default_factory=list)
    log: object = print

    @classmethod
    def quick_mode(cls, **overrides) -> Options:
        values = dict(workers=2_000, tasks=20_000, duration=4.0, warmup=1.0, ceiling_duration=2.5,
                      scaling=[10_000, 100_000], scaling_workers=500, scaling_duration=3.0, lease_seconds=3,
                      analytics_workers=5_000, analytics_submissions=50_000, sqlite_workers=1_000,
                      sqlite_tasks=10_000, sqlite_duration=5.0, quick=True)
        values.update(overrides)
        return cls(**values)


def _create(opts: Options, name: str) -> str:
    url = datagen.create_database(opts.pg_server, name)
    if opts.async_commit:
        datagen.set_database_option(opts.pg_server, name, "synchronous_commit", "off")
    datagen.migrate(url)
    return url


def _merge(into: PhoneLog, log: PhoneLog) -> None:
    into.submitted.update(log.submitted)
    into.retried.update(log.retried)
    into.abandoned += log.abandoned
    into.replay_mismatches += log.replay_mismatches


def _phones_run(server: Server, pool: datagen.Pool, taken: set[int], phones: int, opts: Options, label: str,
                duration: float) -> tuple[LoadRow, PhoneLog]:
    user_ids = pool.phone_workers(phones, taken)
    emails = [datagen.email_of(uid) for uid in user_ids]
    server.reset_peak()
    window = machine_load.Window(opts.pg_server, opts.database, app_pid=server.process.pid)
    row, log = run_phones(server.host, server.port, emails, datagen.PASSWORD, duration=duration,
                          warmup=opts.warmup, label=label, window=window)
    _apply_window(row, window, app=True)
    server.sample_memory()
    row.rss_mb, row.pss_mb = server.peak_rss, server.peak_pss
    log.user_ids = user_ids
    return row, log


def _ceiling_run(url: str, pool: datagen.Pool, taken: set[int], phones: int, opts: Options,
                 duration: float) -> LoadRow:
    connections = min(phones, opts.max_connections)
    user_ids = pool.phone_workers(connections, taken)
    window = machine_load.Window(opts.pg_server, opts.database)
    row = run_ceiling(url, user_ids, duration=duration, warmup=min(opts.warmup, 1.0), concurrency=phones,
                      label="ceiling", window=window)
    _apply_window(row, window, app=False)
    return row


def _apply_window(row: LoadRow, window: machine_load.Window, app: bool) -> None:
    result = window.result(row.cycles)
    row.cpu = result.get("cores")
    row.app_ms = result.get("app_ms") if app else result.get("ours_ms")
    row.pg_ms = result.get("pg_ms")


def _invariants(rep: Report, url: str, log: PhoneLog, database: str, opts: Options) -> None:
    # Leases abandoned in the last seconds are not due yet; every one due for longer than a few
    # job intervals must have been recycled while the load ran.
    rows = invariants.check(url, log, database=database, expiry_grace_s=3 * opts.expiry_interval + 2)
    rep.invariants += rows
    bad = [r for r in rows if r["violations"]]
    opts.log(f"  invariants on {database}: " + ("OK" if not bad else f"{len(bad)} check(s) FAILED: {bad}"))


def run_postgres(rep: Report, opts: Options) -> None:
    say = opts.log
    say(f"PostgreSQL: database {opts.database}: {opts.workers:,} workers, {opts.tasks:,} tasks × overlap "
        f"{opts.overlap}, gold {opts.gold_ratio:.0%}")
    url = _create(opts, opts.database)
    try:
        rep.settings["commit latency (insert + COMMIT, p50/p90)"] = datagen.commit_latency(url)
        pool = datagen.fill(url, workers=opts.workers, tasks=opts.tasks, overlap=opts.overlap,
                            gold_ratio=opts.gold_ratio, lease_seconds=opts.lease_seconds)
        datagen.checkpoint(url)
        say(f"  filled in {pool.seconds:.1f}s")
        taken: set[int] = set()
        capture_user = pool.phone_workers(1, taken)[0]
        try:
            captured = sqllog.capture(url, datagen.email_of(capture_user), datagen.PASSWORD)
            rep.sql_counts = captured
            _compare_with_ceiling(rep, captured, url, capture_user)
        except Exception as error:  # noqa: BLE001 - reported, the run goes on
            rep.notes.append(f"SQL capture failed: {type(error).__name__}: {error}")
        everything = PhoneLog()
        with ExpiryLoop(url, opts.expiry_interval) as expiry, Server(url, opts.server) as server:
            say(f"  {opts.server.describe()} on {server.base_url}")
            for phones in opts.phones:
                recorder = _profile_later(server, opts, phones)
                row, log = _phones_run(server, pool, taken, phones, opts, "app", opts.duration)
                _profile_done(rep, recorder, phones)
                _merge(everything, log)
                if opts.ceiling:
                    ceiling = _ceiling_run(url, pool, taken, phones, opts, opts.ceiling_duration)
                    row.ceiling_cycles_per_s = ceiling.cycles_per_s
                    rep.ceiling.append(ceiling)
                rep.load.append(row)
                say(_line(row))
        rep.notes.append(f"PostgreSQL expiry loop (every {opts.expiry_interval:g}s, backend.scheduler.run_job): "
                         f"{expiry.stats}")
        _invariants(rep, url, everything, "postgresql", opts)
    finally:
        if not opts.keep:
            datagen.drop_database(opts.pg_server, opts.database)


def _profile_later(server: Server, opts: Options, phones: int):
    """py-spy the app's processes through the measured part of this level (after login and warm-up)."""
    import threading

    if phones not in opts.profile:
        return None
    if not profile.available():
        opts.log("  py-spy is not installed: no profile (pip install -r requirements-dev.txt)")
        return None
    holder: dict = {}
    timer = threading.Timer(opts.warmup + 1.0, lambda: holder.setdefault(
        "recorder", profile.Recorder(server.process.pid, max(1, opts.duration - 1), f"app-{phones}")))
    timer.start()
    return timer, holder


def _profile_done(rep: Report, pending, phones: int) -> None:
    if pending is None:
        return
    timer, holder = pending
    timer.join()
    recorder = holder.get("recorder")
    path = recorder.wait() if recorder else None
    if path is None:
        rep.notes.append(f"py-spy at {phones} phones recorded nothing")
        return
    try:  # a profile never costs the run its measurements
        rep.profiles.append(profile.render(profile.summarize(path), f"py-spy of the app's processes at {phones} "
                                           f"phones, {path.relative_to(report.RESULTS_PATH.parent.parent)}"))
    except Exception as error:  # noqa: BLE001
        rep.notes.append(f"the py-spy profile at {phones} phones could not be summarised: {error}")


def _compare_with_ceiling(rep: Report, captured: dict, url: str, user_id: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        levels = dict(conn.execute(sa.text("SELECT skill_code, level FROM worker_skills WHERE user_id = :u"),
                                   {"u": user_id}).all())
    engine.dispose()
    ours = statement_texts(levels)
    for name, key in (("POST /assignments (count 1)", "lease"), ("POST /assignments/{id}/submission", "submit")):
        app_sql = _steady_state(captured.get(name, []))
        ceiling_sql = list(ours[key])
        missing = [sql for sql in app_sql if sql not in ceiling_sql]
        extra = [sql for sql in ceiling_sql if sql not in app_sql]
        same_order = [sql for sql in app_sql if sql in ceiling_sql] == [sql for sql in ceiling_sql if sql in app_sql]
        text = (f"{name}: the app sent {len(app_sql)} statements in steady state, the ceiling sends {len(ceiling_sql)}; "
                f"{len(ceiling_sql) - len(extra)} identical" + (" and in the same order" if same_order else ""))
        if missing or extra:
            text += (f". DRIFT — the engine's SQL changed and bench/ceiling.py must follow: the app sends "
                     f"{len(missing)} statement(s) the ceiling does not ({'; '.join(m[:90] for m in missing)}), "
                     f"the ceiling {len(extra)} the app does not ({'; '.join(e[:90] for e in extra)})")
            rep.ceiling_drift = True
        rep.notes.append(text)


# Statements a worker's first submission (or a sampled one, or a stale project pace) adds.
FIRST_OR_SAMPLED = ("INSERT INTO worker_balances", "INSERT INTO review_samples", "INSERT INTO project_paces",
                    "SELECT project_paces", "SELECT submissions.duration_ms FROM submissions")


def _steady_state(statements: list[str]) -> list[str]:
    """The app's statements as a worker's later submissions send them (what the ceiling replays)."""
    out, seen_update = [], False
    for sql in statements:
        if sql.startswith(FIRST_OR_SAMPLED):
            continue
        if sql.startswith("UPDATE worker_balances"):
            if seen_update:
                continue
            seen_update = True
        out.append(sql)
    return out


def _line(row: LoadRow) -> str:
    s = row.summary()
    ratio = "" if row.ratio is None else f", ceiling {row.ceiling_cycles_per_s:,.0f}/s, app/ceiling {row.ratio:.2f}"
    return (f"  {row.label} {row.phones:>3} phones: {s['cycles_per_s'] or 0:,.0f} cycles/s, lease p50/p99 "
            f"{report.ms(s['lease_p50'])}/{report.ms(s['lease_p99'])} ms, submit p50/p99 "
            f"{report.ms(s['submit_p50'])}/{report.ms(s['submit_p99'])} ms, errors {row.errors} "
            f"(5xx {row.errors_5xx}), RSS {row.rss_mb or 0:.0f} MB{ratio}")


def run_scaling(rep: Report, opts: Options) -> None:
    say = opts.log
    name = opts.database + "_scale"
    say(f"Scaling: lease latency at {', '.join(f'{n:,}' for n in opts.scaling)} tasks (8 phones)")
    url = _create(opts, name)
    try:
        pool = datagen.fill(url, workers=opts.scaling_workers, tasks=opts.scaling[0], overlap=opts.overlap,
                            gold_ratio=opts.gold_ratio, lease_seconds=opts.lease_seconds)
        taken: set[int] = set()
        everything = PhoneLog()
        # One server for every size: ANALYZE after each growth makes PostgreSQL re-plan the
        # prepared statements of the pooled connections, as it would in production.
        with ExpiryLoop(url, opts.expiry_interval), Server(url, opts.server) as server:
            for size in opts.scaling:
                started = time.monotonic()
                datagen.grow(url, pool, size)
                datagen.checkpoint(url)  # the bulk load's dirty pages are written before we measure
                grown = time.monotonic() - started
                claims = claim_latencies(url, pool.worker_ids[-50:])
                row, log = _phones_run(server, pool, taken, 8, opts, f"{size:,} tasks", opts.scaling_duration)
                _merge(everything, log)
                sql = _ceiling_run(url, pool, taken, 8, opts, min(opts.scaling_duration, opts.ceiling_duration))
                rep.scaling.append({
                    "tasks": size, "lease_p50": percentile(row.lease_latencies, 50),
                    "lease_p99": percentile(row.lease_latencies, 99),
                    "sql_p50": percentile(sql.lease_latencies, 50), "cycles_per_s": row.cycles_per_s,
                    "claim_p50": percentile(claims, 50), "claim_p99": percentile(claims, 99),
                    "errors": row.errors,
                })
                say(f"  {size:>9,} tasks (grown in {grown:.0f}s): lease p50 {report.ms(rep.scaling[-1]['lease_p50'])}"
                    f" ms, p99 {report.ms(rep.scaling[-1]['lease_p99'])} ms; SQL lease p50 "
                    f"{report.ms(rep.scaling[-1]['sql_p50'])} ms; claim statement p50/p99 "
                    f"{report.ms(rep.scaling[-1]['claim_p50'])}/{report.ms(rep.scaling[-1]['claim_p99'])} ms; "
                    f"errors {row.errors}")
        _invariants(rep, url, everything, "postgresql (scaling)", opts)
    finally:
        if not opts.keep:
            datagen.drop_database(opts.pg_server, name)


def run_analytics(rep: Report, opts: Options) -> None:
    size = f"{opts.analytics_workers:,} workers / {opts.analytics_submissions:,} submissions"
    ok, note = analytics.available()
    if not ok:
        rep.analytics += analytics.measure("", size)
        opts.log(f"Analytics: {note}")
        return
    name = opts.database + "_analytics"
    opts.log(f"Analytics: generating {size}")
    url = _create(opts, name)
    try:
        made = datagen.fill_analytics(url, workers=opts.analytics_workers, submissions=opts.analytics_submissions)
        opts.log(f"  generated in {made['seconds']:.0f}s")
        rows = analytics.measure(url, size)
        rep.analytics += rows
        for row in rows:
            opts.log(f"  {row['name']}: {report.ms(row['seconds'])} ms {row['note']}")
    finally:
        if not opts.keep:
            datagen.drop_database(opts.pg_server, name)


def run_sqlite(rep: Report, opts: Options) -> None:
    say = opts.log
    folder = Path(tempfile.mkdtemp(prefix="labelpath-bench-sqlite-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    say(f"SQLite: {opts.sqlite_workers:,} workers, {opts.sqlite_tasks:,} tasks in {folder}")
    try:
        datagen.migrate(url)
        pool = datagen.fill(url, workers=opts.sqlite_workers, tasks=opts.sqlite_tasks, overlap=opts.overlap,
                            gold_ratio=opts.gold_ratio, lease_seconds=opts.lease_seconds)
        taken: set[int] = set()
        with ExpiryLoop(url, opts.expiry_interval) as expiry, Server(url, opts.server) as server:
            row, log = _phones_run(server, pool, taken, opts.sqlite_phones, opts, "app (SQLite)",
                                   opts.sqlite_duration)
            row.pg_ms = None  # PostgreSQL is not in this run
            rep.sqlite.append(row)
            say(_line(row))
        rep.notes.append(f"SQLite expiry loop: {expiry.stats}")
        _invariants(rep, url, log, "sqlite", opts)
    finally:
        if not opts.keep:
            shutil.rmtree(folder, ignore_errors=True)


def evaluate_targets(rep: Report) -> None:
    by_phones = {row.phones: row for row in rep.load}
    targets = []

    def add(name, value, met):
        targets.append({"target": name, "value": value, "met": met})

    if 32 in by_phones:
        row = by_phones[32]
        add("≥ 600 cycles/s at 32 phones (stretch 800)", f"{row.cycles_per_s:,.0f}", row.cycles_per_s >= 600)
        if row.ratio is not None:
            add("app/ceiling ≥ 0.2 at 32 phones", f"{row.ratio:.2f}", row.ratio >= 0.2)
        p99 = percentile(row.lease_latencies, 99)
        add("lease p99 ≤ 50 ms at 32 phones", f"{report.ms(p99)} ms", p99 is not None and p99 <= 0.050)
    if 8 in by_phones:
        p99 = percentile(by_phones[8].lease_latencies, 99)
        add("lease p99 ≤ 15 ms at 8 phones", f"{report.ms(p99)} ms", p99 is not None and p99 <= 0.015)
    if rep.load:
        peak = max(row.rss_mb or 0 for row in rep.load)
        add("total app RSS ≤ 250 MB", f"{peak:.0f} MB (PSS {max(r.pss_mb or 0 for r in rep.load):.0f} MB)",
            peak <= 250)
        fivexx = sum(row.errors_5xx for row in rep.load + rep.sqlite)
        add("zero 5xx", str(fivexx), fivexx == 0)
    if len(rep.scaling) >= 2:
        first, last = rep.scaling[0], rep.scaling[-1]
        if first["lease_p50"] and last["lease_p50"]:
            ratio = last["lease_p50"] / first["lease_p50"]
            add(f"lease p50 at {last['tasks']:,} tasks ≤ 1.3 × at {first['tasks']:,} (HTTP)", f"{ratio:.2f}×",
                ratio <= 1.3)
        if first.get("claim_p50") and last.get("claim_p50"):
            ratio = last["claim_p50"] / first["claim_p50"]
            add("the same for the claim statement alone (no HTTP, no commit: the pool-size effect)",
                f"{ratio:.2f}×", ratio <= 1.3)
    for row in rep.analytics:
        if row.get("job"):
            continue
        add(f"{row['name']} ≤ 500 ms ({row.get('size', '')})",
            "not available yet" if row["seconds"] is None else f"{report.ms(row['seconds'])} ms",
            None if row["seconds"] is None else row["seconds"] <= 0.5)
    if rep.invariants:
        add("zero invariant violations", str(rep.violations), rep.violations == 0)
    rep.targets = targets


def run(opts: Options) -> Report:
    rep = Report()
    rep.settings = {
        "machine": report.machine(),
        "mode": "quick" if opts.quick else "full",
        "server": opts.server.describe(),
        "pool": f"{opts.workers:,} workers, {opts.tasks:,} tasks × overlap {opts.overlap}, gold {opts.gold_ratio:.0%}, "
                f"lease {opts.lease_seconds}s",
        "load": f"{opts.duration:g}s measured per level after {opts.warmup:g}s warm-up; 10% of leases abandoned, "
                f"5% of submissions retried with the same key",
        "ceiling": f"{opts.ceiling_duration:g}s per level, at most {opts.max_connections} connections",
        "synchronous_commit": "off (bench databases only)" if opts.async_commit else "on (default)",
    }
    started = time.monotonic()
    rep.settings["load average at start"] = f"{machine_load.load_average():.1f}"
    phases = [(run_postgres, True), (run_scaling, bool(opts.scaling)), (run_analytics, opts.analytics),
              (run_sqlite, opts.sqlite)]
    for phase, wanted in phases:
        if wanted:
            began = time.monotonic()
            name = phase.__name__.removeprefix("run_")
            try:
                phase(rep, opts)
            except Exception as error:  # noqa: BLE001 - the other phases still run and report
                import traceback

                traceback.print_exc()
                rep.failures.append(f"{name}: {type(error).__name__}: {str(error)[:300]}")
            opts.log(f"  ({name}: {time.monotonic() - began:.0f}s)")
    evaluate_targets(rep)
    rep.settings["wall time"] = f"{time.monotonic() - started:.0f}s"
    if opts.write:
        report.write(rep, opts.results_path)
    return rep
