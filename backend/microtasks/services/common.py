"""Settings and small helpers shared by the micro-task services."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from backend.errors import Invalid, flatten_messages
from backend.microtasks.models import Assignment, Project, Submission, Task, WorkPreference

# Core tables: the hot path uses them directly (no ORM identity map, nothing to lazy-load).
tasks = Task.__table__
assignments = Assignment.__table__
projects = Project.__table__
submissions = Submission.__table__
work_preferences = WorkPreference.__table__

# Knobs (app config first, then the environment, then these defaults).
SETTINGS = {
    "MICROTASKS_MAX_OPEN_LEASES": 20,  # open leases one worker may hold
    "MICROTASKS_SENSITIVE_DAILY_LIMIT": 50,  # sensitive-content tasks per worker per 24 hours
    "MICROTASKS_LEASE_MAX_FACTOR": 4,  # heartbeats extend a lease up to this × lease_seconds
    "MICROTASKS_RETRY_AFTER_S": 30,  # what an empty lease answer suggests
}


def setting(name: str) -> int:
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(name)
    return SETTINGS[name] if value in (None, "") else int(value)


def invalid(prefix: str, error: ValidationError, detail: str | None = None) -> Invalid:
    """A 422 whose `errors` name the nested fields: answer.label, payload.image_url, …"""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    flat = flatten_messages(messages, prefix)
    flat = {name.replace("._schema", ""): msgs for name, msgs in flat.items()}
    text = detail or "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(flat.items()))
    return Invalid(text[:1000], errors=flat)


def money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


# Predicates written as literals so PostgreSQL (also with generic prepared plans) and SQLite can
# match them with the partial indexes of models.py.
ZERO = sa.literal_column("0")
LEASED = sa.literal_column("'leased'")
