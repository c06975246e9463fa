"""The lease-expiry job, run the way the scheduler runs it (backend.scheduler.run_job: one app
context, one commit), every `interval` seconds in its own process while the load runs.

`python -m bench.expiry URL [--interval 1] [--duration 600]`; prints one JSON line when it stops
(SIGTERM or the duration): {"runs", "expired", "failures", "max_run_ms"}.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

JOB_ID = "microtasks.expire_leases"
ROOT = Path(__file__).resolve().parent.parent


def find_job(app):
    for job in app.extensions["labelpath_jobs"]:
        if job.id == JOB_ID:
            return job
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=600.0)
    args = parser.parse_args(argv)

    import logging

    from backend import create_app
    from backend.extensions import db
    from backend.scheduler import run_job
    from bench.server import SECRET_KEY

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.url, "SECRET_KEY": SECRET_KEY,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}
                      if not args.url.startswith("sqlite") else {}})
    logging.getLogger().setLevel(logging.WARNING)
    job = find_job(app)
    if job is None:
        print(json.dumps({"error": f"no job {JOB_ID}"}), flush=True)
        return 2
    stats = {"runs": 0, "expired": 0, "failures": 0, "max_run_ms": 0.0}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    counted = type(job)(job.id, lambda: _count(job.func, stats), job.trigger, job.trigger_args)
    deadline = time.monotonic() + args.duration
    while not stopping and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            run_job(app, counted)
        except Exception:  # noqa: BLE001 - logged by run_job; the loop goes on as the scheduler would
            stats["failures"] += 1
        stats["runs"] += 1
        stats["max_run_ms"] = max(stats["max_run_ms"], (time.perf_counter() - started) * 1000)
        end = time.monotonic() + args.interval
        while not stopping and time.monotonic() < end:
            time.sleep(min(0.1, args.interval))
    with app.app_context():
        db.engine.dispose()
    print(json.dumps(stats), flush=True)
    return 0


def _count(func, stats: dict):
    result = func()
    if isinstance(result, int):
        stats["expired"] += result
    return result


class ExpiryLoop:
    """`with ExpiryLoop(url) as loop:` … `loop.stats` after the block."""

    def __init__(self, url: str, interval: float = 1.0, duration: float = 900.0):
        self.url, self.interval, self.duration = url, interval, duration
        self.process: subprocess.Popen | None = None
        self.stats: dict = {}

    def __enter__(self) -> ExpiryLoop:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.expiry", self.url, "--interval", str(self.interval),
             "--duration", str(self.duration)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        lines = [line for line in (out or "").splitlines() if line.startswith("{")]
        self.stats = json.loads(lines[-1]) if lines else {"error": "no report"}


if __name__ == "__main__":
    sys.exit(main())
