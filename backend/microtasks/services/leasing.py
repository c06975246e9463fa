"""Leasing task slots to phones, heartbeats, give-backs, lease expiry and submissions.

The hot path. Everything here is a handful of SQLAlchemy Core statements on indexed columns; no
ORM objects are loaded, so nothing can lazy-load. bench/ drives `lease` and `submit` directly and
can reuse the statement builders (`claim_statement`, `gold_statement`, `reclaim_statement`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from backend import events
from backend.database import is_postgresql, utcnow
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

MAX_COUNT = 20
RECLAIM_BATCH = 100
_random = random.Random()

_PROJECT_COLUMNS = (projects.c.id, projects.c.skill_code, projects.c.task_type, projects.c.difficulty,
                    projects.c.reward_amount, projects.c.currency, projects.c.lease_seconds,
                    projects.c.gold_ratio, projects.c.instructions, projects.c.sensitive_content,
                    projects.c.status)


# ------------------------------------------------------------------------------ statements


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
    """
    t = tasks.alias("t")
    had_it = sa.exists().where(assignments.c.task_id == t.c.id, assignments.c.user_id == user_id)
    pick = (sa.select(t.c.id)
            .where(t.c.project_id == project_id, t.c.open_slots > ZERO, t.c.difficulty <= level,
                   ~had_it)
            .order_by(t.c.difficulty.desc(), t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True, of=t))
    return (sa.update(tasks)
            .where(tasks.c.id.in_(pick.scalar_subquery()))
            .values(open_slots=tasks.c.open_slots - 1)
            .returning(tasks.c.id, tasks.c.payload))


def open_work_statement(project_id: int, user_id: int, level: int):
    """Whether the project still has a normal task for this worker (read only, no lock)."""
    t = tasks.alias("t")
    had_it = sa.exists().where(assignments.c.task_id == t.c.id, assignments.c.user_id == user_id)
    return (sa.select(t.c.id)
            .where(t.c.project_id == project_id, t.c.open_slots > ZERO, t.c.difficulty <= level,
                   ~had_it)
            .limit(1))


def gold_statement(project_id: int, user_id: int, level: int, limit: int, start: int, wrapped: bool):
    """Up to `limit` gold tasks the worker never had, from a random point of the gold order
    (ix_tasks_gold); `wrapped` reads the part before that point. Gold tasks are not slot-counted,
    so nothing is locked."""
    t = tasks.alias("t")
    had_it = sa.exists().where(assignments.c.task_id == t.c.id, assignments.c.user_id == user_id)
    return (sa.select(t.c.id, t.c.payload)
            .where(t.c.project_id == project_id, t.c.is_gold == sa.true(), t.c.difficulty <= level,
                   (t.c.shuffle < start) if wrapped else (t.c.shuffle >= start), ~had_it)
            .order_by(t.c.shuffle)
            .limit(limit))


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


def _lock_worker(user_id: int, now: dt.datetime) -> bool:
    """Upsert the worker's work_preferences row: it locks the row until commit, so one worker's
    claims run one at a time (the open-lease cap is exact), and returns the sensitive opt-in."""
    insert = (postgresql.insert if is_postgresql(db.session) else sqlite.insert)(work_preferences)
    stmt = (insert.values(user_id=user_id, sensitive_content=False, last_claim_at=now, updated_at=now)
            .on_conflict_do_update(index_elements=[work_preferences.c.user_id], set_={"last_claim_at": now})
            .returning(work_preferences.c.sensitive_content))
    return bool(db.session.execute(stmt).scalar_one())


def _worker_counts(user_id: int, now: dt.datetime) -> tuple[int, int]:
    """(open leases, sensitive tasks in the last 24 h) in one round trip, both from partial indexes."""
    open_leases = sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.user_id == user_id, assignments.c.status == LEASED,
        assignments.c.lease_expires_at > now).scalar_subquery()
    sensitive = sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.user_id == user_id, assignments.c.sensitive == sa.true(),
        assignments.c.leased_at > now - DAY).scalar_subquery()
    return tuple(db.session.execute(sa.select(open_leases, sensitive)).one())


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


def _candidate_projects(user_id: int, project_id: int | None, opted_in: bool, sensitive_left: int):
    """Active projects the worker may take tasks from, by priority then age, with their level."""
    levels = skills.levels_of(user_id)
    if project_id is not None:
        project = db.session.execute(sa.select(*_PROJECT_COLUMNS).where(projects.c.id == project_id)).first()
        if project is None:
            raise NotFound(f"No project {project_id}.")
        skill_names = {s.code: s.name for s in skills.list_skills()} if (
            levels.get(project.skill_code, 0) < project.difficulty) else {}
        reason = lock_reason(project, levels, skill_names, opted_in, sensitive_left=1,
                             paused=floors.paused_projects(user_id, project.id))
        if reason is not None:
            raise Forbidden(localize(reason), slug="project-locked", locked_reason=localize(reason))
        if project.status != "active" or (project.sensitive_content and sensitive_left <= 0):
            return [], levels
        return [project], levels
    eligible = [sa.and_(projects.c.skill_code == code, projects.c.difficulty <= level)
                for code, level in levels.items() if level >= 1]
    if not eligible:
        return [], levels
    stmt = sa.select(*_PROJECT_COLUMNS).where(projects.c.status == "active", sa.or_(*eligible),
                                              floors.not_paused(user_id, projects.c.id))  # quality pauses
    if not opted_in or sensitive_left <= 0:
        stmt = stmt.where(projects.c.sensitive_content == sa.false())
    rows = db.session.execute(stmt.order_by(projects.c.priority.desc(), projects.c.id)).all()
    return rows, levels


def _take_from_project(project, user_id: int, level: int, want: int) -> list[tuple[int, dict, bool]]:
    """Claim `want` slots of one project: normal tasks plus gold mixed in at its gold_ratio."""
    ratio = project.gold_ratio
    gold: list = []
    wanted_gold = _binomial(want, ratio)
    if wanted_gold:
        start = _random.getrandbits(31)
        gold = db.session.execute(gold_statement(project.id, user_id, level, wanted_gold, start, False)).all()
        if len(gold) < wanted_gold:
            gold += db.session.execute(gold_statement(project.id, user_id, level, wanted_gold - len(gold),
                                                      start, True)).all()
    wanted_normal = want - len(gold)
    if wanted_normal:
        normal = db.session.execute(claim_statement(project.id, user_id, level, wanted_normal)).all()
        if not normal:
            return []  # gold only ever rides along with real work
    else:
        normal = []
        if db.session.execute(open_work_statement(project.id, user_id, level)).first() is None:
            return []
    if len(normal) < wanted_normal:
        # The pool is running dry: keep gold in proportion to the normal tasks actually handed out.
        gold = gold[:_binomial(len(normal), ratio / (1 - ratio) if ratio < 1 else 1)]
    return [(row.id, row.payload, False) for row in normal] + [(row.id, row.payload, True) for row in gold]


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
    opted_in = _lock_worker(user_id, now)
    open_leases, sensitive_today = _worker_counts(user_id, now)
    sensitive_left = setting("MICROTASKS_SENSITIVE_DAILY_LIMIT") - sensitive_today
    candidates, levels = _candidate_projects(user_id, project_id, opted_in, sensitive_left)
    room = min(count, setting("MICROTASKS_MAX_OPEN_LEASES") - open_leases)
    if not candidates or room <= 0:
        return []
    taken = _take(candidates, levels, user_id, room, sensitive_left)
    if not taken and reclaim_expired(now, RECLAIM_BATCH, [p.id for p in candidates]):
        taken = _take(candidates, levels, user_id, room, sensitive_left)
    return _record_leases(taken, user_id, now)


def _take(candidates, levels, user_id, room, sensitive_left):
    taken = []
    for project in candidates:
        want = room - len(taken)
        if project.sensitive_content:
            want = min(want, sensitive_left)
        if want <= 0:
            continue
        got = _take_from_project(project, user_id, levels.get(project.skill_code, 0), want)
        if project.sensitive_content:
            sensitive_left -= len(got)
        taken += [(project, *item) for item in got]
        if len(taken) >= room:
            break
    _random.shuffle(taken)  # gold is not recognisable by its place in the list
    return taken


def _record_leases(taken: list, user_id: int, now: dt.datetime) -> list[dict]:
    if not taken:
        return []
    rows = [{
        "task_id": task_id, "project_id": project.id, "user_id": user_id, "is_gold": is_gold,
        "sensitive": project.sensitive_content, "status": "leased", "reward_amount": project.reward_amount,
        "currency": project.currency, "leased_at": now,
        "lease_expires_at": now + dt.timedelta(seconds=project.lease_seconds),
    } for project, task_id, _payload, is_gold in taken]
    ids = db.session.execute(
        sa.insert(assignments).returning(assignments.c.id, sort_by_parameter_order=True), rows).scalars().all()
    return [{
        "id": assignment_id, "project_id": project.id,
        "task": {"id": task_id, "type": project.task_type, "payload": payload},
        "instructions": project.instructions, "reward": money(project.reward_amount, project.currency),
        "lease_expires_at": row["lease_expires_at"],
    } for assignment_id, row, (project, task_id, payload, _gold) in zip(ids, rows, taken, strict=True)]


def request_work(user_id: int, count: int = 1, project_id: int | None = None) -> dict:
    """The POST /assignments answer: the leases, and retry_after (seconds) when there are none."""
    leased = lease(user_id, count, project_id)
    answer: dict = {"assignments": leased}
    if not leased:
        answer["retry_after"] = setting("MICROTASKS_RETRY_AFTER_S")
    return answer


# ------------------------------------------------------------------------------ one lease


def _own_assignment(user_id: int, assignment_id: int, *columns):
    row = db.session.execute(
        sa.select(assignments.c.status, assignments.c.task_id, assignments.c.is_gold,
                  assignments.c.leased_at, assignments.c.lease_expires_at, *columns)
        .select_from(assignments.join(projects, projects.c.id == assignments.c.project_id)
                     .join(tasks, tasks.c.id == assignments.c.task_id))
        .where(assignments.c.id == assignment_id, assignments.c.user_id == user_id)
        .with_for_update(of=assignments)
    ).first()
    if row is None:
        raise NotFound(f"No assignment {assignment_id}.")
    return row


def heartbeat(user_id: int, assignment_id: int) -> dict:
    """Extend an open lease by the project's lease_seconds, up to MICROTASKS_LEASE_MAX_FACTOR ×
    lease_seconds after it was leased."""
    now = utcnow()
    row = _own_assignment(user_id, assignment_id, projects.c.lease_seconds)
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
    row = _own_assignment(user_id, assignment_id)
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
    """
    now = utcnow()
    row = _own_assignment(user_id, assignment_id, assignments.c.project_id, assignments.c.reward_amount,
                          assignments.c.currency, projects.c.task_type, projects.c.skill_code, projects.c.config,
                          tasks.c.payload, tasks.c.gold_answer, tasks.c.explanation)
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
    bump = sa.update(tasks).where(tasks.c.id == row.task_id).values(answer_count=tasks.c.answer_count + 1)
    if row.status == "expired" and not row.is_gold:
        took = db.session.execute(bump.where(tasks.c.open_slots > ZERO)
                                  .values(open_slots=tasks.c.open_slots - 1)).rowcount
        if not took:
            raise Conflict("The lease expired and the task has all the answers it needs.",
                           slug="lease-expired")
    else:
        db.session.execute(bump)
    db.session.execute(sa.update(assignments).where(assignments.c.id == assignment_id)
                       .values(status="submitted", ended_at=now))
    grade = kind.grade(row.gold_answer, cleaned) if row.is_gold else None
    if duration_ms is None:
        duration_ms = int((now - row.leased_at).total_seconds() * 1000)
    submission_id = db.session.execute(sa.insert(submissions).values(
        assignment_id=assignment_id, task_id=row.task_id, project_id=row.project_id, user_id=user_id,
        answer=cleaned, duration_ms=duration_ms, late=late, is_gold=row.is_gold,
        correct=grade.correct if grade else None, credit=grade.credit if grade else None,
        reward_amount=row.reward_amount, currency=row.currency, status="accepted", created_at=now,
    ).returning(submissions.c.id)).scalar_one()
    events.submission_accepted.send(
        submission_id=submission_id, user_id=user_id, project_id=row.project_id, task_id=row.task_id,
        reward_amount=row.reward_amount, currency=row.currency, gold=row.is_gold,
        correct=grade.correct if grade else None, task_type=row.task_type, skill_code=row.skill_code,
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

