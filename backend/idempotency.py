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


_records = IdempotencyRecord.__table__
# Core, not the ORM: a lookup runs on every retried POST of the hot path.
_FIND = sa.select(_records.c.fingerprint, _records.c.status_code, _records.c.response_body).where(
    _records.c.user_id == sa.bindparam("user_id"), _records.c.key == sa.bindparam("key"))


def find(user_id: int, key: str) -> sa.Row | None:
    """The first answer given to this key: (fingerprint, status_code, response_body), or None."""
    return db.session.execute(_FIND, {"user_id": user_id, "key": key}).first()


def ensure_same_request(record: sa.Row, fingerprint: str) -> None:
    if record.fingerprint != fingerprint:
        raise Invalid(
            "This Idempotency-Key was already used with a different request.",
            errors={"Idempotency-Key": ["Already used with a different request."]},
            slug="idempotency-key-reused",
        )


def remember(user_id: int, key: str, fingerprint: str, status_code: int, body) -> None:
    db.session.execute(sa.insert(_records).values(user_id=user_id, key=key, fingerprint=fingerprint,
                                                  status_code=status_code, response_body=body,
                                                  created_at=utcnow()))


def purge_old() -> int:
    """Scheduled: forget keys older than a week (phones retry within minutes)."""
    cutoff = utcnow() - KEEP_FOR
    return db.session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)).rowcount
