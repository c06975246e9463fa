"""Stored first answers for POSTs that carry an Idempotency-Key (a phone's retry does nothing twice)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.errors import Invalid
from backend.extensions import db

KEY_MAX_LENGTH = 200
KEEP_FOR = dt.timedelta(days=7)


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(KEY_MAX_LENGTH))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    response_body: Mapped[dict | list | None] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)


def check_key(key: str) -> str:
    if not 1 <= len(key) <= KEY_MAX_LENGTH or not key.isprintable():
        raise Invalid.field("Idempotency-Key", f"Must be 1 to {KEY_MAX_LENGTH} printable characters.")
    return key


def find(user_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.execute(
        sa.select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    ).scalar_one_or_none()


def ensure_same_request(record: IdempotencyRecord, fingerprint: str) -> None:
    if record.fingerprint != fingerprint:
        raise Invalid(
            "This Idempotency-Key was already used with a different request.",
            errors={"Idempotency-Key": ["Already used with a different request."]},
            slug="idempotency-key-reused",
        )


def remember(user_id: int, key: str, fingerprint: str, status_code: int, body) -> None:
    db.session.add(IdempotencyRecord(user_id=user_id, key=key, fingerprint=fingerprint,
                                     status_code=status_code, response_body=body))
    db.session.flush()


def purge_old() -> int:
    """Scheduled: forget keys older than a week (phones retry within minutes)."""
    cutoff = utcnow() - KEEP_FOR
    return db.session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)).rowcount
