from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db


class Skill(db.Model):
    __tablename__ = "skills"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[dict] = mapped_column(sa.JSON)  # {"ko": …, "en": …}
    max_level: Mapped[int] = mapped_column(default=5)


class WorkerSkill(db.Model):
    """A worker's current level in a skill (0 = not certified)."""

    __tablename__ = "worker_skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    level: Mapped[int] = mapped_column(default=0)
    certified_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "skill_code"),
        sa.Index("ix_worker_skills_skill_level", "skill_code", "level"),
    )


class LevelChange(db.Model):
    """History: every change of a worker's level, who or what made it, and why."""

    __tablename__ = "level_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    skill_code: Mapped[str] = mapped_column(sa.ForeignKey("skills.code"))
    old_level: Mapped[int]
    new_level: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(500))
    source: Mapped[str] = mapped_column(sa.String(30))  # certificate, lapse, override, promotion, …
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
