"""Aggregated task results: incremental aggregation, dynamic overlap, exports, gold exhaustion.

The aggregators themselves live in backend/quality/aggregation.py (plain rows in, results out);
this module feeds them the engine's answers and stores what comes out, one `TaskResult` per
normal (non-gold) task that has answers, in the task type's answer shape:

| task type | method | result | confidence |
|---|---|---|---|
| classification | Dawid-Skene (`ds`); majority vote (`mv`) below 3 answers | `{"label"}` | posterior / vote share |
| multi_label | binary relevance: Dawid-Skene per label | `{"labels"}` | the weakest yes/no decision |
| pairwise | Dawid-Skene on the side chosen (`ds`), `mv` below 3 answers | `{"preferred"}` | posterior / vote share |
| transcription | ROVER (`rover`) | `{"text"}` | mean 1 − CER of the answers against it |
| rating | median per dimension (`median`) | `{"scores": {dim: median}}` | lowest of 1 − MAD / half the scale |
| bbox | IoU clusters weighted by gold accuracy (`iou-cluster`) | `{"boxes": [{x, y, w, h, label}]}` | lowest box confidence |

Collection tasks have no aggregation. Answers whose review ended in a final rejection are left
out (the event `submission_reviewed` marks the project stale, so it is aggregated again).

Pairwise: crowd-kit's NoisyBradleyTerry (aggregation.rank_items) scores items across
comparisons, but a pairwise task here compares its own two responses, so the per-task decision
is a two-label question; NoisyBradleyTerry's gradient is a Python loop (25 s for 5,000 answers)
and, on simulated workers, was no more accurate than majority vote, while Dawid-Skene models
each worker's reliability and side bias (e.g. always "a") at a fraction of the cost.

Incremental. `aggregation_job` (scheduled) finds the projects with submissions past their
settled watermark (AggregationState.last_submission_id) with one range scan of the submissions'
primary key, and aggregates each: classification, multi_label and pairwise re-fit the whole
project (Dawid-Skene learns every worker from all their answers), the per-task types only
re-aggregate the tasks with new answers. Only results that changed are written (an upsert on
task_id: idempotent, so a second scheduler does no harm). The watermark only passes submissions
older than SETTLE, so a submission whose id was taken before a newer one but committed after it
is never skipped (a submission transaction lasts far less than SETTLE).

Dynamic overlap (project.max_overlap and project.confidence_target set; overlap = min_overlap).
A task's allowance is what its slots account for: open_slots + open leases + answers. Tasks are
imported with the minimum; after aggregating, for each task of such a project:

* settled (confident with at least min answers, or max answers reached) and still open →
  `UPDATE tasks SET open_slots = 0 WHERE id = ? AND open_slots > 0 AND answer_count = ?`
  (the allowance shrinks to what is held: never below the open leases + answers);
* not settled, below max, no free slot, no open lease, and exactly the answers aggregated →
  `UPDATE tasks SET open_slots = 1 WHERE id = ? AND open_slots <= 0 AND answer_count = ? AND NOT
  EXISTS (an open lease of it)`: the allowance becomes answers + 1 ≤ max.

Both are single-row conditional updates in task id order, so the engine's invariant (never more
open leases + answers than the task's allowance) holds whatever runs beside them: a claim needs
open_slots > 0, an expiry or give-back moves a slot between a lease and the pool (allowance
unchanged), a late answer needs a free slot or its own unexpired lease, and the guard on
answer_count makes a decision taken on stale answers a no-op. The lease path is unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from backend import events
from backend.database import is_postgresql, read_only_transactions, utcnow
from backend.errors import NotFound
from backend.extensions import db
from backend.microtasks.models import Assignment, Project, Submission, Task
from backend.quality import aggregation, compare
from backend.quality.models import AggregationState, Review, TaskResult
from backend.skills import services as skills

log = logging.getLogger(__name__)

MIN_ANSWERS_FOR_MODEL = 3  # below this a task takes the majority vote (categorical types)
SETTLE = dt.timedelta(seconds=60)  # the watermark only passes submissions at least this old
NOT_AGGREGATED = ("collection",)
CATEGORICAL = ("classification", "multi_label", "pairwise")  # re-fit per project
CHUNK = 1000  # rows per statement / export page
IN_CHUNK = 500  # ids per IN (...) list
CONFIDENCE_DIGITS = 6
# Gold exhaustion: a worker who has seen this share of a project's gold knows most of it; the
# project is flagged when at least GOLD_WORKERS_SHARE of its active eligible workers have.
GOLD_SEEN_SHARE = 0.8
GOLD_WORKERS_SHARE = 0.5
ACTIVE_WINDOW = dt.timedelta(days=30)

submissions = Submission.__table__
tasks = Task.__table__
assignments = Assignment.__table__
projects = Project.__table__
reviews = Review.__table__
task_results = TaskResult.__table__
states = AggregationState.__table__


# ------------------------------------------------------------------------------ the aggregators


@dataclass(frozen=True)
class Outcome:
    """One task's aggregated answer, ready to store."""

    result: dict
    confidence: float
    answers: int
    method: str
    detail: dict | None = None


def _number(value: float, digits: int = 4):
    """JSON-friendly: 3.0 → 3, 2.4999999 → 2.5."""
    value = round(float(value), digits)
    return int(value) if value.is_integer() else value


def _categorical(kind: str, rows: list[tuple]) -> dict[int, Outcome]:
    if kind == "classification":
        found = aggregation.aggregate_categorical(
            [(t, u, a["label"]) for t, u, a in rows], "ds", MIN_ANSWERS_FOR_MODEL)
        return {t: Outcome({"label": r.label}, r.confidence, r.answers, r.method) for t, r in found.items()}
    if kind == "pairwise":
        found = aggregation.aggregate_pairwise(
            [(t, u, a["preferred"]) for t, u, a in rows], "ds", MIN_ANSWERS_FOR_MODEL)
        return {t: Outcome({"preferred": r.label}, r.confidence, r.answers, r.method) for t, r in found.items()}
    found = aggregation.aggregate_multi_label(
        [(t, u, a["labels"]) for t, u, a in rows], "ds", MIN_ANSWERS_FOR_MODEL)
    return {t: Outcome({"labels": list(r.labels)}, r.confidence, r.answers, r.method) for t, r in found.items()}


def _per_task(kind: str, rows: list[tuple], config: dict, weights: dict[int, float]) -> dict[int, Outcome]:
    if kind == "transcription":
        found = aggregation.aggregate_transcription([(t, u, a["text"]) for t, u, a in rows])
        return {t: Outcome({"text": r.text}, r.confidence, r.answers, "rover") for t, r in found.items()}
    if kind == "rating":
        low, high = config.get("scale", [1, 5])
        found = aggregation.aggregate_rating([(t, u, a["scores"]) for t, u, a in rows], scale=(low, high))
        return {t: Outcome(
            {"scores": {dim: _number(stats.median) for dim, stats in r.dimensions.items()}},
            r.confidence, r.answers, "median",
            {"dimensions": {dim: {"median": _number(s.median), "mean": _number(s.mean),
                                  "spread": _number(s.spread), "confidence": round(s.confidence, 4),
                                  "answers": s.answers} for dim, s in r.dimensions.items()}},
        ) for t, r in found.items()}
    if kind == "bbox":
        found = aggregation.aggregate_boxes([(t, u, a["boxes"]) for t, u, a in rows],
                                            worker_weight=weights or None)
        return {t: Outcome(
            {"boxes": [{"x": _number(b["x"], 2), "y": _number(b["y"], 2), "w": _number(b["w"], 2),
                        "h": _number(b["h"], 2), "label": b["label"]} for b in r.boxes]},
            r.confidence, r.answers, "iou-cluster",
            {"boxes": [{"confidence": round(b["confidence"], 4), "support": round(b["support"], 4)}
                       for b in r.boxes], "dropped": r.dropped},
        ) for t, r in found.items()}
    raise ValueError(f"no aggregation for task type {kind!r}")


def aggregate_answers(kind: str, rows: list[tuple], config: dict | None = None,
                      weights: dict[int, float] | None = None) -> dict[int, Outcome]:
    """Aggregate `(task_id, user_id, answer)` rows of one task type: {task_id: Outcome}.
    Pure (no database); the simulations and aggregate_project use it."""
    if kind in CATEGORICAL:
        return _categorical(kind, rows)
    return _per_task(kind, rows, config or {}, weights or {})


def is_settled(outcome: Outcome, low: int, high: int, target: float) -> bool:
    """Dynamic overlap: the task needs no more answers."""
    return outcome.answers >= high or aggregation.is_confident(outcome, target, low)


# ------------------------------------------------------------------------------ reading answers


@dataclass
class Plan:
    """What one aggregation of one project computed (read-only); apply_plan writes it."""

    project_id: int
    task_type: str
    overlap: int
    dynamic: tuple[int, int, float] | None  # (min, max, target)
    started: dt.datetime
    full: bool  # every task of the project is in `outcomes` (else only those with new answers)
    scope: list[int] = field(default_factory=list)  # the normal tasks looked at
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    submitted: dict[int, int] = field(default_factory=dict)  # task → all its submissions seen
    settled_id: int = 0  # newest submission read that is older than SETTLE


def _project(project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound(f"No project {project_id}.", slug="project-not-found")
    return project


def _state(project_id: int):
    return db.session.execute(sa.select(states).where(states.c.project_id == project_id)).first()


def _chunks(ids: list[int], size: int = IN_CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _answer_rows(project_id: int, task_ids: list[int] | None):
    stmt = (sa.select(submissions.c.id, submissions.c.task_id, submissions.c.user_id, submissions.c.answer,
                      submissions.c.is_gold, submissions.c.created_at, reviews.c.outcome)
            .select_from(submissions.outerjoin(reviews, reviews.c.submission_id == submissions.c.id))
            .where(submissions.c.project_id == project_id))
    if task_ids is None:
        yield from db.session.execute(stmt.order_by(submissions.c.id))
        return
    for part in _chunks(task_ids):
        yield from db.session.execute(stmt.where(submissions.c.task_id.in_(part)).order_by(submissions.c.id))


def _gold_weights(project_id: int) -> dict[int, float]:
    """Each worker's gold accuracy in the project, smoothed ((right + 1) / (answers + 2))."""
    rows = db.session.execute(
        sa.select(submissions.c.user_id, sa.func.count(),
                  sa.func.count().filter(submissions.c.correct.is_(True)))
        .where(submissions.c.project_id == project_id, submissions.c.is_gold == sa.true())
        .group_by(submissions.c.user_id))
    return {user_id: (right + 1) / (n + 2) for user_id, n, right in rows}


def compute_plan(project_id: int, full: bool = False, now: dt.datetime | None = None) -> Plan:
    """Read a project's answers and aggregate them (no writes). `full`: every task, not only
    those with answers newer than the watermark (categorical types always re-fit everything)."""
    project = _project(project_id)
    now = now or utcnow()
    state = _state(project_id)
    since = 0 if state is None or state.stale_at is not None else state.last_submission_id
    dynamic = ((project.min_overlap or project.overlap, project.max_overlap, project.confidence_target)
               if project.max_overlap and project.confidence_target is not None else None)
    plan = Plan(project.id, project.task_type, project.overlap, dynamic, now,
                full=full or since == 0 or project.task_type in CATEGORICAL,
                settled_id=state.last_submission_id if state is not None else 0)
    if project.task_type in NOT_AGGREGATED:  # nothing to aggregate: only the watermark moves
        newest = db.session.execute(sa.select(sa.func.max(submissions.c.id)).where(
            submissions.c.project_id == project.id, submissions.c.id > plan.settled_id,
            submissions.c.created_at <= now - SETTLE)).scalar()
        plan.settled_id = max(plan.settled_id, newest or 0)
        return plan
    task_ids = None
    if not plan.full:
        task_ids = sorted(db.session.execute(
            sa.select(submissions.c.task_id).where(submissions.c.project_id == project.id,
                                                   submissions.c.id > since).distinct()).scalars())
    rows, gold_tasks, cut = [], set(), now - SETTLE
    for row in _answer_rows(project.id, task_ids):
        if row.created_at <= cut and row.id > plan.settled_id:
            plan.settled_id = row.id
        if row.is_gold:
            gold_tasks.add(row.task_id)
        else:
            plan.submitted[row.task_id] = plan.submitted.get(row.task_id, 0) + 1
        if row.outcome == "rejected":
            continue  # a final rejection: this answer does not count
        if row.is_gold and project.task_type not in CATEGORICAL:
            continue  # gold answers only teach the worker models
        rows.append((row.task_id, row.user_id, row.answer))
    plan.scope = sorted(plan.submitted)
    if rows:
        weights = _gold_weights(project.id) if project.task_type == "bbox" else {}
        found = aggregate_answers(project.task_type, rows, project.config, weights)
        plan.outcomes = {t: o for t, o in found.items() if t not in gold_tasks}
    return plan


# ------------------------------------------------------------------------------ writing results


def _upsert(table, rows: list[dict], key: str, columns: list[str]) -> None:
    if not rows:
        return
    insert = (postgresql.insert if is_postgresql(db.session) else sqlite.insert)(table)
    stmt = insert.on_conflict_do_update(index_elements=[table.c[key]],
                                        set_={name: insert.excluded[name] for name in columns})
    for start in range(0, len(rows), CHUNK):
        db.session.execute(stmt, rows[start:start + CHUNK])


def _stored(plan: Plan) -> dict[int, tuple]:
    cols = (task_results.c.task_id, task_results.c.result, task_results.c.detail, task_results.c.confidence,
            task_results.c.answers, task_results.c.method, task_results.c.finished)
    if plan.full:
        return {row[0]: tuple(row[1:]) for row in db.session.execute(
            sa.select(*cols).where(task_results.c.project_id == plan.project_id))}
    found = {}
    for part in _chunks(plan.scope):
        found.update({row[0]: tuple(row[1:]) for row in db.session.execute(
            sa.select(*cols).where(task_results.c.task_id.in_(part)))})
    return found


def _canonical(value):
    return json.loads(json.dumps(value)) if value is not None else None


def _finished(plan: Plan, task_id: int, outcome: Outcome) -> bool:
    if plan.dynamic is not None:
        return is_settled(outcome, *plan.dynamic)
    return plan.submitted.get(task_id, 0) >= plan.overlap


def _write_results(plan: Plan, now: dt.datetime) -> int:
    stored = _stored(plan)
    rows = []
    for task_id in sorted(plan.outcomes):
        outcome = plan.outcomes[task_id]
        row = {"task_id": task_id, "project_id": plan.project_id, "result": _canonical(outcome.result),
               "detail": _canonical(outcome.detail),
               "confidence": round(min(1.0, max(0.0, outcome.confidence)), CONFIDENCE_DIGITS),
               "answers": outcome.answers, "method": outcome.method,
               "finished": _finished(plan, task_id, outcome), "updated_at": now}
        old = stored.get(task_id)
        if old is not None and (old[0], old[1], old[3], old[4], old[5]) == (
                row["result"], row["detail"], row["answers"], row["method"], row["finished"]) \
                and math.isclose(old[2], row["confidence"], abs_tol=10 ** -CONFIDENCE_DIGITS):
            continue
        rows.append(row)
    _upsert(task_results, rows, "task_id",
            ["project_id", "result", "detail", "confidence", "answers", "method", "finished", "updated_at"])
    # A task whose answers were all rejected since has no result any more.
    gone = [task_id for task_id in stored if task_id not in plan.outcomes
            and (plan.full or task_id in plan.submitted)]
    for part in _chunks(gone):
        db.session.execute(sa.delete(task_results).where(task_results.c.task_id.in_(part)))
    return len(rows) + len(gone)


_LEASED = sa.literal_column("'leased'")


def _adjust_slots(plan: Plan) -> tuple[int, int]:
    """Dynamic overlap: close settled tasks, open one more slot for unsettled ones. (opened, closed)"""
    if plan.dynamic is None or not plan.scope:
        return 0, 0
    low, high, target = plan.dynamic
    current = {}
    stmt = sa.select(tasks.c.id, tasks.c.open_slots, tasks.c.answer_count).where(tasks.c.is_gold == sa.false())
    if plan.full:
        current = {row.id: row for row in db.session.execute(stmt.where(tasks.c.project_id == plan.project_id))}
    else:
        for part in _chunks(plan.scope):
            current.update({row.id: row for row in db.session.execute(stmt.where(tasks.c.id.in_(part)))})
    opened = closed = 0
    close = (sa.update(tasks).where(tasks.c.id == sa.bindparam("task"), tasks.c.open_slots > 0,
                                    tasks.c.answer_count == sa.bindparam("seen"))
             .values(open_slots=0))
    held = sa.exists().where(assignments.c.task_id == tasks.c.id, assignments.c.status == _LEASED)
    extend = (sa.update(tasks).where(tasks.c.id == sa.bindparam("task"), tasks.c.open_slots <= 0,
                                     tasks.c.answer_count == sa.bindparam("seen"), ~held)
              .values(open_slots=1))
    for task_id in plan.scope:  # id order: the lock order of every multi-row writer
        outcome, row = plan.outcomes.get(task_id), current.get(task_id)
        seen = plan.submitted.get(task_id, 0)
        if row is None or row.answer_count != seen:
            continue  # answers arrived since the read: the next run decides
        if outcome is not None and is_settled(outcome, low, high, target):
            if row.open_slots > 0:
                closed += db.session.execute(close, {"task": task_id, "seen": seen}).rowcount
        elif (outcome.answers if outcome else 0) < high and row.open_slots <= 0:
            # Not settled (or every answer was finally rejected): one more answer.
            opened += db.session.execute(extend, {"task": task_id, "seen": seen}).rowcount
    return opened, closed


def _save_state(plan: Plan, now: dt.datetime, written: int) -> None:
    insert = (postgresql.insert if is_postgresql(db.session) else sqlite.insert)(states)
    db.session.execute(insert.values(project_id=plan.project_id, last_submission_id=0)
                       .on_conflict_do_nothing(index_elements=[states.c.project_id]))
    count = db.session.execute(sa.select(sa.func.count()).select_from(task_results).where(
        task_results.c.project_id == plan.project_id)).scalar_one()
    db.session.execute(
        sa.update(states).where(states.c.project_id == plan.project_id).values(
            last_submission_id=sa.case((states.c.last_submission_id < plan.settled_id, plan.settled_id),
                                       else_=states.c.last_submission_id),
            # A stale mark is cleared once it is older than SETTLE: a rejection committed while
            # this run read the answers is then surely seen by a later run.
            stale_at=sa.case((states.c.stale_at <= plan.started - SETTLE, sa.null()), else_=states.c.stale_at),
            aggregated_at=now, results=count, written=written))


def apply_plan(plan: Plan) -> dict:
    """Write a computed plan: changed results, dynamic-overlap slots, the project's watermark."""
    now = utcnow()
    written = _write_results(plan, now) if plan.task_type not in NOT_AGGREGATED else 0
    opened, closed = _adjust_slots(plan)
    _save_state(plan, now, written)
    db.session.flush()
    return {"project_id": plan.project_id, "results_written": written, "slots_opened": opened,
            "slots_closed": closed, "watermark": _state(plan.project_id).last_submission_id}


def aggregate_project(project_id: int, full: bool = False) -> dict:
    """Aggregate one project now (one transaction; flushes)."""
    return apply_plan(compute_plan(project_id, full=full))


# ------------------------------------------------------------------------------ what is pending


@dataclass
class Pending:
    project_ids: list[int]
    tops: dict[int, int]  # project → newest submission id seen by the scan
    settled_high: int | None  # newest submission id of the scan older than SETTLE


def pending_projects(now: dt.datetime | None = None) -> Pending:
    """Projects with answers the results don't have yet, or marked stale. Cheap when nothing
    changed: one range scan of the submissions' primary key past the lowest watermark."""
    now = now or utcnow()
    low = db.session.execute(sa.select(sa.func.min(states.c.last_submission_id))).scalar()
    scan = db.session.execute(
        sa.select(submissions.c.project_id, sa.func.max(submissions.c.id),
                  sa.func.max(submissions.c.id).filter(submissions.c.created_at <= now - SETTLE))
        .where(submissions.c.id > (low or 0)).group_by(submissions.c.project_id)).all()
    tops = {project_id: top for project_id, top, _ in scan}
    marks = dict(db.session.execute(sa.select(states.c.project_id, states.c.last_submission_id).where(
        states.c.project_id.in_(list(tops)))).tuples().all()) if tops else {}
    pending = {project_id for project_id, top in tops.items() if top > marks.get(project_id, 0)}
    pending.update(db.session.execute(sa.select(states.c.project_id).where(states.c.stale_at.is_not(None))).scalars())
    # Projects never aggregated whose answers all lie below the lowest watermark.
    pending.update(db.session.execute(sa.select(projects.c.id).where(
        ~sa.exists().where(states.c.project_id == projects.c.id),
        sa.exists().where(submissions.c.project_id == projects.c.id))).scalars())
    settled = [value for _, _, value in scan if value is not None]
    return Pending(sorted(pending), tops, max(settled) if settled else None)


def finish_pass(pending: Pending, still_pending: set[int]) -> None:
    """Move every watermark the scan proved clean up to the newest settled submission, so the
    next scan starts there (projects nobody answers any more do not hold it back)."""
    if pending.settled_high is None:
        return
    stmt = sa.update(states).where(states.c.last_submission_id < pending.settled_high,
                                   states.c.stale_at.is_(None))
    if still_pending:
        stmt = stmt.where(states.c.project_id.not_in(sorted(still_pending)))
    db.session.execute(stmt.values(last_submission_id=pending.settled_high))


def _still_pending(pending: Pending, project_id: int, watermark: int) -> bool:
    return pending.tops.get(project_id, 0) > watermark


def aggregate_pending() -> dict:
    """Aggregate every project with new answers, in the caller's transaction (tests, scripts)."""
    pending = pending_projects()
    summary = {"projects": 0, "results_written": 0, "slots_opened": 0, "slots_closed": 0, "failed": []}
    still = set()
    for project_id in pending.project_ids:
        done = aggregate_project(project_id)
        _add(summary, done)
        if _still_pending(pending, project_id, done["watermark"]):
            still.add(project_id)
    finish_pass(pending, still)
    db.session.flush()
    return summary


def _add(summary: dict, done: dict) -> None:
    summary["projects"] += 1
    for name in ("results_written", "slots_opened", "slots_closed"):
        summary[name] += done[name]


def aggregation_job() -> dict:
    """The scheduled job `quality.aggregate`: like aggregate_pending, but each project in its own
    transactions, so a long fit never holds locks and one failing project never blocks the rest
    (it is logged and retried next run). The fit runs in a read transaction (on SQLite a
    deferred one: writers are not blocked while crowd-kit works); the writes follow in a short
    write transaction. Like run_job, this entry point commits."""
    pending = pending_projects()
    db.session.commit()
    summary = {"projects": 0, "results_written": 0, "slots_opened": 0, "slots_closed": 0, "failed": []}
    still = set()
    for project_id in pending.project_ids:
        try:
            read_only_transactions(True)
            try:
                plan = compute_plan(project_id)
                db.session.commit()
            finally:
                read_only_transactions(False)
            done = apply_plan(plan)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("aggregating project %s failed; it is retried next run", project_id)
            summary["failed"].append(project_id)
            still.add(project_id)
            continue
        _add(summary, done)
        if _still_pending(pending, project_id, done["watermark"]):
            still.add(project_id)
    finish_pass(pending, still)
    return summary


def mark_stale(project_id: int) -> None:
    """Have the next run aggregate the project again (its inputs changed without a new answer).
    A project never aggregated has no state row and is pending anyway."""
    db.session.execute(sa.update(states).where(states.c.project_id == project_id).values(stale_at=utcnow()))


def _on_submission_reviewed(_sender=None, *, submission_id: int, decision: str, final: bool, **_) -> None:
    if final and decision == "rejected":
        project_id = db.session.execute(sa.select(submissions.c.project_id).where(
            submissions.c.id == submission_id)).scalar()
        if project_id is not None:
            mark_stale(project_id)


def connect_handlers() -> None:
    events.submission_reviewed.connect(_on_submission_reviewed)


# ------------------------------------------------------------------------------ reading results


def _result_item(row, with_payload: bool) -> dict:
    item = {"task_id": row.task_id, "external_id": row.external_id, "result": row.result,
            "confidence": row.confidence, "answers": row.answers, "method": row.method,
            "finished": row.finished, "detail": row.detail, "updated_at": row.updated_at}
    if with_payload:
        item["payload"] = row.payload
    return item


def export_results(project_id: int, finished_only: bool = False,
                   with_payload: bool = False) -> tuple[dict, Iterator[dict]]:
    """({project_id, task_type, config}, the results one by one in task order). The project is
    checked at once (NotFound); the rows are read lazily, CHUNK at a time (keyset pages), so an
    export of any size streams in flat memory."""
    project = _project(project_id)
    meta = {"project_id": project.id, "task_type": project.task_type, "config": project.config}
    columns = [task_results.c.task_id, tasks.c.external_id, task_results.c.result, task_results.c.detail,
               task_results.c.confidence, task_results.c.answers, task_results.c.method,
               task_results.c.finished, task_results.c.updated_at]
    if with_payload:
        columns.append(tasks.c.payload)
    base = (sa.select(*columns).select_from(task_results.join(tasks, tasks.c.id == task_results.c.task_id))
            .where(task_results.c.project_id == project.id))
    if finished_only:
        base = base.where(task_results.c.finished == sa.true())

    def items() -> Iterator[dict]:
        after = 0
        while True:
            rows = db.session.execute(base.where(task_results.c.task_id > after)
                                      .order_by(task_results.c.task_id).limit(CHUNK)).all()
            for row in rows:
                yield _result_item(row, with_payload)
            if len(rows) < CHUNK:
                return
            after = rows[-1].task_id

    return meta, items()


def task_result(task_id: int) -> dict | None:
    """The stored result of one task (None when it has none yet)."""
    row = db.session.execute(sa.select(task_results).where(task_results.c.task_id == task_id)).first()
    return dict(row._mapping) if row is not None else None


def gold_exhaustion(project_id: int, now: dt.datetime | None = None) -> dict:
    """Have the project's workers seen most of its gold? Counts the eligible workers (level in the
    skill ≥ the difficulty) who leased a task of the project in the last 30 days, and how much of
    its gold each was shown (the engine never shows a worker a gold task twice, and stops mixing
    gold in for a worker who has seen it all). Flagged when half of them have seen ≥ 80 %, or
    when the project asks for gold and has none."""
    project = _project(project_id)
    now = now or utcnow()
    gold = db.session.execute(sa.select(sa.func.count()).select_from(tasks).where(
        tasks.c.project_id == project.id, tasks.c.is_gold == sa.true())).scalar_one()
    eligible = skills.users_at_level(project.skill_code, min_level=project.difficulty)
    seen = db.session.execute(
        sa.select(assignments.c.user_id, sa.func.count().filter(assignments.c.is_gold == sa.true()))
        .where(assignments.c.project_id == project.id, assignments.c.user_id.in_(eligible))
        .group_by(assignments.c.user_id)
        .having(sa.func.max(assignments.c.leased_at) >= now - ACTIVE_WINDOW)).all()
    shares = [min(1.0, n / gold) if gold else 1.0 for _, n in seen]
    exhausted = sum(1 for share in shares if share >= GOLD_SEEN_SHARE)
    reason = None
    if project.gold_ratio > 0 and gold == 0:
        reason = "no_gold"
    elif gold and shares and exhausted >= GOLD_WORKERS_SHARE * len(shares):
        reason = "most_gold_seen"
    return {
        "gold_tasks": gold, "gold_ratio": project.gold_ratio, "active_workers": len(shares),
        "exhausted_workers": exhausted,
        "mean_seen_share": round(sum(shares) / len(shares), 4) if shares and gold else None,
        "flagged": reason is not None, "reason": reason,
        "thresholds": {"seen_share": GOLD_SEEN_SHARE, "workers_share": GOLD_WORKERS_SHARE,
                       "active_days": ACTIVE_WINDOW.days},
    }


def quality_summary(project_id: int) -> dict:
    """Manager: results so far, the dynamic-overlap settings, the aggregation's state, gold exhaustion."""
    project = _project(project_id)
    normal = db.session.execute(sa.select(sa.func.count()).select_from(tasks).where(
        tasks.c.project_id == project.id, tasks.c.is_gold == sa.false())).scalar_one()
    target = project.confidence_target if project.max_overlap else None
    r = task_results.c
    row = db.session.execute(sa.select(
        sa.func.count(), sa.func.count().filter(r.finished == sa.true()), sa.func.avg(r.confidence),
        sa.func.coalesce(sa.func.sum(r.answers), 0),
        sa.func.count().filter(r.confidence < target) if target is not None else sa.null(),
    ).where(r.project_id == project.id)).one()
    with_result, finished, mean_confidence, answers, below = row
    state = _state(project.id)
    latest = db.session.execute(sa.select(submissions.c.created_at).where(
        submissions.c.project_id == project.id).order_by(submissions.c.id.desc()).limit(1)).scalar()
    return {
        "project_id": project.id, "task_type": project.task_type,
        "aggregated": project.task_type not in NOT_AGGREGATED,
        "overlap": {"mode": "dynamic" if target is not None else "fixed", "overlap": project.overlap,
                    "min_overlap": project.min_overlap, "max_overlap": project.max_overlap,
                    "confidence_target": target},
        "tasks": normal, "tasks_with_result": with_result, "tasks_finished": finished,
        "mean_confidence": round(mean_confidence, 4) if mean_confidence is not None else None,
        "below_target": below, "answers": int(answers),
        "aggregation": {
            "aggregated_at": state.aggregated_at if state is not None else None,
            "last_submission_id": state.last_submission_id if state is not None else 0,
            # Every answer so far was in the last run (and nothing was marked stale since).
            "up_to_date": latest is None or (state is not None and state.stale_at is None
                                             and state.aggregated_at is not None
                                             and state.aggregated_at >= latest),
        },
        "gold_exhaustion": gold_exhaustion(project.id),
    }


def agreement_by_worker(user_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """{user_id: {agreed, total}}: how often each worker's answers agree with the aggregated
    results (backend.quality.compare for the task type: the same label, the same label set, boxes
    matched at IoU 0.5, CER ≤ 0.1, every rating within 1 of the median, the same side). Only
    results resting on two answers or more count (a lone answer always agrees with itself);
    answers finally rejected in review are left out. One streamed query."""
    found: dict[int, dict[str, int]] = defaultdict(lambda: {"agreed": 0, "total": 0})
    stmt = (sa.select(submissions.c.user_id, submissions.c.answer, task_results.c.result, projects.c.task_type)
            .select_from(submissions.join(task_results, task_results.c.task_id == submissions.c.task_id)
                         .join(projects, projects.c.id == submissions.c.project_id)
                         .outerjoin(reviews, reviews.c.submission_id == submissions.c.id))
            .where(submissions.c.is_gold == sa.false(), task_results.c.answers >= 2,
                   sa.or_(reviews.c.outcome.is_(None), reviews.c.outcome != "rejected")))

    def tally(rows) -> None:
        for user_id, answer, result, kind in rows:
            counts = found[user_id]
            counts["total"] += 1
            if compare.grade(kind, result, answer).correct:
                counts["agreed"] += 1

    if user_ids is None:
        tally(db.session.execute(stmt.execution_options(yield_per=CHUNK)))
    else:
        for part in _chunks(sorted(set(user_ids))):
            tally(db.session.execute(stmt.where(submissions.c.user_id.in_(part))))
        return {user_id: dict(found.get(user_id, {"agreed": 0, "total": 0})) for user_id in user_ids}
    return {user_id: dict(counts) for user_id, counts in found.items()}
