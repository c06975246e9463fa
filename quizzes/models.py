"""Certification: exams and their questions, attempts with their drawn items, certificates."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

ATTEMPT_STATUSES = ("open", "graded")
CLOSED_REASONS = ("submitted", "deadline")


class Exam(db.Model):
    """A certification exam: what it grants, who may take it, how questions are drawn."""

    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(100), unique=True)  # stable id of a bank file
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[dict] = mapped_column(sa.JSON)  # {"ko": …, "en": …}
    description: Mapped[dict | None] = mapped_column(sa.JSON)
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"), index=True)
    grants_level: Mapped[int]
    required_course: Mapped[str | None] = mapped_column(sa.String(100))  # a course slug
    required_level: Mapped[int] = mapped_column(default=0)  # minimum current level in the skill
    time_limit_s: Mapped[int]
    pass_percent: Mapped[int]
    attempts_allowed: Mapped[int]
    retake_cooldown_s: Mapped[int] = mapped_column(default=0)
    validity_days: Mapped[int]
    draw: Mapped[list | None] = mapped_column(sa.JSON)  # [{"pool", "count"}]; None: every question
    published: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(sa.String(10), default="api")  # api | bank
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))  # of the last imported document
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("pass_percent BETWEEN 1 AND 100", name="pass_percent"),
        sa.CheckConstraint("time_limit_s > 0 AND attempts_allowed > 0 AND validity_days > 0",
                           name="positive_limits"),
    )


class Question(db.Model):
    """One question of an exam. Questions dropped from a re-imported bank become inactive (kept
    for the attempts that drew them)."""

    __tablename__ = "exam_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exams.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(sa.String(30))
    prompt: Mapped[dict] = mapped_column(sa.JSON)
    media: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{"kind", "url"}]
    options: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{"id", "text"}]
    answer_key: Mapped[dict] = mapped_column(sa.JSON)  # never sent to a worker
    points: Mapped[int] = mapped_column(default=1)
    explanation: Mapped[dict | None] = mapped_column(sa.JSON)  # shown only after grading
    pool: Mapped[str] = mapped_column(sa.String(100), default="default")
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        sa.UniqueConstraint("exam_id", "key"),
        sa.Index("ix_exam_questions_exam_active", "exam_id", "active"),
    )


class Attempt(db.Model):
    """A worker's sitting of an exam: the seed of its draw, its deadline and, once graded, its result."""

    __tablename__ = "exam_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    seed: Mapped[int] = mapped_column(sa.BigInteger)  # random.Random(seed) drew questions and options
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # submission, or the deadline
    closed_reason: Mapped[str | None] = mapped_column(sa.String(10))  # submitted | deadline
    graded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    score: Mapped[float | None]
    max_score: Mapped[int | None]
    percent: Mapped[float | None]
    passed: Mapped[bool | None]
    retake_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # failed, attempts left

    __table_args__ = (
        sa.CheckConstraint(f"status IN {ATTEMPT_STATUSES}", name="status"),
        sa.Index("ix_exam_attempts_exam_user", "exam_id", "user_id"),
        sa.Index("ix_exam_attempts_user_id", "user_id"),
        sa.Index("ix_exam_attempts_status_deadline", "status", "deadline"),
        # At most one open attempt per exam and worker, also under racing requests.
        sa.Index("uq_exam_attempts_one_open", "exam_id", "user_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")),
    )


class AttemptItem(db.Model):
    """One drawn question of an attempt: its place, its option order, the saved answer, its grade."""

    __tablename__ = "exam_attempt_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_attempts.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_questions.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int]
    points: Mapped[int]  # the question's points when drawn
    option_order: Mapped[list | None] = mapped_column(sa.JSON)  # option ids as shown to the worker
    answer: Mapped[dict | None] = mapped_column(sa.JSON)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    credit: Mapped[float | None]  # 0..1 once graded
    correct: Mapped[bool | None]
    earned: Mapped[float | None]

    __table_args__ = (sa.UniqueConstraint("attempt_id", "question_id"),)


class Certificate(db.Model):
    """Issued on passing; verifiable by its code; expires after the exam's validity; revocable."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_attempts.id", ondelete="CASCADE"),
                                            unique=True)
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    level: Mapped[int]
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(500))
    lapsed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # its expiry/revocation was handled

    __table_args__ = (sa.Index("ix_certificates_user_skill", "user_id", "skill_code"),)


class QuizMedia(db.Model):
    """A bank's media file (image, audio), served at /api/v1/media/quizzes/<name>; kept in the
    database so every web process on every machine serves the same bytes."""

    __tablename__ = "quiz_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
