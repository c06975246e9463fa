"""The one scheduler process: `flask --app wsgi scheduler run`.

Jobs are data (a stable id, a trigger, a function) that each domain lists in its jobs.py;
create_app collects them. Every job runs in an app context and commits once. APScheduler 3 has
no locking between processes, so the runner first takes a single-instance lock — a PostgreSQL
advisory lock on a dedicated connection outside the pool, or an flock on a file next to the
SQLite database — and a second scheduler started by mistake waits for it instead of running
jobs twice. The web process never starts a scheduler.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x4C61_6250  # "LabP"


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[], object]
    trigger: str  # an APScheduler trigger name: "interval" or "cron"
    trigger_args: dict = field(default_factory=dict)


def run_job(app: Flask, job: Job) -> None:
    """Run one job in an app context with one commit; a failure rolls back and is logged."""
    from backend.extensions import db
    from backend.observability import JOB_RUNS

    with app.app_context():
        try:
            result = job.func()
            db.session.commit()
            JOB_RUNS.labels(job.id, "ok").inc()
            log.info("job %s done: %s", job.id, result)
        except Exception:
            db.session.rollback()
            JOB_RUNS.labels(job.id, "failed").inc()
            log.exception("job %s failed", job.id)
            raise


class SchedulerLock:
    """Only one scheduler at a time, across processes and machines sharing the database."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._connection = None
        self._engine = None
        self._file = None

    def _try_acquire(self) -> bool:
        if self.database_url.startswith("sqlite"):
            return self._try_flock()
        if self._connection is None:
            self._engine = sa.create_engine(self.database_url, poolclass=NullPool)
            self._connection = self._engine.connect()
        got = self._connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"),
                                       {"key": ADVISORY_LOCK_KEY}).scalar()
        self._connection.commit()
        return bool(got)

    def _try_flock(self) -> bool:
        database = sa.engine.make_url(self.database_url).database or "memory"
        path = Path(f"{database}.scheduler.lock")
        if self._file is None:
            self._file = open(path, "a+")  # noqa: SIM115 - held open while the lock is held
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def acquire(self, timeout: float | None = None, poll: float = 1.0) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        while not self._try_acquire():
            if not announced:
                log.warning("another scheduler holds the lock; waiting for it")
                announced = True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            self._connection.close()
            self._engine.dispose()
            self._connection = self._engine = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def build_scheduler(app: Flask, jobs: list[Job], scheduler_class=BlockingScheduler):
    scheduler = scheduler_class(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300,
    })
    for job in jobs:
        scheduler.add_job(run_job, job.trigger, args=(app, job), id=job.id, name=job.id,
                          replace_existing=True, **job.trigger_args)
    return scheduler


def run(app: Flask) -> None:
    jobs: list[Job] = app.extensions["labelpath_jobs"]
    lock = SchedulerLock(app.config["SQLALCHEMY_DATABASE_URI"])
    lock.acquire()
    log.info("scheduler lock taken; running %d jobs: %s", len(jobs), ", ".join(j.id for j in jobs))
    try:
        build_scheduler(app, jobs).start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopping")
    finally:
        lock.release()
