"""Projects, tasks, leases (assignments), submissions and the worker's work preferences.

Slot accounting lives on the task row: `open_slots` = overlap − (open leases + accepted answers).
Every change to it is one atomic UPDATE on that row (claim −1, expiry/give-back +1, late
submission −1 only while > 0), so a task can never hold more than `overlap` leases and answers.
It may go negative when a manager lowers the overlap below what is already held; it then simply
stays out of the pool. Gold tasks are not slot-counted (open_slots = 0 forever): every worker may
answer each gold task once, however many others did.

No relationships are mapped on purpose: the hot path reads with explicit Core statements, so
nothing can lazy-load.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

PROJECT_STATUSES = ("active", "paused", "finished")
ASSIGNMENT_STATUSES = ("leased", "submitted", "expired", "released")


class Project(db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)  # optional stable name
    title: Mapped[dict] = mapped_column(sa.JSON)  # {"ko": …, "en": …}
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    task_type: Mapped[str] = mapped_column(sa.String(30))
    config: Mapped[dict] = mapped_column(sa.JSON)
    difficulty: Mapped[int]
    reward_amount: Mapped[int]  # minor units per accepted answer
    currency: Mapped[str] = mapped_column(sa.String(3))
    overlap: Mapped[int] = mapped_column(default=1)  # answers wanted per task
    # Dynamic overlap (all three set, or none): every task first gets min_overlap (= overlap)
    # answers; the aggregation job (backend/quality/results.py) then asks for one more at a time,
    # up to max_overlap, while the task's result stays below confidence_target.
    min_overlap: Mapped[int | None]
    max_overlap: Mapped[int | None]
    confidence_target: Mapped[float | None] = mapped_column(sa.Float)
    lease_seconds: Mapped[int] = mapped_column(default=600)
    gold_ratio: Mapped[float] = mapped_column(sa.Float, default=0.0)
    priority: Mapped[int] = mapped_column(default=0)
    instructions: Mapped[dict | None] = mapped_column(sa.JSON)  # Markdown {"ko": …, "en": …}
    status: Mapped[str] = mapped_column(sa.String(10), default="active")
    sensitive_content: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(f"status IN {PROJECT_STATUSES}", name="status"),
        sa.CheckConstraint("difficulty BETWEEN 1 AND 5", name="difficulty"),
        sa.CheckConstraint("overlap >= 1", name="overlap"),
        sa.CheckConstraint("reward_amount >= 0", name="reward_amount"),
        sa.Index("ix_projects_status_priority", "status", "priority"),
    )


class Task(db.Model):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    difficulty: Mapped[int]  # ≥ the project's difficulty at import
    is_gold: Mapped[bool] = mapped_column(default=False)
    gold_answer: Mapped[dict | None] = mapped_column(sa.JSON)  # never in a worker-facing response
    explanation: Mapped[dict | None] = mapped_column(sa.JSON)  # shown after a gold answer
    open_slots: Mapped[int] = mapped_column(default=0)
    answer_count: Mapped[int] = mapped_column(default=0)
    shuffle: Mapped[int] = mapped_column(default=0)  # random; gold tasks are drawn in this order
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("project_id", "external_id"),
        # Gold tasks of a project in random order (a random starting point per draw).
        sa.Index("ix_tasks_gold", "project_id", "shuffle",
                 postgresql_where=sa.text("is_gold"), sqlite_where=sa.text("is_gold = 1")),
    )


# The claim: the open tasks of one project, hardest the worker may do first, then oldest.
# Partial, so full tasks leave the index and the claim cost stays flat as the pool grows.
sa.Index("ix_tasks_claimable", Task.project_id, Task.difficulty.desc(), Task.id,
         postgresql_where=sa.text("open_slots > 0"), sqlite_where=sa.text("open_slots > 0"))


class Assignment(db.Model):
    """One lease of one task slot to one worker, and what became of it."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    is_gold: Mapped[bool] = mapped_column(default=False)
    sensitive: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(10), default="leased")
    reward_amount: Mapped[int]  # as offered when leased
    currency: Mapped[str] = mapped_column(sa.String(3))
    leased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(f"status IN {ASSIGNMENT_STATUSES}", name="status"),
        # Never the same task twice to one worker; also the probe of the claim's NOT EXISTS.
        sa.UniqueConstraint("task_id", "user_id"),
        # Stale leases of a project, oldest first (the claim's inline reclaim, the expiry job).
        sa.Index("ix_assignments_open_by_project", "project_id", "lease_expires_at",
                 postgresql_where=sa.text("status = 'leased'"), sqlite_where=sa.text("status = 'leased'")),
        # A worker's open leases (the per-worker cap).
        sa.Index("ix_assignments_open_by_user", "user_id", "lease_expires_at",
                 postgresql_where=sa.text("status = 'leased'"), sqlite_where=sa.text("status = 'leased'")),
        # A worker's sensitive-content tasks of the last day (the wellbeing cap).
        sa.Index("ix_assignments_sensitive_by_user", "user_id", "leased_at",
                 postgresql_where=sa.text("sensitive"), sqlite_where=sa.text("sensitive = 1")),
        sa.Index("ix_assignments_user_id_id", "user_id", "id"),
    )


class Submission(db.Model):
    """An accepted answer. Gold answers are scored at once (correct, credit)."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignments.id", ondelete="CASCADE"),
                                               unique=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    answer: Mapped[dict] = mapped_column(sa.JSON)
    duration_ms: Mapped[int | None]
    late: Mapped[bool] = mapped_column(default=False)  # arrived after the lease expired
    is_gold: Mapped[bool] = mapped_column(default=False)
    correct: Mapped[bool | None]  # gold only
    credit: Mapped[float | None] = mapped_column(sa.Float)  # gold only, 0..1
    reward_amount: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(10), default="accepted")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.Index("ix_submissions_project_task", "project_id", "task_id"),
        sa.Index("ix_submissions_user_id_id", "user_id", "id"),
    )


class WorkPreference(db.Model):
    """A worker's work settings; the row is also the per-worker lock of the claim."""

    __tablename__ = "work_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    sensitive_content: Mapped[bool] = mapped_column(default=False)  # opted in to sensitive projects
    last_claim_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
