"""The audit log of staff actions (level overrides, review decisions, bonuses, revocations, project
changes). Domains call record() in the same transaction as the action, so both commit or neither."""

from __future__ import annotations

import sqlalchemy as sa

from backend.audit.models import AuditEntry
from backend.database import keyset_page
from backend.extensions import db


def record(*, actor_id: int | None, action: str, target_type: str, target_id, reason: str | None = None,
           before: dict | None = None, after: dict | None = None) -> AuditEntry:
    entry = AuditEntry(actor_id=actor_id, action=action, target_type=target_type, target_id=str(target_id),
                       reason=reason, before=before, after=after)
    db.session.add(entry)
    db.session.flush()
    return entry


def list_entries(*, after_id: int | None, limit: int, action: str | None = None,
                 actor_id: int | None = None, target_type: str | None = None,
                 target_id: str | None = None) -> tuple[list[AuditEntry], int | None]:
    stmt = sa.select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    return keyset_page(db.session, stmt, AuditEntry.id, after_id, limit)
