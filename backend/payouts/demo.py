"""Demo content of payouts for `make run`: a welcome bonus for the demo worker, so GET /me/earnings
has an entry that says why."""

import sqlalchemy as sa

from backend.accounts import services as accounts
from backend.extensions import db
from backend.payouts import services as payouts
from backend.payouts.models import LedgerEntry

DEMO_WORKER = "worker@labelpath.local"
DEMO_MANAGER = "manager@labelpath.local"
WELCOME_BONUS = {"ko": "LabelPath에 오신 것을 환영합니다 (데모 보너스)", "en": "Welcome to LabelPath (demo bonus)"}


def seed() -> None:
    """Give the demo worker a welcome bonus once (idempotent)."""
    worker = accounts.find_by_email(DEMO_WORKER)
    if worker is None:
        return
    already = db.session.execute(
        sa.select(LedgerEntry.id).where(LedgerEntry.user_id == worker.id, LedgerEntry.kind == "bonus").limit(1)
    ).scalar_one_or_none()
    if already is not None:
        return
    manager = accounts.find_by_email(DEMO_MANAGER)
    payouts.grant_bonus(worker.id, payouts.payout_minimum(), WELCOME_BONUS,
                        actor_id=manager.id if manager else None)
