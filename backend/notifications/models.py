"""Notifications: the in-app feed, the worker's devices, preferences, and the push outbox.

Every notification is a row of the feed (`notifications`); a push is one `push_deliveries` row per
device, written in the same transaction as the notification and drained by the scheduler.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

PLATFORMS = ("android", "ios", "web")
# A delivery is claimed (`sending`) before it goes to FCM and settles in sent / failed / cancelled.
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
TOKEN_MAX_LENGTH = 1024


class Notification(db.Model):
    """One entry of a worker's feed. Texts are kept in both languages ({"ko", "en"})."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(40))  # the template, e.g. certification.passed
    title: Mapped[dict] = mapped_column(sa.JSON)
    body: Mapped[dict] = mapped_column(sa.JSON)
    data: Mapped[dict] = mapped_column(sa.JSON)  # deep link, e.g. {"screen": "exam", "id": "12"}
    # Makes a scheduled notice idempotent: one row per (user, key), e.g. "cert-expiring:C-1:7".
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "dedupe_key"),
        sa.Index("ix_notifications_user_id_id", "user_id", "id"),
        sa.Index("ix_notifications_created_at", "created_at"),
    )


class Device(db.Model):
    """An FCM registration token. A token belongs to one user at a time (the last to register it)."""

    __tablename__ = "notification_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(sa.String(TOKEN_MAX_LENGTH), unique=True)
    platform: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (sa.CheckConstraint(f"platform IN {PLATFORMS}", name="platform"),)


class NotificationPreference(db.Model):
    """Per-category push switches and quiet hours ("HH:MM" in the worker's own timezone)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    categories: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {category: bool}; missing = on
    quiet_start: Mapped[str | None] = mapped_column(sa.String(5))
    quiet_end: Mapped[str | None] = mapped_column(sa.String(5))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushDelivery(db.Model):
    """The outbox: one push of one notification to one device.

    `pending` rows whose `next_attempt_at` has come are claimed by a drain (`sending`, `claim_id`,
    `claimed_at`) and committed before anything goes to FCM, so no second drain takes them; the
    answer settles them. A claim older than the lease (a drain that died) is taken over.
    """

    __tablename__ = "push_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notifications.id", ondelete="CASCADE"),
                                                 index=True)
    device_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("notification_devices.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claim_id: Mapped[str | None] = mapped_column(sa.String(36))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(sa.String(200))  # FCM's name for the message
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
        sa.Index("ix_push_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )


class WorkWatch(db.Model):
    """Whether open work in a skill was available to a worker at the last check (dry spells)."""

    __tablename__ = "notification_work_watch"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    has_work: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
