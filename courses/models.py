"""Training courses: the catalogue (courses, modules, lessons, practice examples, media) and
each worker's enrollment and lesson completions.

Lessons and examples are identified inside their course by a stable `key` (from the pack or the
authoring payload), so re-importing a pack updates rows in place and keeps their ids. A lesson
that disappears from its course is retired, never deleted: completions stay attached to it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

SOURCES = ("pack", "api")


class Course(db.Model):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[dict] = mapped_column(sa.JSON)  # {"ko": …, "en": …}
    description: Mapped[dict | None] = mapped_column(sa.JSON)
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    level: Mapped[int]  # the level this course prepares for
    sequential: Mapped[bool] = mapped_column(default=False)
    required_courses: Mapped[list] = mapped_column(sa.JSON, default=list)  # slugs
    required_skill_level: Mapped[int] = mapped_column(default=0)  # minimum current level in skill
    published: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    source: Mapped[str] = mapped_column(sa.String(10), default="api")
    content_hash: Mapped[str] = mapped_column(sa.String(64), default="")  # of the authored content
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(f"source IN {SOURCES}", name="source"),
        sa.Index("ix_courses_published_skill", "published", "skill_code"),
    )


class CourseModule(db.Model):
    __tablename__ = "course_modules"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[dict] = mapped_column(sa.JSON)

    __table_args__ = (sa.UniqueConstraint("course_id", "position"),)


class Lesson(db.Model):
    __tablename__ = "course_lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"))
    module_id: Mapped[int | None] = mapped_column(sa.ForeignKey("course_modules.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(sa.String(80))
    position: Mapped[int]  # order inside the whole course
    title: Mapped[dict] = mapped_column(sa.JSON)
    # markdown {text} · image {url, alt} · video {url, duration_s} · example {key} (see CourseExample)
    blocks: Mapped[list] = mapped_column(sa.JSON)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("course_id", "key"),
        sa.Index("ix_course_lessons_course_position", "course_id", "position"),
    )


class CourseExample(db.Model):
    """A practice question inside a lesson; its answer key is only ever shown after an answer."""

    __tablename__ = "course_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(sa.ForeignKey("course_lessons.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(30))
    prompt: Mapped[dict] = mapped_column(sa.JSON)
    media: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{kind, url}]
    options: Mapped[list | None] = mapped_column(sa.JSON)  # [{id, text}]
    answer: Mapped[dict] = mapped_column(sa.JSON)  # the validated key
    explanation: Mapped[dict | None] = mapped_column(sa.JSON)
    points: Mapped[int] = mapped_column(default=1)

    __table_args__ = (sa.UniqueConstraint("course_id", "key"),)


class CourseMedia(db.Model):
    """A small media file of a course pack, kept in the database so every web process serves it."""

    __tablename__ = "course_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.String(200))  # relative to the pack: media/x.png
    content_type: Mapped[str] = mapped_column(sa.String(50))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)

    __table_args__ = (sa.UniqueConstraint("course_id", "path"),)


class Enrollment(db.Model):
    __tablename__ = "course_enrollments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("user_id", "course_id"),)


class LessonCompletion(db.Model):
    __tablename__ = "lesson_completions"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(sa.ForeignKey("course_enrollments.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(sa.ForeignKey("course_lessons.id", ondelete="CASCADE"), index=True)
    completed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("enrollment_id", "lesson_id"),)
