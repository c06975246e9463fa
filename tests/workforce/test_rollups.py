"""The answer rollups: counted once whatever runs when, young answers wait for the lag, a rebuild
agrees with the increments, two refreshes at once count nothing twice."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from backend.extensions import db
from backend.workforce import services
from backend.workforce.models import HourlyAnswers, RollupState, WorkerActivity, WorkerTotals
from tests.support.concurrency import failures, run_together
from tests.workforce.conftest import NOW, Builder, at, build


def workforce_summary_counts() -> tuple[int, int]:
    body = services.summary(NOW)
    return body["active_7d"], body["active_30d"]


def _snapshot() -> dict:
    return {
        "totals": sorted(db.session.execute(sa.select(
            WorkerTotals.user_id, WorkerTotals.answers, WorkerTotals.gold_answers, WorkerTotals.gold_correct,
            WorkerTotals.first_answer_at, WorkerTotals.last_answer_at)).all()),
        "activity": sorted(db.session.execute(sa.select(
            WorkerActivity.user_id, WorkerActivity.skill_code, WorkerActivity.answers,
            WorkerActivity.gold_answers, WorkerActivity.gold_correct, WorkerActivity.last_answer_at)).all()),
        "hours": sorted(db.session.execute(sa.select(
            HourlyAnswers.hour, HourlyAnswers.skill_code, HourlyAnswers.answers, HourlyAnswers.gold_answers)).all()),
    }


def test_refresh_counts_every_answer_once(app, workforce):
    with app.app_context():
        assert workforce_summary_counts() == (1, 2)
        moved = services.refresh_rollups(NOW, batch=2, max_batches=2)  # a backlog is caught up in steps
        assert moved > 0
        while services.refresh_rollups(NOW, batch=2, max_batches=2):
            pass
        db.session.commit()
        incremental = _snapshot()
        minsu = next(row for row in incremental["totals"] if row.user_id == workforce.ids["minsu"])
        assert (minsu.answers, minsu.gold_answers, minsu.gold_correct) == (5, 2, 2)
        assert sum(row.answers for row in incremental["hours"]) == 9
        assert services.refresh_rollups(NOW) == 0  # nothing new: nothing moves
        assert _snapshot() == incremental
        services.rebuild_rollups(NOW)
        db.session.commit()
        assert _snapshot() == incremental
        assert workforce_summary_counts() == (1, 2)


def test_young_answers_wait_for_the_lag_but_count_at_once(app, workforce):
    builder = Builder(workforce)
    with app.app_context():
        services.refresh_rollups(NOW)
        db.session.commit()
        high = db.session.get(RollupState, "answers").last_submission_id
        builder.answer("seoyeon", NOW - dt.timedelta(seconds=30), normal=1)
        db.session.commit()
        assert services.refresh_rollups(NOW) == 0  # 30 s old: a transaction might still hide an older id
        assert db.session.get(RollupState, "answers").last_submission_id == high
        assert workforce_summary_counts() == (2, 2)  # counted anyway, from above the watermark
        assert services.refresh_rollups(NOW + dt.timedelta(minutes=3)) == 1
        assert services.summary(NOW)["active_7d"] == 2


def test_two_refreshes_at_once_count_nothing_twice(committing_app):
    with at(NOW):
        data = build(committing_app)
    with committing_app.app_context():
        assert services.refresh_rollups(NOW - dt.timedelta(days=600)) == 0  # the watermark row exists at 0
        db.session.commit()

    def refresh(_index):
        with committing_app.app_context():
            services.refresh_rollups(NOW)
            db.session.commit()

    assert not failures(run_together(2, refresh))
    with committing_app.app_context():
        totals = {row.user_id: row.answers for row in db.session.execute(sa.select(WorkerTotals)).scalars()}
        assert totals == {data.ids["minsu"]: 5, data.ids["seoyeon"]: 3, data.ids["yujin"]: 1}


def test_jobs_are_scheduled(app):
    jobs = {job.id: job for job in app.extensions["labelpath_jobs"]}
    assert jobs["workforce.refresh_rollups"].func is services.refresh_rollups
    assert jobs["workforce.rebuild_rollups"].trigger == "cron"
