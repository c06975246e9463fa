"""Rollups of workforce analytics, kept current by the job `workforce.refresh_rollups`.

The raw facts stay in their domains (submissions in microtasks, levels in skills, certificates in
quizzes, enrollments in courses). What would need a scan of every answer on each dashboard view is
summed here incrementally, in submission-id order:

- `WorkerTotals`: per worker, the first and last answer, answers, gold answers and right gold
  answers: "active in the last 7/30 days", "first task" (funnel), the worker list, gold accuracy.
- `WorkerActivity`: the same per worker and skill (activity per skill, the worker's detail).
- `HourlyAnswers`: answers per hour (UTC epoch hour) and skill, for the throughput chart.
- `RollupState`: up to which submission id the rollups have counted (the watermark).

Readers add the answers above the watermark (a few minutes' worth) to what the rollups hold, so
every figure is exact whether or not the job ran recently.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.accounts.models import User
from backend.database import UTCDateTime, utcnow
from backend.extensions import db
from courses.models import Enrollment
from quizzes.models import Certificate


class WorkerTotals(db.Model):
    __tablename__ = "workforce_worker_totals"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    first_answer_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_answer_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    answers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    gold_answers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    gold_correct: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class WorkerActivity(db.Model):
    __tablename__ = "workforce_worker_activity"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    first_answer_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_answer_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    answers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    gold_answers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    gold_correct: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    __table_args__ = (
        # "Active in the last N days" per skill: a range of this index.
        sa.Index("ix_workforce_worker_activity_skill_last", "skill_code", "last_answer_at"),
    )


class HourlyAnswers(db.Model):
    __tablename__ = "workforce_hourly_answers"

    hour: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)  # floor(epoch seconds / 3600), UTC
    skill_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    answers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    gold_answers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    gold_correct: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class RollupState(db.Model):
    __tablename__ = "workforce_rollup_state"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last_submission_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    refreshed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rebuilt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# The few accounts outside the workforce (staff, deleted): counts over the workforce subtract them
# (a hashed NOT IN) instead of joining every row with users.
sa.Index("ix_users_outside_workforce", User.id,
         postgresql_where=sa.text("role <> 'worker' OR deleted_at IS NOT NULL"),
         sqlite_where=sa.text("role <> 'worker' OR deleted_at IS NOT NULL"))

# The summary and the funnel read the workforce's ids, the unrevoked certificates and the completed
# enrollments in user-id order: each one streams from a narrow partial index and merges with the
# others (no table hashed per call). Migration 0005.
sa.Index("ix_users_workforce", User.id, User.created_at,
         postgresql_where=sa.text("role = 'worker' AND deleted_at IS NULL"),
         sqlite_where=sa.text("role = 'worker' AND deleted_at IS NULL"))
# Also the "replaced by a later certificate" probe of the expiring count: (worker, skill) → expiry, level.
sa.Index("ix_certificates_unrevoked", Certificate.user_id, Certificate.skill_code, Certificate.expires_at,
         Certificate.level, postgresql_where=sa.text("revoked_at IS NULL"), sqlite_where=sa.text("revoked_at IS NULL"))
sa.Index("ix_course_enrollments_completed", Enrollment.user_id,
         postgresql_where=sa.text("completed_at IS NOT NULL"), sqlite_where=sa.text("completed_at IS NOT NULL"))
