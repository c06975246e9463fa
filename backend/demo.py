"""Demo data for `make run`: accounts whose credentials are printed, and the skill catalogue.

Later domains add their content here (course packs, exam banks, projects, a simulated workforce).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from backend.accounts import services as accounts
from backend.accounts.models import User
from backend.extensions import db
from backend.skills import services as skills

DEMO_ACCOUNTS = (
    ("manager@labelpath.local", "Demo Manager", "manager"),
    ("reviewer@labelpath.local", "Demo Reviewer", "reviewer"),
    ("worker@labelpath.local", "데모 작업자", "worker"),
)


def database_is_empty() -> bool:
    return db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == 0


def seed_demo() -> list[tuple[str, str, str]]:
    """Create the demo content; returns (email, password, role) for the accounts it made."""
    skills.ensure_starter_skills()
    created = []
    for email, name, role in DEMO_ACCOUNTS:
        if accounts.find_by_email(email) is None:
            password = secrets.token_urlsafe(9)
            accounts.create_user(email, password, name, role=role)
            created.append((email, password, role))
    for seed in _domain_seeds():
        seed()
    return created


def _domain_seeds():
    import courses.demo
    import quizzes.demo
    from backend.microtasks import demo as microtasks_demo
    from backend.microtasks.collection import demo as collection_demo
    from backend.notifications import demo as notifications_demo
    from backend.payouts import demo as payouts_demo
    from backend.quality import demo as quality_demo
    from backend.workforce import demo as workforce_demo

    # Order matters: exams require courses; projects need skills; the simulated workforce works on
    # the projects; payouts and the feed come from work done.
    return (courses.demo.seed, quizzes.demo.seed, microtasks_demo.seed, collection_demo.seed,
            workforce_demo.seed, quality_demo.seed, payouts_demo.seed, notifications_demo.seed)
