"""What one accepted answer costs the quality review in SQL: the statements are counted with a
`before_cursor_execute` listener, so the per-answer cost stays small (bench/FINDINGS.md, section 3
item 5)."""

from __future__ import annotations

import contextlib
import datetime as dt

import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.quality import floors, review
from backend.quality.models import ProjectPace, WorkerProjectStats
from tests.conftest import AuthActions
from tests.support.concurrency import failures, run_together

from .review_support import START, certify, clock, configure, make_project, work
from .test_floors import QUIET


@contextlib.contextmanager
def statements():
    """The SQL sent on db.engine inside the block (SAVEPOINT / RELEASE included), in a
    transaction begun before it, as in a request (SQLite's BEGIN IMMEDIATE is not counted)."""
    seen: list[str] = []
    db.session.connection()

    def listener(_conn, _cursor, statement, _parameters, _context, _executemany):
        seen.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)


def paced_project(app, client, auth, answers: int = 20) -> tuple[int, int]:
    """A project with enough answers for a median (20 s), and a worker who answered there."""
    project_id = make_project(app, normal=answers + 10)
    worker = auth.register()
    certify(app, worker.id)
    for _ in range(answers):
        work(client, worker, project_id, {"label": "pos"}, duration_ms=20_000)
    return project_id, worker.id


def test_a_steady_state_answer_costs_the_review_one_statement(app, client, auth):
    configure(app, **QUIET)
    with clock():
        project_id, worker_id = paced_project(app, client, auth)
        with app.app_context():
            now = START
            with statements() as normal:
                review.on_submission_accepted(submission_id=10**9, user_id=worker_id, project_id=project_id,
                                              gold=False, correct=None, skill_code="llm_eval",
                                              duration_ms=21_000, submitted_at=now)
            with statements() as gold:
                review.on_submission_accepted(submission_id=10**9 + 1, user_id=worker_id, project_id=project_id,
                                              gold=True, correct=False, skill_code="llm_eval",
                                              duration_ms=19_000, submitted_at=now)
            row = db.session.execute(sa.select(WorkerProjectStats.answers, WorkerProjectStats.gold_answers,
                                               WorkerProjectStats.gold_correct, WorkerProjectStats.recent_gold,
                                               WorkerProjectStats.recent_fast)).one()
            db.session.rollback()
    assert len(normal) == 1, normal  # the worker's stats upsert; the pace comes from the cache
    assert normal[0].startswith("INSERT INTO worker_project_stats")
    # a gold answer: the same upsert, then the level rules' own statements (skills/rules.py)
    assert gold[0].startswith("INSERT INTO worker_project_stats") and \
        not any("project_paces" in s or "project_pauses" in s for s in gold), gold
    assert tuple(row) == (22, 1, 0, "0", "0" * 22)


def test_a_first_answer_in_a_project_and_a_stale_pace(app, client, auth):
    configure(app, **QUIET)
    with clock():
        project_id, _ = paced_project(app, client, auth)
        newcomer = auth.register()
    with app.app_context():
        with statements() as first:
            observation = floors.observe(newcomer.id, project_id, "llm_eval", gold=False, correct=None,
                                         duration_ms=1_000, now=START)
        assert (observation.fast, observation.answers, observation.gold_answers) == (True, 1, 0)
        assert len(first) == 1, first  # a new worker's row is the same upsert
        later = START + dt.timedelta(seconds=floors.setting("PACE_REFRESH_S") + 1)
        with statements() as stale:
            observation = floors.observe(newcomer.id, project_id, "llm_eval", gold=False, correct=None,
                                         duration_ms=1_000, now=later)
        assert observation.answers == 2 and observation.fast
        # the shared row, the latest durations, the refreshed row, the worker's stats
        assert len(stale) == 4, stale
        pace = db.session.get(ProjectPace, project_id)
        assert (pace.median_ms, pace.sample_size, pace.computed_at) == (20_000, 20, later)
        with statements() as again:
            floors.observe(newcomer.id, project_id, "llm_eval", gold=False, correct=None, duration_ms=1_000,
                           now=later)
        assert len(again) == 1, again


def test_the_pace_cache_follows_the_clock_and_the_shared_row(app, client, auth):
    with clock():
        project_id, _ = paced_project(app, client, auth)
    with app.app_context():
        assert floors.project_median_ms(project_id, START) == 20_000
        # another process refreshed the shared row: seen once this process's copy is stale
        db.session.execute(sa.update(ProjectPace).where(ProjectPace.project_id == project_id)
                           .values(median_ms=8_000, computed_at=START + dt.timedelta(seconds=300)))
        assert floors.project_median_ms(project_id, START + dt.timedelta(seconds=299)) == 20_000
        with statements() as sent:
            assert floors.project_median_ms(project_id, START + dt.timedelta(seconds=700)) == 8_000
        assert len(sent) == 1, sent  # the row was fresh: no recount
        with time_machine.travel(START + dt.timedelta(seconds=800), tick=False), statements() as sent:
            assert floors.project_median_ms(project_id) == 8_000  # `now` defaults to the (moved) clock
        assert sent == []
        db.session.rollback()


def test_the_pace_cache_is_per_app(app, client, auth):
    """A fresh app (a fresh database in the tests) starts without the previous app's medians."""
    from backend import create_app

    with clock():
        project_id, _ = paced_project(app, client, auth)
    with app.app_context():
        assert floors.project_median_ms(project_id, START) == 20_000
        db.session.execute(sa.update(ProjectPace).where(ProjectPace.project_id == project_id)
                           .values(median_ms=8_000))
        db.session.commit()
        assert floors.project_median_ms(project_id, START) == 20_000  # this app's copy
    other = create_app(dict(app.config))
    with other.app_context():
        assert floors.project_median_ms(project_id, START) == 8_000  # the shared row, not the other copy
        db.session.rollback()


def test_racing_answers_of_one_worker_are_all_counted(committing_app):
    """Both answers count, whether the row exists yet or not (the upsert takes the row lock)."""
    app = committing_app
    auth = AuthActions(app, app.test_client())
    project_id = make_project(app, normal=1)
    worker = auth.register()

    def answer(_index):
        with app.app_context():
            for _ in range(5):
                floors.observe(worker.id, project_id, "llm_eval", gold=True, correct=True,
                               duration_ms=20_000, now=START)
                db.session.commit()
            db.session.remove()

    errors = failures(run_together(4, answer))
    assert not errors, errors
    with app.app_context():
        row = db.session.get(WorkerProjectStats, (worker.id, project_id))
        assert (row.answers, row.gold_answers, row.gold_correct, row.fast_answers) == (20, 20, 20, 0)
        assert (row.recent_gold, row.recent_fast) == ("1" * 20, "0" * 20)


def test_the_outcome_strings_keep_the_newest_outcomes(app, auth):
    with app.app_context():
        project_id = make_project(app, normal=1)
        worker = auth.register()
        db.session.add(WorkerProjectStats(user_id=worker.id, project_id=project_id, answers=500, gold_answers=300,
                                          gold_correct=300, fast_answers=0, recent_gold="1" * floors.RECENT_KEEP,
                                          recent_fast="0" * floors.RECENT_KEEP, updated_at=START))
        db.session.flush()
        loaded = db.session.get(WorkerProjectStats, (worker.id, project_id))
        observation = floors.observe(worker.id, project_id, "llm_eval", gold=True, correct=False,
                                     duration_ms=None, now=START)
        assert (observation.answers, observation.gold_answers, observation.gold_correct) == (501, 301, 300)
        # an entity already in the session shows the new counts
        assert (loaded.answers, loaded.recent_gold) == (501, "1" * (floors.RECENT_KEEP - 1) + "0")
        assert loaded.recent_fast == "0" * floors.RECENT_KEEP and loaded.updated_at == START
