"""Leasing task slots to phones, heartbeats, give-backs, lease expiry and submissions.

The hot path. Everything here is a handful of SQLAlchemy Core statements on indexed columns; no
ORM objects are loaded, so nothing can lazy-load. The hot path's statements are built once, at
import, with named bind parameters: executing the same construct again reuses its memoized cache
key and SQLAlchemy's compiled form, so a request builds no statement (issue #10).

A lease is 3 statements on PostgreSQL: the worker-row lock; one read of the worker's open leases,
sensitive tasks of the day, levels and candidate projects; one claim that also writes the
assignments (a data-modifying WITH). SQLite allows no INSERT/UPDATE inside WITH: the insert is its
own statement there (4). The engine's part of a submission is 2 statements on PostgreSQL: the
assignment row FOR UPDATE, then one statement that counts the answer on the task, closes the lease
and stores the answer (4 on SQLite: the three writes one by one).

bench/ drives `lease` and `submit` directly and reuses the statements (`claim_statement`,
`gold_statement`, `open_work_statement`, `reclaim_statement`, `hot_path_statements`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from backend import events
from backend.database import UTCDateTime, is_postgresql, utcnow
from backend.errors import Conflict, Forbidden, NotFound
from backend.extensions import db
from backend.i18n import localize
from backend.microtasks.services.common import (
    LEASED,
    ZERO,
    assignments,
    invalid,
    money,
    projects,
    setting,
    submissions,
    tasks,
    work_preferences,
)
from backend.microtasks.services.projects import DAY, lock_reason
from backend.microtasks.services.task_types import task_type
from backend.quality import floors
from backend.schemas import decode_cursor, encode_cursor
from backend.skills import services as skills
from backend.skills.models import WorkerSkill

MAX_COUNT = 20
RECLAIM_BATCH = 100
_random = random.Random()

worker_skills = WorkerSkill.__table__  # read only: the worker's levels, joined into the candidate query

_PROJECT_COLUMNS = (projects.c.id, projects.c.skill_code, projects.c.task_type, projects.c.difficulty,
                    projects.c.reward_amount, projects.c.currency, projects.c.lease_seconds,
                    projects.c.gold_ratio, projects.c.instructions, projects.c.sensitive_content,
                    projects.c.status)


# ------------------------------------------------------------------------------ statements
#
# Bind parameters by name: `uid` the worker, `pid` the project, `level` the worker's level in the
# project's skill, `limit`, `now`, `p_…` values to write. Never the name of a column of a table the
# statement writes (also inside a WITH): SQLAlchemy would take such a parameter for a SET or VALUES
# entry. Execute them as `connection.execute(STATEMENT, {name: value})`: the hot path runs them on
# the session's connection (`db.session.connection()`, the same transaction; Session.execute adds
# nothing for Core statements but its own overhead per statement).


def _bind(values: dict, name: str, type_=None):
    """A named bind parameter; with a value when `values` has one (the public builders below)."""
    if name in values:
        return sa.bindparam(name, values[name], type_=type_)
    return sa.bindparam(name, type_=type_)


def _had_it(t, values: dict):
    """The worker had this task once already (one probe of uq_assignments_task_id_user_id)."""
    return sa.exists().where(assignments.c.task_id == t.c.id, assignments.c.user_id == _bind(values, "uid"))


def _normal_open(t, values: dict):
    """A normal task of the project with an open slot, that the worker may do and never had."""
    return (t.c.project_id == _bind(values, "pid"), t.c.open_slots > ZERO,
            t.c.difficulty <= _bind(values, "level"), ~_had_it(t, values))


def _build_claim(values: dict):
    t = tasks.alias("t")
    pick = (sa.select(t.c.id)
            .where(*_normal_open(t, values))
            .order_by(t.c.difficulty.desc(), t.c.id)
            .limit(_bind(values, "limit", sa.Integer))
            .with_for_update(skip_locked=True, key_share=True, of=t))
    return (sa.update(tasks)
            .where(tasks.c.id.in_(pick.scalar_subquery()))
            .values(open_slots=tasks.c.open_slots - 1)
            .returning(tasks.c.id, tasks.c.payload))


def _build_open_work(values: dict):
    t = tasks.alias("t")
    return sa.select(t.c.id).where(*_normal_open(t, values)).limit(1)


def _build_gold(wrapped: bool, values: dict):
    t = tasks.alias("t")
    start = _bind(values, "start")
    return (sa.select(t.c.id, t.c.payload)
            .where(t.c.project_id == _bind(values, "pid"), t.c.is_gold == sa.true(),
                   t.c.difficulty <= _bind(values, "level"),
                   (t.c.shuffle < start) if wrapped else (t.c.shuffle >= start), ~_had_it(t, values))
            .order_by(t.c.shuffle)
            .limit(_bind(values, "limit", sa.Integer)))


_LEASE_COLUMNS = ("task_id", "project_id", "user_id", "is_gold", "sensitive", "status", "reward_amount", "currency",
                  "leased_at", "lease_expires_at")


def _build_claim_and_record(claim):
    """PostgreSQL: the claim, and the assignments of the claimed tasks in the same statement.

    They are written only when the claim got all `limit` tasks, which the lease asks for only when
    that alone completes it (one project, no gold): then ids and list places reveal nothing. A
    shorter claim comes back without assignment ids, and its tasks are written with the other
    projects' ones in one shuffled insert (_record_leases), as on SQLite."""
    claimed = claim.cte("claimed")
    complete = sa.select(sa.func.count()).select_from(claimed).scalar_subquery() == sa.bindparam("limit")
    leases = sa.select(claimed.c.id, sa.bindparam("pid", type_=sa.Integer), sa.bindparam("uid", type_=sa.Integer),
                       sa.false(), sa.bindparam("p_sensitive", type_=sa.Boolean), LEASED,
                       sa.bindparam("p_reward", type_=sa.Integer), sa.bindparam("p_currency", type_=sa.String),
                       sa.bindparam("now", type_=UTCDateTime), sa.bindparam("p_expires", type_=UTCDateTime),
                       ).where(complete)
    recorded = (sa.insert(assignments).from_select(_LEASE_COLUMNS, leases)
                .returning(assignments.c.id, assignments.c.task_id).cte("recorded"))
    return (sa.select(claimed.c.id, claimed.c.payload, recorded.c.id.label("assignment_id"))
            .select_from(claimed.outerjoin(recorded, recorded.c.task_id == claimed.c.id)))


def _build_lock():
    """The worker's work_preferences row, upserted: it locks the row until commit, so one worker's
    claims run one at a time (the open-lease cap is exact), and returns the sensitive opt-in.

    Nothing else may be read in this statement: PostgreSQL takes a statement's snapshot before the
    statement waits for the row lock, so counts read here (in RETURNING, or in a WITH around it)
    would miss the leases that the previous holder of the row has just committed.

    Text, the same on both databases: SQLAlchemy 2.0 never caches its dialect INSERT … ON CONFLICT
    constructs (they would be compiled again on every lease)."""
    return (sa.text("INSERT INTO work_preferences (user_id, sensitive_content, last_claim_at, updated_at) "
                    "VALUES (:uid, false, :now, :now) "
                    "ON CONFLICT (user_id) DO UPDATE SET last_claim_at = excluded.last_claim_at "
                    "RETURNING sensitive_content")
            .bindparams(sa.bindparam("uid", type_=sa.Integer), sa.bindparam("now", type_=UTCDateTime))
            .columns(sensitive_content=sa.Boolean))


def _worker_count_columns():
    """(open leases, sensitive tasks in the last 24 h), both from partial indexes."""
    uid = sa.bindparam("uid")
    open_leases = sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.user_id == uid, assignments.c.status == LEASED,
        assignments.c.lease_expires_at > sa.bindparam("now")).scalar_subquery()
    sensitive = sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.user_id == uid, assignments.c.sensitive == sa.true(),
        assignments.c.leased_at > sa.bindparam("day_ago")).scalar_subquery()
    return open_leases.label("open_leases"), sensitive.label("sensitive_today")


def _build_candidates():
    """Active projects the worker is eligible for (level in the skill ≥ difficulty) and not paused
    on (quality floors), by priority then age, with the level and the worker's counts."""
    uid = sa.bindparam("uid")
    eligible = projects.join(worker_skills, sa.and_(
        worker_skills.c.user_id == uid, worker_skills.c.skill_code == projects.c.skill_code,
        worker_skills.c.level >= projects.c.difficulty))
    return (sa.select(*_PROJECT_COLUMNS, worker_skills.c.level, *_worker_count_columns())
            .select_from(eligible)
            .where(projects.c.status == "active", floors.not_paused(uid, projects.c.id))
            .order_by(projects.c.priority.desc(), projects.c.id))


def _build_one_project():
    """One project with the worker's level in its skill, whether they are paused on it, and counts."""
    uid = sa.bindparam("uid")
    with_level = projects.outerjoin(worker_skills, sa.and_(
        worker_skills.c.user_id == uid, worker_skills.c.skill_code == projects.c.skill_code))
    return (sa.select(*_PROJECT_COLUMNS, worker_skills.c.level,
                      floors.not_paused(uid, projects.c.id).label("not_paused"), *_worker_count_columns())
            .select_from(with_level)
            .where(projects.c.id == sa.bindparam("pid")))


def _build_own(*columns):
    return (sa.select(assignments.c.status, assignments.c.task_id, assignments.c.is_gold,
                      assignments.c.leased_at, assignments.c.lease_expires_at, *columns)
            .select_from(assignments.join(projects, projects.c.id == assignments.c.project_id)
                         .join(tasks, tasks.c.id == assignments.c.task_id))
            .where(assignments.c.id == sa.bindparam("aid"), assignments.c.user_id == sa.bindparam("uid"))
            .with_for_update(of=assignments))


def _build_count_answer(take_slot: bool):
    """answer_count + 1 on the task; a late answer whose slot went back to the pool takes a slot
    again, atomically, only while one is free."""
    stmt = (sa.update(tasks).where(tasks.c.id == sa.bindparam("tid"))
            .values(answer_count=tasks.c.answer_count + 1))
    if take_slot:
        stmt = stmt.where(tasks.c.open_slots > ZERO).values(open_slots=tasks.c.open_slots - 1)
    return stmt


def _build_close():
    return (sa.update(assignments).where(assignments.c.id == sa.bindparam("aid"))
            .values(status="submitted", ended_at=sa.bindparam("now", type_=UTCDateTime)))


_ANSWER_COLUMNS = ("assignment_id", "task_id", "project_id", "user_id", "answer", "duration_ms", "late", "is_gold",
                   "correct", "credit", "reward_amount", "currency", "status", "created_at")


def _build_record_answer(take_slot: bool):
    """PostgreSQL: count the answer on the task, close the lease and store the answer, in one
    statement. When a late answer finds no free slot nothing is written and no row comes back."""
    counted = _build_count_answer(take_slot).returning(tasks.c.id).cte("counted")
    closed = (_build_close().where(sa.exists(sa.select(counted.c.id)))
              .returning(assignments.c.id).cte("closed"))
    answer = sa.select(
        closed.c.id, sa.bindparam("tid", type_=sa.Integer), sa.bindparam("pid", type_=sa.Integer),
        sa.bindparam("uid", type_=sa.Integer), sa.bindparam("p_answer", type_=submissions.c.answer.type),
        sa.bindparam("p_duration", type_=sa.Integer), sa.cast(sa.bindparam("p_late", type_=sa.Boolean), sa.Boolean),
        sa.cast(sa.bindparam("p_gold", type_=sa.Boolean), sa.Boolean),
        sa.cast(sa.bindparam("p_correct", type_=sa.Boolean), sa.Boolean),
        sa.cast(sa.bindparam("p_credit", type_=sa.Float), sa.Float), sa.bindparam("p_reward", type_=sa.Integer),
        sa.bindparam("p_currency", type_=sa.String), sa.literal_column("'accepted'"),
        sa.bindparam("now", type_=UTCDateTime))
    return sa.insert(submissions).from_select(_ANSWER_COLUMNS, answer).returning(submissions.c.id)


_CLAIM = _build_claim({})
_OPEN_WORK = _build_open_work({})
_GOLD = {False: _build_gold(False, {}), True: _build_gold(True, {})}
_CLAIM_AND_RECORD = _build_claim_and_record(_CLAIM)  # PostgreSQL only
_LOCK = _build_lock()
_COUNTS = sa.select(*_worker_count_columns())
_CANDIDATES = _build_candidates()
_ONE_PROJECT = _build_one_project()
_INSERT_ASSIGNMENTS = sa.insert(assignments).returning(assignments.c.task_id, assignments.c.id)
_OWN_SUBMIT = _build_own(assignments.c.project_id, assignments.c.reward_amount, assignments.c.currency,
                         projects.c.task_type, projects.c.skill_code, projects.c.config, tasks.c.payload,
                         tasks.c.gold_answer, tasks.c.explanation)
_OWN_HEARTBEAT = _build_own(projects.c.lease_seconds)
_OWN_GIVE_BACK = _build_own()
_COUNT_ANSWER = {False: _build_count_answer(False), True: _build_count_answer(True)}  # SQLite
_CLOSE = _build_close()  # SQLite
_INSERT_ANSWER = sa.insert(submissions).returning(submissions.c.id)  # SQLite
_RECORD_ANSWER = {False: _build_record_answer(False), True: _build_record_answer(True)}  # PostgreSQL only


def hot_path_statements() -> dict:
    """The constant statements of a lease and of a submission's engine part on PostgreSQL, by
    name, in the order they run (bench/ceiling.py compiles them for psycopg and sends the same)."""
    return {"lock": _LOCK, "candidates": _CANDIDATES, "one_project": _ONE_PROJECT,
            "claim_and_record": _CLAIM_AND_RECORD, "claim": _CLAIM, "gold": _GOLD[False], "gold_wrapped": _GOLD[True],
            "open_work": _OPEN_WORK, "insert_assignments": _INSERT_ASSIGNMENTS, "own_assignment": _OWN_SUBMIT,
            "record_answer": _RECORD_ANSWER[False], "record_late_answer": _RECORD_ANSWER[True]}


def claim_statement(project_id: int, user_id: int, level: int, limit: int):
    """Take up to `limit` open slots of a project's normal tasks for a worker, atomically.

    One statement: pick the open tasks (hardest the worker may do, then oldest) that the worker
    never had, lock them, and decrement their open_slots; RETURNING gives the claimed tasks.

    PostgreSQL: the sub-select runs `FOR NO KEY UPDATE SKIP LOCKED`, so concurrent claimers never
    wait for each other and never see the same row: a row another transaction is claiming is
    skipped, and a row it has committed is re-checked (open_slots > 0) before it is locked. The
    scan walks ix_tasks_claimable (project_id, difficulty DESC, id) WHERE open_slots > 0: full
    tasks are not in the index, so the cost does not grow with the pool; the NOT EXISTS is one
    probe of uq_assignments_task_id_user_id per candidate. The lock mode NO KEY UPDATE does not
    conflict with the KEY SHARE locks that foreign keys to the task take.

    SQLite has no row locks: the request already runs in one BEGIN IMMEDIATE transaction, which
    holds the database's write lock from the first statement to the commit, so claims are
    serialized; the same statement (FOR UPDATE is not rendered there) uses the same partial index.

    The lease runs one constant statement with these values as parameters; this builds a copy with
    the values bound, for callers that build statements (bench/, EXPLAIN tests).
    """
    return _build_claim({"pid": project_id, "uid": user_id, "level": level, "limit": limit})


def open_work_statement(project_id: int, user_id: int, level: int):
    """Whether the project still has a normal task for this worker (read only, no lock)."""
    return _build_open_work({"pid": project_id, "uid": user_id, "level": level})


def gold_statement(project_id: int, user_id: int, level: int, limit: int, start: int, wrapped: bool):
    """Up to `limit` gold tasks the worker never had, from a random point of the gold order
    (ix_tasks_gold); `wrapped` reads the part before that point. Gold tasks are not slot-counted,
    so nothing is locked."""
    return _build_gold(wrapped, {"pid": project_id, "uid": user_id, "level": level, "limit": limit, "start": start})


def reclaim_statement(now: dt.datetime, limit: int, project_ids: list[int] | None = None):
    """Mark up to `limit` expired leases as expired (SKIP LOCKED: two reclaimers split the work,
    a lease being heartbeated or submitted is left alone); RETURNING the tasks to give slots back."""
    a = assignments.alias("a")
    pick = sa.select(a.c.id).where(a.c.status == LEASED, a.c.lease_expires_at <= now)
    if project_ids is not None:
        pick = pick.where(a.c.project_id.in_(project_ids))
    pick = pick.limit(limit).with_for_update(skip_locked=True, of=a)
    return (sa.update(assignments)
            .where(assignments.c.id.in_(pick.scalar_subquery()), assignments.c.status == LEASED)
            .values(status="expired", ended_at=now)
            .returning(assignments.c.task_id, assignments.c.is_gold))


def _give_slots_back(task_ids: list[int]) -> None:
    """open_slots += n per task, in id order (a fixed lock order: no deadlocks between reclaimers)."""
    counts = sorted(Counter(task_ids).items())
    if counts:
        db.session.execute(
            sa.update(tasks).where(tasks.c.id == sa.bindparam("task")).values(
                open_slots=tasks.c.open_slots + sa.bindparam("slots")),
            [{"task": task_id, "slots": n} for task_id, n in counts],
        )


def reclaim_expired(now: dt.datetime, limit: int, project_ids: list[int] | None = None) -> int:
    rows = db.session.execute(reclaim_statement(now, limit, project_ids)).all()
    _give_slots_back([task_id for task_id, is_gold in rows if not is_gold])
    return len(rows)


def expire_leases(batch: int = 1000, max_batches: int = 50) -> int:
    """Scheduled: expired leases go back to the pool. Idempotent; safe beside a second scheduler
    and beside claims (both skip the leases the other has locked)."""
    now, total = utcnow(), 0
    for _ in range(max_batches):
        done = reclaim_expired(now, batch)
        total += done
        if done < batch:
            break
    return total


# ------------------------------------------------------------------------------ the worker row


def _worker_counts(user_id: int, now: dt.datetime) -> tuple[int, int]:
    """(open leases, sensitive tasks in the last 24 h) in one round trip, both from partial indexes."""
    return tuple(db.session.execute(_COUNTS, {"uid": user_id, "now": now, "day_ago": now - DAY}).one())


def work_preferences_of(user_id: int) -> dict:
    now = utcnow()
    opted_in = db.session.execute(sa.select(work_preferences.c.sensitive_content).where(
        work_preferences.c.user_id == user_id)).scalar()
    limit = setting("MICROTASKS_SENSITIVE_DAILY_LIMIT")
    return {"sensitive_content": bool(opted_in), "sensitive_daily_limit": limit,
            "sensitive_tasks_today": _worker_counts(user_id, now)[1]}


def set_work_preferences(user_id: int, sensitive_content: bool) -> dict:
    now = utcnow()
    insert = (postgresql.insert if is_postgresql(db.session) else sqlite.insert)(work_preferences)
    db.session.execute(insert.values(user_id=user_id, sensitive_content=sensitive_content, updated_at=now)
                       .on_conflict_do_update(index_elements=[work_preferences.c.user_id],
                                              set_={"sensitive_content": sensitive_content,
                                                    "updated_at": now}))
    return work_preferences_of(user_id)


# ------------------------------------------------------------------------------ leasing


def _binomial(n: int, p: float) -> int:
    return sum(_random.random() < p for _ in range(n)) if p > 0 else 0


def _candidate_projects(conn, user_id: int, project_id: int | None, opted_in: bool, now: dt.datetime):
    """(active projects the worker may take tasks from, by priority then age, each with the
    worker's `level` in its skill; the worker's open leases; sensitive tasks left today).

    One read, run after the worker-row lock (so the counts include every lease of the worker
    committed before). A request without candidates needs no counts: it hands out nothing."""
    params = {"uid": user_id, "now": now, "day_ago": now - DAY}
    daily_limit = setting("MICROTASKS_SENSITIVE_DAILY_LIMIT")
    if project_id is not None:
        project = conn.execute(_ONE_PROJECT, {**params, "pid": project_id}).first()
        if project is None:
            raise NotFound(f"No project {project_id}.")
        sensitive_left = daily_limit - project.sensitive_today
        levels = {project.skill_code: project.level or 0}
        skill_names = {s.code: s.name for s in skills.list_skills()} if (
            levels[project.skill_code] < project.difficulty) else {}
        paused = None if project.not_paused else floors.paused_projects(user_id, project.id)
        reason = lock_reason(project, levels, skill_names, opted_in, sensitive_left=1, paused=paused)
        if reason is not None:
            raise Forbidden(localize(reason), slug="project-locked", locked_reason=localize(reason))
        if project.status != "active" or (project.sensitive_content and sensitive_left <= 0):
            return [], project.open_leases, sensitive_left
        return [project], project.open_leases, sensitive_left
    rows = conn.execute(_CANDIDATES, params).all()
    if not rows:
        return [], 0, daily_limit
    open_leases, sensitive_left = rows[0].open_leases, daily_limit - rows[0].sensitive_today
    if not opted_in or sensitive_left <= 0:
        rows = [row for row in rows if not row.sensitive_content]
    return rows, open_leases, sensitive_left


def _take_from_project(conn, project, user_id: int, want: int, record_at: dt.datetime | None) -> list[tuple]:
    """Claim `want` slots of one project: normal tasks plus gold mixed in at its gold_ratio.
    (task_id, payload, is_gold, assignment id or None) each; with `record_at` (PostgreSQL, when
    this claim alone completes the lease) a claim that draws no gold also writes the assignments."""
    ratio = project.gold_ratio
    ids = {"pid": project.id, "uid": user_id, "level": project.level or 0}
    gold: list = []
    wanted_gold = _binomial(want, ratio)
    if wanted_gold:
        start = _random.getrandbits(31)
        gold = conn.execute(_GOLD[False], {**ids, "limit": wanted_gold, "start": start}).all()
        if len(gold) < wanted_gold:
            gold += conn.execute(_GOLD[True], {**ids, "limit": wanted_gold - len(gold), "start": start}).all()
    wanted_normal = want - len(gold)
    recorded = record_at is not None and not gold
    if wanted_normal:
        if recorded:
            normal = conn.execute(_CLAIM_AND_RECORD, {
                **ids, "limit": wanted_normal, "p_sensitive": project.sensitive_content,
                "p_reward": project.reward_amount, "p_currency": project.currency, "now": record_at,
                "p_expires": record_at + dt.timedelta(seconds=project.lease_seconds)}).all()
        else:
            normal = conn.execute(_CLAIM, {**ids, "limit": wanted_normal}).all()
        if not normal:
            return []  # gold only ever rides along with real work
    else:
        normal = []
        if conn.execute(_OPEN_WORK, ids).first() is None:
            return []
    if len(normal) < wanted_normal:
        # The pool is running dry: keep gold in proportion to the normal tasks actually handed out.
        gold = gold[:_binomial(len(normal), ratio / (1 - ratio) if ratio < 1 else 1)]
    return ([(row.id, row.payload, False, row.assignment_id if recorded else None) for row in normal]
            + [(row.id, row.payload, True, None) for row in gold])


def lease(user_id: int, count: int = 1, project_id: int | None = None) -> list[dict]:
    """POST /assignments: lease up to `count` task slots (1–20) to a worker.

    Active projects the worker is eligible for (level in the skill ≥ difficulty; sensitive ones
    only after opting in and within the daily cap) are served by priority, then age; within a
    project, see claim_statement. Never more open leases than MICROTASKS_MAX_OPEN_LEASES per
    worker. Returns [] when nothing fits. When nothing at all could be claimed, expired leases of
    the candidate projects are reclaimed on the spot and the claim is tried once more, so a
    worker never waits for the expiry job (this happens before any task row is locked).
    """
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be 1..{MAX_COUNT}")
    now = utcnow()
    conn = db.session.connection()
    opted_in = bool(conn.execute(_LOCK, {"uid": user_id, "now": now}).scalar_one())
    candidates, open_leases, sensitive_left = _candidate_projects(conn, user_id, project_id, opted_in, now)
    room = min(count, setting("MICROTASKS_MAX_OPEN_LEASES") - open_leases)
    if not candidates or room <= 0:
        return []
    record_at = now if conn.dialect.name == "postgresql" else None
    taken = _take(conn, candidates, user_id, room, sensitive_left, record_at)
    if not taken and reclaim_expired(now, RECLAIM_BATCH, [p.id for p in candidates]):
        taken = _take(conn, candidates, user_id, room, sensitive_left, record_at)
    return _record_leases(conn, taken, user_id, now)


def _take(conn, candidates, user_id, room, sensitive_left, record_at):
    taken = []
    for project in candidates:
        want = room - len(taken)
        if project.sensitive_content:
            want = min(want, sensitive_left)
        if want <= 0:
            continue
        got = _take_from_project(conn, project, user_id, want, record_at if not taken and want == room else None)
        if project.sensitive_content:
            sensitive_left -= len(got)
        taken += [(project, *item) for item in got]
        if len(taken) >= room:
            break
    _random.shuffle(taken)  # gold is not recognisable by its place in the list
    return taken


def _record_leases(conn, taken: list, user_id: int, now: dt.datetime) -> list[dict]:
    """Insert the assignments not written by the claim yet (one statement, in the shuffled order:
    ids do not tell gold apart either) and answer the phone."""
    if not taken:
        return []
    expires = [now + dt.timedelta(seconds=project.lease_seconds) for project, *_ in taken]
    rows = [{
        "task_id": task_id, "project_id": project.id, "user_id": user_id, "is_gold": is_gold,
        "sensitive": project.sensitive_content, "status": "leased", "reward_amount": project.reward_amount,
        "currency": project.currency, "leased_at": now, "lease_expires_at": until,
    } for (project, task_id, _payload, is_gold, assignment_id), until in zip(taken, expires, strict=True)
        if assignment_id is None]
    # One multi-row INSERT on both databases; RETURNING's order is not relied on (SQLite does not
    # promise one): a task is in a lease once, so its id tells which assignment is which.
    new_ids = dict(conn.execute(_INSERT_ASSIGNMENTS, rows).tuples().all()) if rows else {}
    return [{
        "id": assignment_id if assignment_id is not None else new_ids[task_id], "project_id": project.id,
        "task": {"id": task_id, "type": project.task_type, "payload": payload},
        "instructions": project.instructions, "reward": money(project.reward_amount, project.currency),
        "lease_expires_at": until,
    } for (project, task_id, payload, _gold, assignment_id), until in zip(taken, expires, strict=True)]


def request_work(user_id: int, count: int = 1, project_id: int | None = None) -> dict:
    """The POST /assignments answer: the leases, and retry_after (seconds) when there are none."""
    leased = lease(user_id, count, project_id)
    answer: dict = {"assignments": leased}
    if not leased:
        answer["retry_after"] = setting("MICROTASKS_RETRY_AFTER_S")
    return answer


# ------------------------------------------------------------------------------ one lease


def _own_assignment(conn, statement, user_id: int, assignment_id: int):
    """The worker's assignment, its row locked until commit (one of the _OWN_* statements)."""
    row = conn.execute(statement, {"aid": assignment_id, "uid": user_id}).first()
    if row is None:
        raise NotFound(f"No assignment {assignment_id}.")
    return row


def heartbeat(user_id: int, assignment_id: int) -> dict:
    """Extend an open lease by the project's lease_seconds, up to MICROTASKS_LEASE_MAX_FACTOR ×
    lease_seconds after it was leased."""
    now = utcnow()
    row = _own_assignment(db.session, _OWN_HEARTBEAT, user_id, assignment_id)
    if row.status != "leased" or row.lease_expires_at <= now:
        raise Conflict("This lease is no longer open.", slug="lease-not-open", status_now=(
            row.status if row.status != "leased" else "expired"))
    longest = row.leased_at + dt.timedelta(seconds=row.lease_seconds * setting("MICROTASKS_LEASE_MAX_FACTOR"))
    expires = max(row.lease_expires_at, min(now + dt.timedelta(seconds=row.lease_seconds), longest))
    if expires != row.lease_expires_at:
        db.session.execute(sa.update(assignments).where(assignments.c.id == assignment_id)
                           .values(lease_expires_at=expires))
    return {"lease_expires_at": expires, "max_lease_expires_at": longest}


def give_back(user_id: int, assignment_id: int) -> None:
    """DELETE /assignments/{id}: end an open lease now; its slot goes back to the pool. Giving
    back a lease that already expired or was given back does nothing."""
    row = _own_assignment(db.session, _OWN_GIVE_BACK, user_id, assignment_id)
    if row.status == "submitted":
        raise Conflict("This task was already submitted.", slug="already-submitted")
    if row.status != "leased":
        return
    db.session.execute(sa.update(assignments).where(assignments.c.id == assignment_id)
                       .values(status="released", ended_at=utcnow()))
    if not row.is_gold:
        _give_slots_back([row.task_id])


def submit(user_id: int, assignment_id: int, answer, duration_ms: int | None = None) -> dict:
    """POST /assignments/{id}/submission: check the answer, record it, score gold at once.

    A submission after the lease expired is accepted when the task still needs an answer and
    nobody holds the slot: an expired lease not yet reclaimed still holds its own slot; once
    reclaimed, a free slot is taken back atomically (open_slots > 0), else 409. Gold tasks always
    take a late answer. Emits submission_accepted after the row is written.

    The assignment row is read FOR UPDATE first (its status before this answer decides 404/409,
    lateness and whether a slot must be taken back; the answer is checked against the project and
    the task before anything is written), then the writes follow: one statement on PostgreSQL.
    """
    now = utcnow()
    conn = db.session.connection()
    row = _own_assignment(conn, _OWN_SUBMIT, user_id, assignment_id)
    if row.status == "submitted":
        raise Conflict("This task was already submitted.", slug="already-submitted")
    if row.status == "released":
        raise Conflict("You gave this task back.", slug="assignment-released")
    kind = task_type(row.task_type)
    try:
        cleaned = kind.validate_answer(answer, row.config, row.payload)
    except ValidationError as error:
        raise invalid("answer", error) from None
    late = row.status == "expired" or row.lease_expires_at <= now
    take_slot = row.status == "expired" and not row.is_gold  # reclaimed: its slot went back to the pool
    grade = kind.grade(row.gold_answer, cleaned) if row.is_gold else None
    if duration_ms is None:
        duration_ms = int((now - row.leased_at).total_seconds() * 1000)
    correct, credit = (grade.correct, grade.credit) if grade else (None, None)
    if conn.dialect.name == "postgresql":
        submission_id = conn.execute(_RECORD_ANSWER[take_slot], {
            "tid": row.task_id, "aid": assignment_id, "pid": row.project_id, "uid": user_id, "p_answer": cleaned,
            "p_duration": duration_ms, "p_late": late, "p_gold": row.is_gold, "p_correct": correct,
            "p_credit": credit, "p_reward": row.reward_amount, "p_currency": row.currency, "now": now}).scalar()
    else:
        took = conn.execute(_COUNT_ANSWER[take_slot], {"tid": row.task_id}).rowcount
        submission_id = None
        if took or not take_slot:
            conn.execute(_CLOSE, {"aid": assignment_id, "now": now})
            submission_id = conn.execute(_INSERT_ANSWER, {
                "assignment_id": assignment_id, "task_id": row.task_id, "project_id": row.project_id,
                "user_id": user_id, "answer": cleaned, "duration_ms": duration_ms, "late": late,
                "is_gold": row.is_gold, "correct": correct, "credit": credit, "reward_amount": row.reward_amount,
                "currency": row.currency, "status": "accepted", "created_at": now}).scalar_one()
    if submission_id is None:
        raise Conflict("The lease expired and the task has all the answers it needs.", slug="lease-expired")
    events.submission_accepted.send(
        submission_id=submission_id, user_id=user_id, project_id=row.project_id, task_id=row.task_id,
        reward_amount=row.reward_amount, currency=row.currency, gold=row.is_gold,
        correct=correct, task_type=row.task_type, skill_code=row.skill_code,
        duration_ms=duration_ms, submitted_at=now,
    )
    result = {"id": submission_id, "status": "accepted", "late": late,
              "earned": money(row.reward_amount, row.currency)}
    if grade is not None:
        result["feedback"] = {"correct": grade.correct, "explanation": row.explanation}
    return result


# ------------------------------------------------------------------------------ lists


def _effective_status(status: str, expires: dt.datetime, now: dt.datetime) -> str:
    return "expired" if status == "leased" and expires <= now else status


def my_assignments(user_id: int, status: str | None, cursor: str | None, limit: int) -> dict:
    """GET /me/assignments: newest first; `status` is what the worker sees (a lease past its
    expiry is `expired` even before the expiry job ran)."""
    now = utcnow()
    after = decode_cursor(cursor)
    stmt = (sa.select(assignments.c.id, assignments.c.project_id, assignments.c.task_id, assignments.c.status,
                      assignments.c.leased_at, assignments.c.lease_expires_at, assignments.c.ended_at,
                      assignments.c.reward_amount, assignments.c.currency, projects.c.task_type,
                      projects.c.instructions, tasks.c.payload)
            .select_from(assignments.join(tasks, tasks.c.id == assignments.c.task_id)
                         .join(projects, projects.c.id == assignments.c.project_id))
            .where(assignments.c.user_id == user_id))
    if status == "leased":
        stmt = stmt.where(assignments.c.status == LEASED, assignments.c.lease_expires_at > now)
    elif status == "expired":
        stmt = stmt.where(sa.or_(assignments.c.status == "expired", sa.and_(
            assignments.c.status == LEASED, assignments.c.lease_expires_at <= now)))
    elif status:
        stmt = stmt.where(assignments.c.status == status)
    if after is not None:
        stmt = stmt.where(assignments.c.id < after)
    rows = db.session.execute(stmt.order_by(assignments.c.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{
        "id": row.id, "project_id": row.project_id, "status": _effective_status(row.status,
                                                                                row.lease_expires_at, now),
        "task": {"id": row.task_id, "type": row.task_type, "payload": row.payload},
        "instructions": row.instructions, "reward": money(row.reward_amount, row.currency),
        "leased_at": row.leased_at, "lease_expires_at": row.lease_expires_at, "ended_at": row.ended_at,
    } for row in rows]
    return {"items": items, "next_cursor": encode_cursor(rows[-1].id) if more and rows else None}

