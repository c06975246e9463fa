"""The scheduler runtime: jobs run in an app context and commit; a second scheduler waits."""

import threading

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler

from backend.accounts.models import User
from backend.extensions import db
from backend.scheduler import Job, SchedulerLock, build_scheduler, run_job


def test_job_runs_in_app_context_and_commits(committing_app):
    def make_user():
        from backend.accounts import services as accounts

        accounts.create_user("job@example.com", "password 1234", "job")

    run_job(committing_app, Job("test.make_user", make_user, "interval", {"hours": 1}))
    with committing_app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == 1


def test_second_scheduler_waits_for_the_first(committing_app):
    url = committing_app.config["SQLALCHEMY_DATABASE_URI"]
    first, second = SchedulerLock(url), SchedulerLock(url)
    assert first.acquire(timeout=5)
    try:
        assert second.acquire(timeout=0.3, poll=0.1) is False
        got_it = threading.Event()
        waiter = threading.Thread(target=lambda: second.acquire(timeout=10, poll=0.05) and got_it.set())
        waiter.start()
        assert not got_it.wait(0.3)  # still waiting while the first holds the lock
        first.release()
        waiter.join(5)
        assert got_it.is_set()
    finally:
        first.release()
        second.release()


def test_jobs_are_registered_with_stable_ids_and_single_instance(app):
    jobs = app.extensions["labelpath_jobs"]
    ids = [job.id for job in jobs]
    assert len(ids) == len(set(ids))
    scheduler = build_scheduler(app, jobs, BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        for job in scheduler.get_jobs():
            assert job.max_instances == 1 and job.coalesce is True
        assert {job.id for job in scheduler.get_jobs()} == set(ids)
    finally:
        scheduler.shutdown(wait=False)
