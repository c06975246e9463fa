"""`python -m bench [--quick] …` (`make bench`, `make bench QUICK=1`): run, print the table, write
bench/RESULTS.md. Exits 1 when an invariant is violated."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench import report
from bench.run import Options, run
from bench.server import ServerConfig


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def parse(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (under two minutes)")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/", help="PostgreSQL server (127.0.0.1)")
    p.add_argument("--database", default="labelpath_bench", help="name of the database the bench creates and drops")
    p.add_argument("--workers", type=int, help="workers in the pool (default 10,000; quick 2,000)")
    p.add_argument("--tasks", type=int, help="tasks in the pool (default 200,000; quick 20,000)")
    p.add_argument("--million", action="store_true", help="1,000,000 tasks in the main pool")
    p.add_argument("--phones", type=lambda s: [int(x) for x in s.split(",")], help="concurrency levels, e.g. 8,32,128")
    p.add_argument("--duration", type=float, help="measured seconds per level (default 30; quick 6)")
    p.add_argument("--ceiling-duration", type=float, help="measured seconds per ceiling level")
    p.add_argument("--max-connections", type=int, default=40,
                   help="connections the ceiling may open (≤ 64; 40 keeps a whole run ≤ 64 with the app's pool)")
    p.add_argument("--scaling", type=_sizes, help="pool sizes of the scaling row, e.g. 10000,100000,1000000")
    p.add_argument("--lease-seconds", type=int, help="lease time of the bench projects (default 5; quick 3)")
    p.add_argument("--gunicorn-workers", type=int, default=ServerConfig.workers)
    p.add_argument("--worker-class", default=ServerConfig.worker_class, choices=["sync", "gthread"])
    p.add_argument("--threads", type=int, default=ServerConfig.threads, help="threads per gthread worker")
    p.add_argument("--preload", action="store_true", help="gunicorn --preload (shares the app's memory)")
    p.add_argument("--async-commit", action="store_true",
                   help="synchronous_commit=off on the bench databases only (takes the disk's fsync out)")
    p.add_argument("--profile", type=lambda s: [int(x) for x in s.split(",")], default=[],
                   help="py-spy the app's processes during these levels, e.g. 32 (writes bench/profiles/)")
    p.add_argument("--skip-ceiling", action="store_true")
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--skip-analytics", action="store_true")
    p.add_argument("--skip-sqlite", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the bench databases")
    p.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    p.add_argument("--results", type=Path, default=report.RESULTS_PATH)
    a = p.parse_args(argv)
    if a.max_connections > 64:
        p.error("--max-connections must be ≤ 64 (PostgreSQL has about 100 connections here)")
    threads = a.threads if a.worker_class == "gthread" else 1
    server = ServerConfig(workers=a.gunicorn_workers, worker_class=a.worker_class, threads=threads,
                          pool_size=max(threads, 2), max_overflow=2, preload=a.preload)
    overrides = {key: value for key, value in {
        "pg_server": a.pg_url, "database": a.database, "workers": a.workers,
        "tasks": 1_000_000 if a.million else a.tasks, "phones": a.phones, "duration": a.duration,
        "ceiling_duration": a.ceiling_duration, "max_connections": a.max_connections, "scaling": a.scaling,
        "lease_seconds": a.lease_seconds, "server": server, "keep": a.keep, "write": not a.no_write,
        "results_path": a.results, "async_commit": a.async_commit, "profile": a.profile,
    }.items() if value is not None}
    if a.skip_ceiling:
        overrides["ceiling"] = False
    if a.skip_scaling:
        overrides["scaling"] = []
    if a.skip_analytics:
        overrides["analytics"] = False
    if a.skip_sqlite:
        overrides["sqlite"] = False
    return Options.quick_mode(**overrides) if a.quick else Options(**overrides)


def main(argv: list[str] | None = None) -> int:
    # create_app reuses a root handler marked _labelpath and then leaves the level alone: the bench's
    # own output stays readable (warnings and errors of the app still show).
    handler = logging.StreamHandler()
    handler._labelpath = True
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    opts = parse(argv)
    opts.log = lambda text: print(text, flush=True)
    rep = run(opts)
    print()
    print(report.render(rep))
    if opts.write:
        print(f"Written to {opts.results_path}")
    if rep.violations or rep.failures:
        print(f"FAIL: {rep.violations} invariant violation(s), {len(rep.failures)} failed phase(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
