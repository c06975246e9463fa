"""Helpers of the aggregation tests (results, overlap, simulation): no tests here.

Answers are written the way the engine's claim + submit write them (an assignment marked
submitted, a submission, the task's open_slots − 1 and answer_count + 1), in bulk, so thousands
of answers take a moment; tests that need the real lease/submit path use the services instead.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import sqlalchemy as sa

from backend.accounts.models import User
from backend.database import utcnow
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Assignment, Submission, Task
from backend.microtasks.schemas import ProjectCreateSchema
from backend.quality import compare
from backend.skills import services as skills

tasks = Task.__table__
assignments = Assignment.__table__
submissions = Submission.__table__

LABELS = ["cat", "dog", "bird", "fish"]


def make_project(*, task_type="classification", config=None, items=(), **fields) -> int:
    """A project made through the engine's services (inside an app context); returns its id."""
    body = {"title": {"ko": "품질 테스트", "en": "Quality test"}, "skill": "llm_eval", "task_type": task_type,
            "config": config if config is not None else {"labels": LABELS}, "difficulty": 1,
            "reward": {"amount": 10}, **fields}
    skills.ensure_starter_skills()
    project = microtasks.create_project(ProjectCreateSchema().load(body))
    if items:
        result = microtasks.import_tasks(project.id, microtasks.records_from_list(list(items)))
        assert result["rejected_count"] == 0, result["rejected"][:3]
    db.session.flush()
    return project.id


def make_workers(n: int, prefix: str = "sim") -> list[int]:
    """n worker accounts, inserted directly (no password hashing): ids in order."""
    now = utcnow()
    rows = [{"email": f"{prefix}{i}-{random.getrandbits(32):08x}@example.com", "password_hash": "-",
             "display_name": f"작업자 {i}", "role": "worker", "locale": "ko", "timezone": "Asia/Seoul",
             "created_at": now} for i in range(n)]
    users = User.__table__
    return list(db.session.execute(sa.insert(users).returning(users.c.id, sort_by_parameter_order=True),
                                   rows).scalars())


def task_ids(project_id: int, gold: bool = False) -> list[int]:
    return list(db.session.execute(sa.select(tasks.c.id).where(
        tasks.c.project_id == project_id, tasks.c.is_gold == sa.true() if gold else tasks.c.is_gold == sa.false())
        .order_by(tasks.c.id)).scalars())


def write_answers(project_id: int, answers: list[tuple[int, int, dict]], now: dt.datetime | None = None,
                  gold_answers: dict[int, dict] | None = None, task_type: str = "classification") -> None:
    """Record (task_id, user_id, answer) as submitted work, exactly as claim + submit account it."""
    if not answers:
        return
    now = now or utcnow()
    gold_answers = gold_answers or {}
    rows = [{"task_id": t, "project_id": project_id, "user_id": u, "is_gold": t in gold_answers,
             "sensitive": False, "status": "submitted", "reward_amount": 10, "currency": "KRW",
             "leased_at": now, "lease_expires_at": now + dt.timedelta(minutes=10), "ended_at": now}
            for t, u, _ in answers]
    ids = db.session.execute(sa.insert(assignments).returning(assignments.c.id, sort_by_parameter_order=True),
                             rows).scalars().all()
    subs = []
    for assignment_id, (t, u, answer) in zip(ids, answers, strict=True):
        grade = compare.grade(task_type, gold_answers[t], answer) if t in gold_answers else None
        subs.append({"assignment_id": assignment_id, "task_id": t, "project_id": project_id, "user_id": u,
                     "answer": answer, "duration_ms": 5000, "late": False, "is_gold": t in gold_answers,
                     "correct": grade.correct if grade else None, "credit": grade.credit if grade else None,
                     "reward_amount": 10, "currency": "KRW", "status": "accepted", "created_at": now})
    db.session.execute(sa.insert(submissions), subs)
    per_task: dict[int, int] = {}
    for t, _, _ in answers:
        per_task[t] = per_task.get(t, 0) + 1
    normal = sorted(t for t in per_task if t not in gold_answers)
    if normal:
        db.session.execute(
            sa.update(tasks).where(tasks.c.id == sa.bindparam("task")).values(
                open_slots=tasks.c.open_slots - sa.bindparam("n"), answer_count=tasks.c.answer_count + sa.bindparam("n")),
            [{"task": t, "n": per_task[t]} for t in normal])
    gold = sorted(t for t in per_task if t in gold_answers)
    if gold:
        db.session.execute(
            sa.update(tasks).where(tasks.c.id == sa.bindparam("task")).values(
                answer_count=tasks.c.answer_count + sa.bindparam("n")),
            [{"task": t, "n": per_task[t]} for t in gold])


def fill_open_slots(project_id: int, workers: list[int], respond: Callable[[int, int], dict],
                    rng: random.Random, now: dt.datetime | None = None) -> int:
    """Every open slot of the project's normal tasks gets an answer from a worker who never had
    the task (as workers leasing and submitting would do). Returns the answers written."""
    open_tasks = db.session.execute(sa.select(tasks.c.id, tasks.c.open_slots).where(
        tasks.c.project_id == project_id, tasks.c.is_gold == sa.false(), tasks.c.open_slots > 0)
        .order_by(tasks.c.id)).all()
    if not open_tasks:
        return 0
    had: dict[int, set[int]] = {}
    for task_id, user_id in db.session.execute(sa.select(assignments.c.task_id, assignments.c.user_id).where(
            assignments.c.project_id == project_id)):
        had.setdefault(task_id, set()).add(user_id)
    answers = []
    for task_id, slots in open_tasks:
        free = [w for w in workers if w not in had.get(task_id, ())]
        for user_id in rng.sample(free, min(slots, len(free))):
            answers.append((task_id, user_id, respond(task_id, user_id)))
    write_answers(project_id, answers, now)
    return len(answers)


def slot_rows(project_id: int) -> list:
    return db.session.execute(sa.select(tasks.c.id, tasks.c.open_slots, tasks.c.answer_count).where(
        tasks.c.project_id == project_id, tasks.c.is_gold == sa.false()).order_by(tasks.c.id)).all()


def open_leases(task_id: int) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.task_id == task_id, assignments.c.status == "leased")).scalar_one()


def answers_of(project_id: int) -> list[tuple[int, int, dict]]:
    return [tuple(row) for row in db.session.execute(
        sa.select(submissions.c.task_id, submissions.c.user_id, submissions.c.answer).where(
            submissions.c.project_id == project_id, submissions.c.is_gold == sa.false()).order_by(submissions.c.id))]


class Crowd:
    """Workers of known accuracy on a LABELS classification, reproducible from a seed.

    good: right 90 %; average: 70 %; random: a uniform click; adversarial: always the next label
    after the true one (a systematic liar, what Dawid-Skene can learn and invert).
    """

    KINDS = (("good", 12), ("average", 14), ("random", 8), ("adversarial", 6))

    def __init__(self, worker_ids: list[int], seed: int):
        kinds = [kind for kind, n in self.KINDS for _ in range(n)]
        assert len(worker_ids) == len(kinds)
        self.kind = dict(zip(worker_ids, kinds, strict=True))
        self.rng = random.Random(seed)

    def label(self, user_id: int, truth: str) -> str:
        kind = self.kind[user_id]
        if kind == "adversarial":
            return LABELS[(LABELS.index(truth) + 1) % len(LABELS)]
        if kind == "random":
            return self.rng.choice(LABELS)
        if self.rng.random() < (0.9 if kind == "good" else 0.7):
            return truth
        return self.rng.choice([label for label in LABELS if label != truth])
