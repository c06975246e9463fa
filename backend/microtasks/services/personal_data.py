"""The micro-task part of a worker's personal data (export and account deletion)."""

from __future__ import annotations

import sqlalchemy as sa

from backend import privacy
from backend.extensions import db
from backend.microtasks.services.common import assignments, submissions, work_preferences


def export_work(user_id: int) -> dict:
    """Work preferences, every lease and every answer the worker gave (no gold answers)."""
    prefs = db.session.execute(sa.select(work_preferences.c.sensitive_content, work_preferences.c.updated_at)
                               .where(work_preferences.c.user_id == user_id)).first()
    leases = db.session.execute(
        sa.select(assignments.c.id, assignments.c.project_id, assignments.c.task_id, assignments.c.status,
                  assignments.c.leased_at, assignments.c.lease_expires_at, assignments.c.ended_at)
        .where(assignments.c.user_id == user_id).order_by(assignments.c.id)).mappings().all()
    answers = db.session.execute(
        sa.select(submissions.c.id, submissions.c.assignment_id, submissions.c.project_id, submissions.c.task_id,
                  submissions.c.answer, submissions.c.duration_ms, submissions.c.late, submissions.c.correct,
                  submissions.c.reward_amount, submissions.c.currency, submissions.c.status,
                  submissions.c.created_at)
        .where(submissions.c.user_id == user_id).order_by(submissions.c.id)).mappings().all()
    return {
        "preferences": {"sensitive_content": bool(prefs.sensitive_content), "updated_at": prefs.updated_at}
        if prefs else None,
        "assignments": [dict(row) for row in leases],
        "submissions": [dict(row) for row in answers],
    }


def erase_work(user_id: int) -> None:
    """Account deletion: the preferences go; answers stay for the datasets (no longer linked to a
    name or an email once the account is anonymised)."""
    db.session.execute(sa.delete(work_preferences).where(work_preferences.c.user_id == user_id))


def connect_handlers() -> None:
    privacy.register(privacy.DataSection("work", export_work, erase_work))
