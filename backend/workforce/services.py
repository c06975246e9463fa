"""Workforce analytics for managers: where the workforce stands and who can take which work.

Definitions (docs/API.md, "Workforce analytics and dashboard"):

- The workforce is every account with role `worker` that is not deleted.
- Active in the last N days: gave at least one answer (an accepted submission) in that time; per
  skill, to a project of that skill.
- Certified: holds a valid certificate (not revoked, not expired) — the condition of
  quizzes.certified_users(valid_at=…); per skill every holder is counted, as
  quizzes.certificate_counts() does, the total only over the workforce.
- Funnel stages, per weekly cohort of registration (weeks start Monday 00:00 Asia/Seoul):
  registered → enrolled in a course → completed a course → certified (a certificate that was not
  revoked, expired or not) → first task (any answer) → active in the last 7 days. Each stage counts
  the workers who reached it; `conversion` is the share of the previous stage, `share` the share of
  the registered.

Scale. Answers are read through rollups (backend/workforce/models.py) that the job
`workforce.refresh_rollups` keeps current every minute: per worker, per worker and skill (first
and last answer, answers, gold answers, right gold answers) and per hour and skill. Every reader
adds the answers above the rollups' watermark (the few not yet counted), inside the same SQL
statement as the rollup rows, so figures are exact at any moment and never count an answer twice.
Levels come from the indexed worker_skills table, certificates and enrollments from statements
their domains' services build (composed here into one query). Counts over the workforce subtract
the few accounts outside it (staff, deleted; a partial index) instead of joining users.

At 100,000 workers / 1,000,000 answers (bench/analytics.py; issue #10: ≤ 500 ms each) nothing is
loaded row by row: certificate figures are grouped counts in SQL, and the sets read per worker (the
workforce, unrevoked certificates, completed enrollments) come sorted from narrow partial indexes
(migration 0005) and are merged rather than each hashed.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import aliased

import courses.services as courses
import quizzes.services as quizzes
from backend.accounts import services as accounts
from backend.accounts.models import User
from backend.database import is_postgresql, utcnow
from backend.errors import Invalid, NotFound
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.services import projects as microtask_projects
from backend.payouts import services as payouts
from backend.quality import results as quality_results
from backend.quality import stats
from backend.quality.models import Appeal, Review
from backend.skills import services as skills
from backend.workforce.models import HourlyAnswers, RollupState, WorkerActivity, WorkerTotals
from quizzes.models import Certificate

ROLLUP = "answers"
REFRESH_LAG = dt.timedelta(minutes=2)  # answers younger than this wait for the next run
REFRESH_BATCH = 250_000  # submission ids per statement while catching up
REFRESH_MAX_BATCHES = 8  # per run (a big backlog is caught up over a few runs)
# A rebuild counts in far bigger steps: each step rewrites every active worker's rollup rows, so
# 250,000-id steps left 4–5 dead versions of each row for the readers to skip until a vacuum.
REBUILD_BATCH = 5_000_000
EXPIRING_DAYS = 30
WEEK_TZ = zoneinfo.ZoneInfo("Asia/Seoul")
FUNNEL_STAGES = ("registered", "enrolled", "course_completed", "certified", "first_task", "active_7d")
MIN_GOLD_FOR_HISTOGRAM = 5
ACTIVITY_FILTERS = ("active_7d", "active_30d", "inactive_30d", "never")
WORKER_SORTS = ("name", "created_at", "last_active", "accuracy", "answers", "id")
HOUR = 3600
SKILL_CODE = re.compile(r"[a-z0-9_]{1,40}")


# ----------------------------------------------------------------------------- building blocks


def _facts():
    """Every accepted answer: (id, user_id, project_id, skill_code, is_gold, correct, created_at)."""
    return microtask_projects.answer_facts().subquery("facts")


def _above_watermark(id_column):
    """`id_column` is above the rollups' watermark. The watermark is read twice: as a number (so
    the planner sees how few rows qualify) and as a subquery inside the caller's statement, which
    then sees it in the same snapshot as the rollup rows: a refresh committing in between moves it
    up, never down, so no answer is counted twice or missed."""
    current = db.session.execute(sa.select(RollupState.last_submission_id)
                                 .where(RollupState.name == ROLLUP)).scalar() or 0
    in_snapshot = sa.func.coalesce(sa.select(RollupState.last_submission_id).where(RollupState.name == ROLLUP)
                                   .scalar_subquery(), 0)
    return sa.and_(id_column > current, id_column > in_snapshot)


def _in_workforce(user_id_column):
    """The row's user is in the workforce: not one of the few accounts outside it (staff, deleted),
    a small hashed set, so a count over many rows needs no join with users."""
    outsiders = sa.select(User.id).where(sa.or_(User.role != "worker", User.deleted_at.is_not(None)))
    return user_id_column.not_in(outsiders)


def _workforce():
    """The workforce's rows of users. 'worker' is written into the SQL, not bound, so PostgreSQL
    always matches the partial index ix_users_workforce (also in a prepared statement's generic plan)."""
    return sa.and_(User.role == sa.literal_column("'worker'"), User.deleted_at.is_(None))


def _workforce_count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(User).where(_workforce())).scalar_one()


def _epoch_hour(column):
    """floor(epoch seconds / 3600) of a UTC timestamp column, on either database."""
    if is_postgresql(db.session):
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / HOUR), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) // HOUR


def _hour_of(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // HOUR


def _greatest(a, b):
    return sa.func.greatest(a, b) if is_postgresql(db.session) else sa.func.max(a, b)


def _least(a, b):
    return sa.func.least(a, b) if is_postgresql(db.session) else sa.func.min(a, b)


def _upsert(model):
    return (pg_dialect.insert if is_postgresql(db.session) else sqlite_dialect.insert)(model)


def _gold(f):
    return sa.case((f.c.is_gold == sa.true(), 1), else_=0)


def _gold_correct(f):
    return sa.case((sa.and_(f.c.is_gold == sa.true(), f.c.correct == sa.true()), 1), else_=0)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ----------------------------------------------------------------------------- rollups (job)


def _locked_state() -> RollupState:
    """The watermark row, locked for this transaction (a second scheduler waits, then sees the
    first one's watermark: nothing is counted twice). SQLite jobs already hold the write lock."""
    stmt = sa.select(RollupState).where(RollupState.name == ROLLUP).with_for_update()
    state = db.session.execute(stmt).scalar_one_or_none()
    if state is None:
        db.session.execute(_upsert(RollupState).values(name=ROLLUP, last_submission_id=0, refreshed_at=utcnow())
                           .on_conflict_do_nothing(index_elements=["name"]))
        state = db.session.execute(stmt.execution_options(populate_existing=True)).scalar_one()
    return state


def _count_range(low: int, high: int) -> None:
    """Add the answers with low < id <= high to both rollups (one INSERT … SELECT each)."""
    f = _facts()
    in_range = sa.and_(f.c.id > low, f.c.id <= high)
    per_worker = (sa.select(f.c.user_id, f.c.skill_code, sa.func.min(f.c.created_at), sa.func.max(f.c.created_at),
                            sa.func.count(), sa.func.sum(_gold(f)), sa.func.sum(_gold_correct(f)))
                  .where(in_range).group_by(f.c.user_id, f.c.skill_code))
    stmt = _upsert(WorkerActivity).from_select(
        ["user_id", "skill_code", "first_answer_at", "last_answer_at", "answers", "gold_answers", "gold_correct"],
        per_worker)
    table = WorkerActivity.__table__
    db.session.execute(stmt.on_conflict_do_update(index_elements=["user_id", "skill_code"], set_={
        "first_answer_at": _least(table.c.first_answer_at, stmt.excluded.first_answer_at),
        "last_answer_at": _greatest(table.c.last_answer_at, stmt.excluded.last_answer_at),
        "answers": table.c.answers + stmt.excluded.answers,
        "gold_answers": table.c.gold_answers + stmt.excluded.gold_answers,
        "gold_correct": table.c.gold_correct + stmt.excluded.gold_correct,
    }))
    per_user = (sa.select(f.c.user_id, sa.func.min(f.c.created_at), sa.func.max(f.c.created_at), sa.func.count(),
                          sa.func.sum(_gold(f)), sa.func.sum(_gold_correct(f)))
                .where(in_range).group_by(f.c.user_id))
    stmt = _upsert(WorkerTotals).from_select(
        ["user_id", "first_answer_at", "last_answer_at", "answers", "gold_answers", "gold_correct"], per_user)
    table = WorkerTotals.__table__
    db.session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_={
        "first_answer_at": _least(table.c.first_answer_at, stmt.excluded.first_answer_at),
        "last_answer_at": _greatest(table.c.last_answer_at, stmt.excluded.last_answer_at),
        "answers": table.c.answers + stmt.excluded.answers,
        "gold_answers": table.c.gold_answers + stmt.excluded.gold_answers,
        "gold_correct": table.c.gold_correct + stmt.excluded.gold_correct,
    }))
    hour = _epoch_hour(f.c.created_at)
    per_hour = (sa.select(hour, f.c.skill_code, sa.func.count(), sa.func.sum(_gold(f)), sa.func.sum(_gold_correct(f)))
                .where(in_range).group_by(hour, f.c.skill_code))
    stmt = _upsert(HourlyAnswers).from_select(["hour", "skill_code", "answers", "gold_answers", "gold_correct"],
                                              per_hour)
    table = HourlyAnswers.__table__
    db.session.execute(stmt.on_conflict_do_update(index_elements=["hour", "skill_code"], set_={
        "answers": table.c.answers + stmt.excluded.answers,
        "gold_answers": table.c.gold_answers + stmt.excluded.gold_answers,
        "gold_correct": table.c.gold_correct + stmt.excluded.gold_correct,
    }))


def refresh_rollups(now: dt.datetime | None = None, *, batch: int = REFRESH_BATCH,
                    max_batches: int = REFRESH_MAX_BATCHES) -> int:
    """Scheduled every minute: count the answers above the watermark into the rollups, in id
    order, up to the first answer younger than REFRESH_LAG (a submission whose transaction is
    still open cannot be skipped: it is younger than the lag when it commits). Returns how many
    submission ids the watermark moved. Idempotent; safe with two schedulers (the state row lock)."""
    now = now or utcnow()
    state = _locked_state()
    start = low = state.last_submission_id
    f = _facts()
    for _ in range(max_batches):
        newest, too_young = db.session.execute(sa.select(
            sa.func.max(f.c.id), sa.func.min(f.c.id).filter(f.c.created_at > now - REFRESH_LAG),
        ).where(f.c.id > low)).one()
        if newest is None:
            break
        high = min(low + batch, newest, too_young - 1 if too_young is not None else newest)
        if high <= low:
            break
        _count_range(low, high)
        low = high
        if high == newest or too_young is not None and high == too_young - 1:
            break
    state.last_submission_id = low
    state.refreshed_at = now
    db.session.flush()
    return low - start


def rebuild_rollups(now: dt.datetime | None = None) -> int:
    """Scheduled daily (and after restores): recount the rollups from every answer, in one
    transaction (readers keep seeing the old counts until it commits). Heals anything a refresh
    could have missed (an answer deleted, a transaction that stayed open past the lag)."""
    now = now or utcnow()
    state = _locked_state()
    for model in (WorkerTotals, WorkerActivity, HourlyAnswers):
        db.session.execute(sa.delete(model))
    state.last_submission_id = 0
    db.session.flush()
    counted = refresh_rollups(now, batch=REBUILD_BATCH, max_batches=1_000_000)
    state.rebuilt_at = now
    db.session.flush()
    return counted


# ----------------------------------------------------------------------------- activity


def _tail(*group_by):
    """The answers above the watermark, summed per `group_by` ("user_id", "skill_code"): few rows
    (what the job has not counted yet)."""
    f = _facts()
    columns = [f.c[name] for name in group_by]
    return (sa.select(*columns, sa.func.count().label("answers"), sa.func.sum(_gold(f)).label("gold_answers"),
                      sa.func.sum(_gold_correct(f)).label("gold_correct"),
                      sa.func.min(f.c.created_at).label("first_at"), sa.func.max(f.c.created_at).label("last_at"))
            .where(_above_watermark(f.c.id)).group_by(*columns))


def _later(a, b):
    """The later of two nullable timestamps (SQLite's max() of a NULL is NULL)."""
    return _greatest(sa.func.coalesce(a, b), sa.func.coalesce(b, a))


def _worker_stats():
    """Per worker of the workforce: answers, gold answers, right gold answers, first and last
    answer — the totals rollup plus the answers above the watermark (one subquery, one snapshot)."""
    totals, tail = WorkerTotals, _tail("user_id").subquery("tail")
    return (sa.select(User.id.label("user_id"),
                      (sa.func.coalesce(totals.answers, 0) + sa.func.coalesce(tail.c.answers, 0)).label("answers"),
                      (sa.func.coalesce(totals.gold_answers, 0) + sa.func.coalesce(tail.c.gold_answers, 0))
                      .label("gold_answers"),
                      (sa.func.coalesce(totals.gold_correct, 0) + sa.func.coalesce(tail.c.gold_correct, 0))
                      .label("gold_correct"),
                      _later(totals.last_answer_at, tail.c.last_at).label("last_at"))
            .select_from(User).outerjoin(totals, totals.user_id == User.id)
            .outerjoin(tail, tail.c.user_id == User.id)
            .where(User.role == "worker", User.deleted_at.is_(None)))


def _active_counts(now: dt.datetime) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """({skill: {active_7d, active_30d}}, {active_7d, active_30d}) over the workforce.

    One statement (one snapshot): the rollup rows active since 30 days, counted per skill and in
    total, plus the workers and skills that only the answers above the watermark make active."""
    week, month = now - dt.timedelta(days=7), now - dt.timedelta(days=30)
    act, totals = WorkerActivity, WorkerTotals
    rolled_skill = (sa.select(act.skill_code.label("skill"), sa.func.count().filter(act.last_answer_at >= week)
                              .label("d7"), sa.func.count().label("d30"))
                    .where(act.last_answer_at >= month, _in_workforce(act.user_id)).group_by(act.skill_code))
    tail = _tail("user_id", "skill_code").subquery("tail")
    fresh_skill = (sa.select(tail.c.skill_code.label("skill"),
                             sa.func.count().filter(tail.c.last_at >= week, sa.or_(
                                 act.last_answer_at.is_(None), act.last_answer_at < week)).label("d7"),
                             sa.func.count().filter(sa.or_(act.last_answer_at.is_(None), act.last_answer_at < month))
                             .label("d30"))
                   .select_from(tail).outerjoin(act, sa.and_(act.user_id == tail.c.user_id, act.skill_code == tail.c.skill_code))
                   .where(tail.c.last_at >= month, _in_workforce(tail.c.user_id)).group_by(tail.c.skill_code))
    rolled_all = (sa.select(sa.literal(None, sa.String).label("skill"),
                            sa.func.count().filter(totals.last_answer_at >= week).label("d7"),
                            sa.func.count().label("d30"))
                  .where(totals.last_answer_at >= month, _in_workforce(totals.user_id)))
    tail_users = _tail("user_id").subquery("tail_users")
    fresh_all = (sa.select(sa.literal(None, sa.String).label("skill"),
                           sa.func.count().filter(tail_users.c.last_at >= week, sa.or_(
                               totals.last_answer_at.is_(None), totals.last_answer_at < week)).label("d7"),
                           sa.func.count().filter(sa.or_(totals.last_answer_at.is_(None),
                                                         totals.last_answer_at < month)).label("d30"))
                 .select_from(tail_users).outerjoin(totals, totals.user_id == tail_users.c.user_id)
                 .where(tail_users.c.last_at >= month, _in_workforce(tail_users.c.user_id)))
    by_skill: dict[str, dict[str, int]] = defaultdict(lambda: {"active_7d": 0, "active_30d": 0})
    overall = {"active_7d": 0, "active_30d": 0}
    for skill, d7, d30 in db.session.execute(sa.union_all(rolled_skill, fresh_skill, rolled_all, fresh_all)):
        target = overall if skill is None else by_skill[skill]
        target["active_7d"] += d7 or 0
        target["active_30d"] += d30 or 0
    return by_skill, overall


# ----------------------------------------------------------------------------- summary


def _certified_counts(now: dt.datetime) -> tuple[dict[str, int], int]:
    """({skill: holders of a valid certificate}, certified workers of the workforce), in one pass.

    "Valid" is the quizzes domain's own condition (quizzes.certified_users(valid_at=now)). The
    (worker, skill) pairs come in order from the partial index ix_certificates_unrevoked, each
    worker's first pair marks the worker once; no count(DISTINCT …) sorts or hashes the table
    twice. As quizzes.certificate_counts() did, the per-skill counts include every account."""
    valid = quizzes.certified_users(valid_at=now).whereclause
    pairs = (sa.select(Certificate.user_id, Certificate.skill_code,
                       (sa.func.row_number().over(partition_by=Certificate.user_id) == 1).label("first_pair"))
             .where(valid).group_by(Certificate.user_id, Certificate.skill_code).subquery("pairs"))
    per_skill, total = {}, 0
    for skill, holders, workers in db.session.execute(
            sa.select(pairs.c.skill_code, sa.func.count(),
                      sa.func.count().filter(pairs.c.first_pair == sa.true(), _in_workforce(pairs.c.user_id)))
            .group_by(pairs.c.skill_code)):
        per_skill[skill] = holders
        total += workers
    return per_skill, total


def _expiring_counts(start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """{skill: valid certificates expiring in [start, end) that no later certificate of the same
    worker, skill and level (or higher) replaces}: the rows of quizzes.certificates_expiring_between,
    counted in SQL instead of loaded (their names are not needed here). The "replaced" test is an
    index-only probe of ix_certificates_unrevoked per expiring certificate (LIMIT 1 keeps it a
    per-row probe rather than a hash of every certificate). quizzes' `newer.id != id` is left out:
    a later expiry already excludes the certificate itself, and it would need the table's rows."""
    newer = aliased(Certificate)
    replacement = (sa.select(sa.literal(1)).where(
        newer.user_id == Certificate.user_id, newer.skill_code == Certificate.skill_code,
        newer.revoked_at.is_(None), newer.level >= Certificate.level,
        newer.expires_at > Certificate.expires_at).limit(1).scalar_subquery())
    return dict(db.session.execute(
        sa.select(Certificate.skill_code, sa.func.count())
        .where(Certificate.revoked_at.is_(None), Certificate.expires_at >= start, Certificate.expires_at < end,
               Certificate.expires_at > utcnow(), replacement.is_(None))
        .group_by(Certificate.skill_code)).tuples().all())


def summary(now: dt.datetime | None = None) -> dict:
    """GET /manage/workforce/summary: per skill, workers at each level, certified, certificates
    expiring within 30 days, active in the last 7 and 30 days; and the same over all skills."""
    now = now or utcnow()
    workforce = _workforce_count()
    levels = skills.level_counts()
    certified, certified_total = _certified_counts(now)
    expiring = _expiring_counts(now, now + dt.timedelta(days=EXPIRING_DAYS))
    expiring_total = sum(expiring.values())
    active, active_total = _active_counts(now)
    items = []
    for skill in skills.list_skills():
        counts = levels.get(skill.code, {})
        certified_levels = {level: counts.get(level, 0) for level in range(1, skill.max_level + 1)}
        items.append({
            "skill": skill.code, "name": skill.name, "max_level": skill.max_level,
            "levels": [{"level": 0, "workers": max(0, workforce - sum(certified_levels.values()))}]
            + [{"level": level, "workers": n} for level, n in certified_levels.items()],
            "at_level_1_or_above": sum(certified_levels.values()),
            "certified": certified.get(skill.code, 0), "expiring_30d": expiring.get(skill.code, 0),
            "active_7d": active.get(skill.code, {}).get("active_7d", 0),
            "active_30d": active.get(skill.code, {}).get("active_30d", 0),
        })
    return {"generated_at": now, "workers": workforce, "certified": certified_total,
            "expiring_30d": expiring_total, **active_total, "skills": items}


# ----------------------------------------------------------------------------- funnel


def week_starts(now: dt.datetime, weeks: int) -> list[dt.datetime]:
    """The UTC instants at which the last `weeks` weeks began (Monday 00:00 in WEEK_TZ), oldest first."""
    local = now.astimezone(WEEK_TZ)
    monday = local.date() - dt.timedelta(days=local.weekday())
    starts = []
    for back in range(weeks - 1, -1, -1):
        day = monday - dt.timedelta(weeks=back)
        starts.append(dt.datetime(day.year, day.month, day.day, tzinfo=WEEK_TZ).astimezone(dt.UTC))
    return starts


def _stages(counts: list[int]) -> list[dict]:
    stages = []
    for index, (name, count) in enumerate(zip(FUNNEL_STAGES, counts, strict=True)):
        stages.append({"stage": name, "count": count,
                       "conversion": _ratio(count, counts[index - 1]) if index else (1.0 if count else None),
                       "share": _ratio(count, counts[0])})
    return stages


def _sorted_ids(stmt, name: str):
    """A domain's statement of distinct user ids as a subquery sorted by user id. Sorted, each
    stage's ids stream from an index (course_enrollments' unique key, ix_course_enrollments_completed,
    ix_certificates_unrevoked) and merge with the workforce's ids (ix_users_workforce) in one pass,
    where unsorted they would each be hashed and joined."""
    return stmt.order_by(*stmt.selected_columns).subquery(name)


def funnel(weeks: int = 8, now: dt.datetime | None = None) -> dict:
    """GET /manage/workforce/funnel: the stages with counts and conversion rates, for the whole
    workforce and per weekly cohort of registration (the last `weeks` weeks, oldest first)."""
    if weeks is None:
        weeks = 8
    if not 1 <= weeks <= 104:
        raise Invalid.field("weeks", "Must be between 1 and 104.")
    now = now or utcnow()
    starts = week_starts(now, weeks)
    cohort = sa.case(*((User.created_at >= start, index) for index, start in reversed(list(enumerate(starts)))),
                     else_=-1).label("cohort")
    week = now - dt.timedelta(days=7)
    enrolled = _sorted_ids(courses.enrolled_users(), "enrolled")
    completed = _sorted_ids(courses.enrolled_users(completed=True), "completed")
    certified = _sorted_ids(quizzes.certified_users(), "certified")
    totals, tail = WorkerTotals, _tail("user_id").subquery("tail")
    stage_filters = (
        enrolled.c.user_id.is_not(None),
        completed.c.user_id.is_not(None),
        certified.c.user_id.is_not(None),
        sa.or_(totals.user_id.is_not(None), tail.c.user_id.is_not(None)),
        sa.or_(totals.last_answer_at >= week, tail.c.last_at >= week),
    )
    rows = db.session.execute(
        sa.select(cohort, sa.func.count(), *(sa.func.count().filter(condition) for condition in stage_filters))
        .select_from(User)
        .outerjoin(enrolled, enrolled.c.user_id == User.id)
        .outerjoin(completed, completed.c.user_id == User.id)
        .outerjoin(certified, certified.c.user_id == User.id)
        .outerjoin(totals, totals.user_id == User.id)
        .outerjoin(tail, tail.c.user_id == User.id)
        .where(_workforce()).group_by(cohort)).all()
    by_cohort = {row[0]: list(row[1:]) for row in rows}
    total = [sum(counts[i] for counts in by_cohort.values()) for i in range(len(FUNNEL_STAGES))]
    cohorts = [{"week_start": start, "stages": _stages(by_cohort.get(index, [0] * len(FUNNEL_STAGES)))}
               for index, start in enumerate(starts)]
    return {"generated_at": now, "weeks": weeks, "timezone": str(WEEK_TZ), "stages": list(FUNNEL_STAGES),
            "total": _stages(total), "cohorts": cohorts}


# ----------------------------------------------------------------------------- charts' data


def answers_per_hour(hours: int = 14 * 24, now: dt.datetime | None = None) -> list[dict]:
    """Answers (and gold answers) per hour for the last `hours` hours, oldest first, every hour
    present (0 when nothing happened); the current hour is the last, still running."""
    now = now or utcnow()
    last = _hour_of(now)
    first = last - hours + 1
    f = _facts()
    hour = _epoch_hour(f.c.created_at)
    rolled = (sa.select(HourlyAnswers.hour.label("hour"), HourlyAnswers.answers.label("answers"),
                        HourlyAnswers.gold_answers.label("gold_answers"))
              .where(HourlyAnswers.hour >= first))
    tail = (sa.select(hour.label("hour"), sa.literal(1).label("answers"), _gold(f).label("gold_answers"))
            .where(_above_watermark(f.c.id), f.c.created_at >= dt.datetime.fromtimestamp(first * HOUR, dt.UTC)))
    rows = sa.union_all(rolled, tail).subquery()
    counts = {hour: (answers, gold) for hour, answers, gold in db.session.execute(
        sa.select(rows.c.hour, sa.func.sum(rows.c.answers), sa.func.sum(rows.c.gold_answers))
        .group_by(rows.c.hour))}
    return [{"hour": dt.datetime.fromtimestamp(h * HOUR, dt.UTC), "answers": int(counts.get(h, (0, 0))[0]),
             "gold_answers": int(counts.get(h, (0, 0))[1])} for h in range(first, last + 1)]


def accuracy_histogram(min_gold: int = MIN_GOLD_FOR_HISTOGRAM, bins: int = 10) -> dict:
    """Workers by gold accuracy (workers with at least `min_gold` gold answers), in `bins` equal
    bands from 0 to 100 % (100 % falls in the last band)."""
    per_user = _worker_stats().subquery()
    band = _least(per_user.c.gold_correct * bins // per_user.c.gold_answers, bins - 1)
    rows = dict(db.session.execute(
        sa.select(band, sa.func.count()).where(per_user.c.gold_answers >= min_gold).group_by(band)).tuples().all())
    items = [{"from": round(i / bins, 4), "to": round((i + 1) / bins, 4), "workers": int(rows.get(i, 0))}
             for i in range(bins)]
    return {"min_gold": min_gold, "workers": sum(item["workers"] for item in items), "bins": items}


def projects_overview(status: str = "active", limit: int = 50) -> list[dict]:
    """Projects (newest first) with their progress, rate, ETA and eligible workforce."""
    items, _ = microtasks.manager_projects(status, None, limit)
    return [{"id": item["id"], "key": item["key"], "title": item["title"], "skill": item["skill"],
             "difficulty": item["difficulty"], "sensitive_content": item["sensitive_content"],
             **{k: v for k, v in microtasks.project_progress(item["id"]).items() if k != "project_id"}}
            for item in items]


def _names(user_ids) -> dict[int, tuple[str, str]]:
    ids = list(set(user_ids))
    names = {}
    for start in range(0, len(ids), 1000):
        names.update({row.id: (row.display_name, row.email) for row in db.session.execute(
            sa.select(User.id, User.display_name, User.email).where(User.id.in_(ids[start:start + 1000])))})
    return names


def expiring_certificates(days: int = EXPIRING_DAYS, now: dt.datetime | None = None) -> list[dict]:
    """Valid certificates expiring in the next `days` days that no newer one replaces, soonest
    first, with the holder's name."""
    if days is None:
        days = EXPIRING_DAYS
    if not 1 <= days <= 366:
        raise Invalid.field("days", "Must be between 1 and 366.")
    now = now or utcnow()
    rows = quizzes.certificates_expiring_between(now, now + dt.timedelta(days=days))
    names = _names(row["user_id"] for row in rows)
    return [{**row, "display_name": names.get(row["user_id"], ("", ""))[0],
             "email": names.get(row["user_id"], ("", ""))[1],
             "days_left": max(0, (row["expires_at"] - now).days)} for row in rows]


# ----------------------------------------------------------------------------- workers


def _worker_query(*, skill: str | None, level: int | None, min_level: int | None, activity: str | None,
                  min_accuracy: float | None, max_accuracy: float | None, q: str | None, now: dt.datetime):
    stats_ = _worker_stats().subquery("stats")
    accuracy = (sa.cast(stats_.c.gold_correct, sa.Float) / sa.func.nullif(stats_.c.gold_answers, 0))
    stmt = (sa.select(User.id, User.display_name, User.email, User.created_at, stats_.c.answers,
                      stats_.c.gold_answers, stats_.c.gold_correct, stats_.c.last_at.label("last_active_at"))
            .join(stats_, stats_.c.user_id == User.id))
    if skill is not None:
        skills.require_skill(skill)
        if level is None and min_level is None:
            min_level = 1  # a skill alone: the workers who have it
        stmt = stmt.where(User.id.in_(skills.users_at_level(skill, level=level, min_level=min_level)))
    elif level is not None or min_level is not None:
        raise Invalid.field("skill", "Name the skill whose level you filter by.")
    if activity == "active_7d":
        stmt = stmt.where(stats_.c.last_at >= now - dt.timedelta(days=7))
    elif activity == "active_30d":
        stmt = stmt.where(stats_.c.last_at >= now - dt.timedelta(days=30))
    elif activity == "inactive_30d":
        stmt = stmt.where(stats_.c.last_at.is_not(None), stats_.c.last_at < now - dt.timedelta(days=30))
    elif activity == "never":
        stmt = stmt.where(stats_.c.last_at.is_(None))
    if min_accuracy is not None:
        stmt = stmt.where(accuracy >= min_accuracy)
    if max_accuracy is not None:
        stmt = stmt.where(accuracy <= max_accuracy)
    q = "".join(ch for ch in (q or "") if ch.isprintable())
    if q:
        pattern = f"%{q.lower().replace('%', '').replace('_', '')}%"
        stmt = stmt.where(sa.or_(sa.func.lower(User.display_name).like(pattern),
                                 sa.func.lower(User.email).like(pattern)))
    return stmt, accuracy, stats_


def list_workers(*, skill: str | None = None, level: int | None = None, min_level: int | None = None,
                 activity: str | None = None, min_accuracy: float | None = None, max_accuracy: float | None = None,
                 q: str | None = None, sort: str = "-last_active", offset: int = 0, limit: int | None = 20,
                 now: dt.datetime | None = None) -> dict:
    """GET /manage/workers: the workforce, filtered and sorted; `limit` None = every match (CSV).
    → {items, next_offset, total}."""
    now = now or utcnow()
    stmt, accuracy, stats_ = _worker_query(skill=skill, level=level, min_level=min_level, activity=activity,
                                          min_accuracy=min_accuracy, max_accuracy=max_accuracy, q=q, now=now)
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = {"name": User.display_name, "created_at": User.created_at, "last_active": stats_.c.last_at,
              "accuracy": accuracy, "answers": stats_.c.answers, "id": User.id}.get(key)
    if column is None:
        raise Invalid.field("sort", f"One of {', '.join(WORKER_SORTS)}, optionally with a leading '-'.")
    ordered = sa.nulls_last(column.desc() if descending else column.asc())
    stmt = stmt.order_by(ordered, User.id.desc() if descending else User.id.asc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    rows = db.session.execute(stmt).all()
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    ids = [row.id for row in rows]
    levels = skills.levels_by_user(ids)
    balances = payouts.balances_of(ids)
    agreement = _agreement(ids)
    currency = payouts.deployment_currency()
    items = []
    for row in rows:
        agreed = agreement.get(row.id) or {"agreed": 0, "total": 0}
        items.append({
            "id": row.id, "display_name": row.display_name, "email": row.email, "created_at": row.created_at,
            "last_active_at": row.last_active_at, "answers": int(row.answers),
            "gold_answers": int(row.gold_answers), "gold_correct": int(row.gold_correct),
            "gold_accuracy": _ratio(int(row.gold_correct), int(row.gold_answers)),
            "agreement": _ratio(agreed["agreed"], agreed["total"]),
            "levels": levels.get(row.id, {}),
            "earned": {"amount": sum(balances.get(row.id, {}).values()), "currency": currency},
        })
    return {"items": items, "next_offset": offset + len(rows) if more else None, "total": total}


def _agreement(user_ids: list[int]) -> dict[int, dict]:
    """{user_id: {agreed, total}}: answers that agree with the aggregated results (quality)."""
    return quality_results.agreement_by_worker(user_ids) if user_ids else {}


def _get_worker(user_id: int) -> User:
    user = accounts.get_user(user_id)
    if user.role != "worker":
        raise NotFound("No such worker.", slug="worker-not-found")
    return user


def _proportion(successes: int, n: int) -> dict:
    low, high = stats.wilson_interval(successes, n)
    return {"successes": successes, "total": n, "rate": _ratio(successes, n),
            "ci_low": round(low, 4) if n else None, "ci_high": round(high, 4) if n else None}


def _reviews_of(user_id: int) -> dict:
    """First-pass acceptance (human decisions: the first decision, before any appeal) and appeals."""
    reviewed, approved = db.session.execute(sa.select(
        sa.func.count(), sa.func.count().filter(Review.decision == "approved"),
    ).where(Review.user_id == user_id, Review.auto == sa.false())).one()
    appeals = db.session.execute(sa.select(Appeal.id, Appeal.submission_id, Appeal.created_at).where(
        Appeal.user_id == user_id, Appeal.status == "open").order_by(Appeal.id)).all()
    return {"first_pass": _proportion(approved, reviewed),
            "open_appeals": [{"id": a.id, "submission_id": a.submission_id, "created_at": a.created_at}
                             for a in appeals]}


def _activity_of(user_id: int) -> dict[str, dict]:
    """{skill: {answers, gold_answers, gold_correct, last_at}} of one worker: the per-skill rollup
    rows plus the answers above the watermark, read in one statement."""
    act = WorkerActivity
    tail = _tail("user_id", "skill_code").subquery("tail")
    rolled = sa.select(act.skill_code, act.answers, act.gold_answers, act.gold_correct,
                       act.last_answer_at.label("last_at")).where(act.user_id == user_id)
    fresh = sa.select(tail.c.skill_code, tail.c.answers, tail.c.gold_answers, tail.c.gold_correct,
                      tail.c.last_at).where(tail.c.user_id == user_id)
    result: dict[str, dict] = {}
    for skill, answers, gold, correct, last in db.session.execute(sa.union_all(rolled, fresh)):
        entry = result.setdefault(skill, {"answers": 0, "gold_answers": 0, "gold_correct": 0, "last_at": None})
        entry["answers"] += int(answers or 0)
        entry["gold_answers"] += int(gold or 0)
        entry["gold_correct"] += int(correct or 0)
        entry["last_at"] = max(filter(None, (entry["last_at"], last)), default=None)
    return result


def _timelines(user_id: int) -> dict[str, list[dict]]:
    timelines: dict[str, list[dict]] = defaultdict(list)
    for change in skills.level_history(user_id):
        timelines[change.skill_code].append({"at": change.created_at, "from_level": change.old_level,
                                             "level": change.new_level, "source": change.source,
                                             "reason": change.reason, "actor_id": change.actor_id})
    return timelines


def worker_detail(user_id: int, now: dt.datetime | None = None) -> dict:
    """GET /manage/workers/{id}: levels with their history per skill, gold accuracy with a Wilson
    interval, agreement with the aggregated results, first-pass acceptance, median time per task
    by difficulty, earnings, open appeals, certificates and activity."""
    now = now or utcnow()
    user = _get_worker(user_id)
    activity = _activity_of(user_id)
    timelines = _timelines(user_id)
    skill_items = []
    for entry in skills.worker_skills(user_id):
        row = activity.get(entry["skill"])
        row = row or {"answers": 0, "gold_answers": 0, "gold_correct": 0, "last_at": None}
        skill_items.append({**entry, "timeline": timelines.get(entry["skill"], []), "answers": row["answers"],
                            "last_active_at": row["last_at"], "gold": _proportion(row["gold_correct"],
                                                                                  row["gold_answers"])})
    gold = sum(r["gold_answers"] for r in activity.values())
    correct = sum(r["gold_correct"] for r in activity.values())
    agreed = _agreement([user_id]).get(user_id) or {"agreed": 0, "total": 0}
    durations: dict[int, list[int]] = defaultdict(list)
    for difficulty, duration_ms in microtask_projects.answer_durations(user_id):
        durations[difficulty].append(duration_ms)
    balance = payouts.balance_of(user_id)
    currency = payouts.deployment_currency()
    reviews = _reviews_of(user_id)
    last = max((r["last_at"] for r in activity.values() if r["last_at"]), default=None)
    return {
        "id": user.id, "display_name": user.display_name, "email": user.email, "locale": user.locale,
        "created_at": user.created_at, "last_active_at": last,
        "answers": sum(r["answers"] for r in activity.values()),
        "skills": skill_items,
        "gold": _proportion(correct, gold),
        "agreement": _proportion(int(agreed["agreed"]), int(agreed["total"])),
        "first_pass_acceptance": reviews["first_pass"],
        "median_time": [{"difficulty": difficulty, "answers": len(values),
                         "median_s": round(stats.median(values) / 1000, 1)}
                        for difficulty, values in sorted(durations.items())],
        "earnings": {**{bucket: {"amount": amount, "currency": currency} for bucket, amount in balance.items()},
                     "total": {"amount": sum(balance.values()), "currency": currency}},
        "open_appeals": reviews["open_appeals"],
        "certificates": quizzes.my_certificates(user_id),
    }


def override_level(user_id: int, skill_code: str, level: int, reason: str, *, actor_id: int) -> dict:
    """PUT /manage/workers/{id}/skills/{skill}: a manager sets a level, with a reason (history and
    audit log through skills.set_level). → the worker's entry for that skill."""
    if not SKILL_CODE.fullmatch(skill_code or ""):
        raise NotFound(f"No skill {skill_code!r}.")
    _get_worker(user_id)
    skills.get_skill(skill_code)
    previous = skills.level_of(user_id, skill_code)
    skills.set_level(user_id, skill_code, level, reason or "", actor_id=actor_id, source="override")
    entry = next(item for item in skills.worker_skills(user_id) if item["skill"] == skill_code)
    return {**entry, "previous_level": previous, "changed": previous != level,
            "timeline": _timelines(user_id).get(skill_code, [])}
