"""Uploads of collection tasks, the chunks they arrive in, and the consent given with them.

An upload belongs to one worker and one assignment. It is `receiving` while chunks arrive (each
chunk is its own stored object, listed in collection_upload_parts), then `ready` when the last
byte came and every check passed (the metadata-free file is stored under `storage_key`),
`rejected` when a check failed (`errors` says why), `submitted` once an accepted submission
refers to it. Unfinished, rejected and never-submitted uploads are deleted after `expires_at`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

UPLOAD_STATUSES = ("receiving", "ready", "rejected", "submitted")


class CollectionUpload(db.Model):
    __tablename__ = "collection_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(10), default="receiving")
    size: Mapped[int] = mapped_column(sa.BigInteger)  # bytes announced at creation
    received: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # the offset reached
    declared_type: Mapped[str | None] = mapped_column(sa.String(100))  # what the phone said; not trusted
    declared_sha256: Mapped[str | None] = mapped_column(sa.String(64))  # checked when complete
    kind: Mapped[str | None] = mapped_column(sa.String(10))  # image | audio | video, from the bytes
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    storage_key: Mapped[str | None] = mapped_column(sa.String(300))
    stored_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    content_sha256: Mapped[str | None] = mapped_column(sa.String(64))  # of the stored, metadata-free bytes
    phash: Mapped[str | None] = mapped_column(sa.String(16))  # images: 64-bit perceptual hash, hex
    fingerprint: Mapped[str | None] = mapped_column(sa.Text)  # PCM audio: loudness-envelope bits
    flags: Mapped[list] = mapped_column(sa.JSON, default=list)  # for reviewers: [{code, upload_id, …}]
    errors: Mapped[dict | None] = mapped_column(sa.JSON)  # why it was rejected: {field: [messages]}
    submission_id: Mapped[int | None] = mapped_column(sa.ForeignKey("submissions.id", ondelete="SET NULL"),
                                                      index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None once submitted

    __table_args__ = (
        sa.CheckConstraint(f"status IN {UPLOAD_STATUSES}", name="status"),
        sa.CheckConstraint("received >= 0 AND received <= size", name="received"),
        # A worker's own earlier media in a project (duplicate checks).
        sa.Index("ix_collection_uploads_user_project", "user_id", "project_id", "status"),
        # Exact duplicates across workers.
        sa.Index("ix_collection_uploads_content_sha256", "content_sha256"),
        # The cleanup job: what is past its time.
        sa.Index("ix_collection_uploads_expiry", "expires_at",
                 postgresql_where=sa.text("expires_at IS NOT NULL"),
                 sqlite_where=sa.text("expires_at IS NOT NULL")),
    )


class CollectionUploadPart(db.Model):
    """One received chunk: bytes [offset, offset + size) of the upload, stored as its own object."""

    __tablename__ = "collection_upload_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(sa.ForeignKey("collection_uploads.id", ondelete="CASCADE"))
    offset: Mapped[int] = mapped_column(sa.BigInteger)
    size: Mapped[int]
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("upload_id", "offset"),)


class CollectionConsent(db.Model):
    """The consent a worker gave with a collection submission: who, when, which text."""

    __tablename__ = "collection_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"),
                                               unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(sa.String(40))
    text: Mapped[dict] = mapped_column(sa.JSON)  # the text of that version, as shown: {"ko", "en"}
    accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
