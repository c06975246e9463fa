"""The demo workforce of `make run`: created through the services, meaningful, idempotent."""

from __future__ import annotations

import sqlalchemy as sa

from backend import demo
from backend.accounts.models import User
from backend.extensions import db
from backend.workforce import demo as workforce_demo
from backend.workforce import services


def test_demo_workforce_is_meaningful_and_idempotent(app):
    with app.app_context():
        demo.seed_demo()
        db.session.commit()
        hashes = set(db.session.execute(sa.select(User.password_hash).where(
            User.email.like(f"%@{workforce_demo.EMAIL_DOMAIN}"))).scalars())
        assert len(hashes) == 1  # one precomputed hash for every simulated worker
        summary = services.summary()
        assert summary["workers"] >= 200
        assert summary["certified"] > 50 and summary["expiring_30d"] > 0
        assert 0 < summary["active_7d"] < summary["active_30d"]
        levels = {e["level"] for s in summary["skills"] for e in s["levels"] if e["workers"]}
        assert {0, 1, 2, 3} <= levels
        funnel = services.funnel(8)
        assert all(stage["count"] > 0 for stage in funnel["total"])
        assert sum(c["stages"][0]["count"] for c in funnel["cohorts"]) >= 0.9 * (summary["workers"] - 12)
        assert sum(h["answers"] for h in services.answers_per_hour()) > 100
        assert services.accuracy_histogram()["workers"] > 0
        projects = services.projects_overview()
        assert any(p["answers_last_24h"] > 0 and p["eta"] is not None for p in projects)
        before = db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar()
        demo.seed_demo()
        db.session.commit()
        assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == before
        assert services.summary()["workers"] == summary["workers"]
