"""Quality models: aggregated task results (aggregation) and reviews, appeals (review).

Two engineers add classes here: append yours, never rewrite the file.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

# ------------------------------------------------------------------ review, appeals, floors, levels
# (backend/quality/review.py, floors.py and backend/skills/rules.py)

REVIEW_DECISIONS = ("approved", "rejected")
APPEAL_STATUSES = ("open", "upheld", "overturned")


class ReviewSample(db.Model):
    """A submission picked for human review when it was accepted (see review.sample_submission)."""

    __tablename__ = "review_samples"

    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"),
                                               primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    reasons: Mapped[list] = mapped_column(sa.JSON)  # why it was picked: new_worker, low_accuracy, fast, random
    status: Mapped[str] = mapped_column(sa.String(10), default="open")  # open | decided
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # approved automatically from then on

    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'decided')", name="status"),
        sa.Index("ix_review_samples_queue", "status", "submission_id"),
        sa.Index("ix_review_samples_due", "status", "due_at"),
    )


class Review(db.Model):
    """The decision on one submission: a reviewer's, or the automatic approval after the window.

    `decision` is what was decided; `outcome` what finally holds (an appeal may overturn a
    rejection). A rejection is final when the appeal window closes unappealed or the appeal is
    decided; approvals are final at once.
    """

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))  # the worker
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(sa.String(10))
    reason_code: Mapped[str | None] = mapped_column(sa.String(40))
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    auto: Mapped[bool] = mapped_column(default=False)  # approved by the job when the window closed
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    appeal_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # rejections only
    appealed: Mapped[bool] = mapped_column(default=False)  # set with the appeal, in the same row
    final: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(sa.String(10))  # approved | rejected, once final
    final_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(f"decision IN {REVIEW_DECISIONS}", name="decision"),
        sa.Index("ix_reviews_user_id_id", "user_id", "id"),
        # Rejections waiting for their appeal window to close (the finalising job).
        sa.Index("ix_reviews_open_rejections", "appeal_until",
                 postgresql_where=sa.text("NOT final"), sqlite_where=sa.text("final = 0")),
    )


class Appeal(db.Model):
    """A worker's appeal of a rejection; decided by a reviewer other than the one who rejected."""

    __tablename__ = "review_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id", ondelete="CASCADE"), unique=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(sa.String(2000))
    status: Mapped[str] = mapped_column(sa.String(12), default="open")
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decision_note: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(f"status IN {APPEAL_STATUSES}", name="status"),
        sa.Index("ix_review_appeals_status_id", "status", "id"),
        sa.Index("ix_review_appeals_user_id", "user_id"),
    )


class ProjectPause(db.Model):
    """A worker paused on one project (accuracy under the floor, too many fast answers), with the
    reason they see and the way back; `lifted_at` ends it."""

    __tablename__ = "project_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    cause: Mapped[str] = mapped_column(sa.String(20))  # accuracy_floor | fast_submit
    reason: Mapped[dict] = mapped_column(sa.JSON)  # {"ko": …, "en": …}, what the worker reads
    detail: Mapped[dict | None] = mapped_column(sa.JSON)  # the numbers behind it
    way_back: Mapped[dict] = mapped_column(sa.JSON)  # {"kind": "retraining", "course": slug, "examples": [keys]} | {"kind": "manager"}
    retraining_done: Mapped[list | None] = mapped_column(sa.JSON)  # example keys answered right since
    paused_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    lift_reason: Mapped[str | None] = mapped_column(sa.String(500))  # retraining | certificate | manager: …

    __table_args__ = (
        # One open pause per worker and project; also the claim's probe (NOT EXISTS).
        sa.Index("uq_project_pauses_open", "user_id", "project_id", unique=True,
                 postgresql_where=sa.text("lifted_at IS NULL"), sqlite_where=sa.text("lifted_at IS NULL")),
        sa.Index("ix_project_pauses_user_id_id", "user_id", "id"),
    )


class WorkerProjectStats(db.Model):
    """Running counts of one worker in one project: newness, gold accuracy, fast answers.

    `recent_gold` / `recent_fast` are the latest outcomes as '1'/'0' (newest last), cut to the
    floor windows; they restart when a pause is lifted.
    """

    __tablename__ = "worker_project_stats"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[int] = mapped_column(default=0)
    gold_answers: Mapped[int] = mapped_column(default=0)
    gold_correct: Mapped[int] = mapped_column(default=0)
    fast_answers: Mapped[int] = mapped_column(default=0)
    recent_gold: Mapped[str] = mapped_column(sa.String(200), default="")
    recent_fast: Mapped[str] = mapped_column(sa.String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectPace(db.Model):
    """A project's median answer time, recomputed from its latest answers every few minutes."""

    __tablename__ = "project_paces"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    median_ms: Mapped[int | None]
    sample_size: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LevelRule(db.Model):
    """An admin's rule for workers at `level` of a skill (no row: the defaults in
    backend/skills/rules.py). Promote to level + 1 after `min_gold` gold answers at this level
    when the Wilson lower bound of the accuracy is ≥ `promote_at` (or only by passing the exam
    `requires_exam`); demote to level − 1 when the Wilson upper bound over the last `window`
    scored answers is below `demote_below`."""

    __tablename__ = "level_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    level: Mapped[int]
    min_gold: Mapped[int]
    promote_at: Mapped[float | None] = mapped_column(sa.Float)
    demote_below: Mapped[float | None] = mapped_column(sa.Float)
    window: Mapped[int]
    requires_exam: Mapped[str | None] = mapped_column(sa.String(80))
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("skill_code", "level"),)


class SkillTally(db.Model):
    """A worker's scored answers at their current level of a skill: gold answers, and human
    review decisions once final. Restarts at every level change (`since`)."""

    __tablename__ = "skill_tallies"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"), primary_key=True)
    level: Mapped[int]
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    gold_answers: Mapped[int] = mapped_column(default=0)
    gold_correct: Mapped[int] = mapped_column(default=0)
    reviewed: Mapped[int] = mapped_column(default=0)  # final human decisions counted
    review_rejected: Mapped[int] = mapped_column(default=0)
    recent: Mapped[str] = mapped_column(sa.String(200), default="")  # latest outcomes, '1'/'0', newest last
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# ------------------------------------------------------------------ aggregation, dynamic overlap
# (backend/quality/results.py)


class TaskResult(db.Model):
    """The aggregated answer of one (non-gold) task, in the task type's answer shape.

    `result` is what a worker would have answered ({"label"}, {"labels"}, {"boxes"}, {"text"},
    {"scores"}, {"preferred"}); `detail` holds what the shape has no room for (per-box and
    per-dimension confidences). `finished`: the task needs no more answers (fixed overlap: it has
    `overlap` answers; dynamic overlap: confident after the minimum, or at the maximum).
    """

    __tablename__ = "task_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), unique=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    result: Mapped[dict] = mapped_column(sa.JSON)
    detail: Mapped[dict | None] = mapped_column(sa.JSON)
    confidence: Mapped[float] = mapped_column(sa.Float)  # 0..1
    answers: Mapped[int]  # answers that went in
    method: Mapped[str] = mapped_column(sa.String(20))  # ds | mv | rover | median | iou-cluster
    finished: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # The export walks a project's results in task order (keyset pages).
        sa.Index("ix_task_results_project_task", "project_id", "task_id"),
    )


class AggregationState(db.Model):
    """Where the incremental aggregation of one project stands.

    `last_submission_id`: every submission of the project up to this id is in its results (a
    settled watermark: it only passes submissions older than a minute, so one still being
    committed is never skipped). `stale_at`: something other than a new answer changed the
    inputs (a final rejection), so the project is aggregated again.
    """

    __tablename__ = "aggregation_states"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    last_submission_id: Mapped[int] = mapped_column(default=0)
    stale_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    aggregated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    results: Mapped[int] = mapped_column(default=0)  # tasks with a result after the last run
    written: Mapped[int] = mapped_column(default=0)  # results the last run changed
