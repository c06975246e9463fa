"""Scheduled jobs of payouts.

Sending and reconciling commit once per payout, not once per job: the claim (`sending`, with a
lease) must be durable BEFORE Stripe is called, so that a process dying mid-call leaves a payout
the reconciliation job can find, and no database transaction (on SQLite: the write lock) is held
while Stripe answers. Everything else is one service call that run_job commits.
"""

from __future__ import annotations

import logging

from backend.extensions import db
from backend.payouts import services as payouts
from backend.scheduler import Job

log = logging.getLogger(__name__)


def send_queued_payouts(limit: int = 50) -> str:
    """Transfer queued payouts (one Stripe call each, bounded retries with the same key)."""
    gateway = payouts.gateway()
    if not gateway.live:
        return "payouts not configured: queued payouts stay queued, nothing is sent"
    ids = payouts.queued_payout_ids(limit)
    db.session.commit()
    results: dict[str, int] = {}
    for payout_id in ids:
        request = payouts.claim_payout(payout_id)
        db.session.commit()
        if request is None:
            continue
        outcome = gateway.create_transfer(request)  # no transaction open while Stripe answers
        status = payouts.record_transfer_outcome(payout_id, outcome)
        db.session.commit()
        results[status] = results.get(status, 0) + 1
    return f"sent {len(ids)} queued payouts: {results}"


def reconcile_payouts(limit: int = 50) -> str:
    """Finish payouts whose outcome is unknown (the process died after claiming, the network
    failed after Stripe made the transfer, retries ran out): find the transfer by its
    transfer_group, and only ask again, with the same idempotency key, when there is none."""
    gateway = payouts.gateway()
    if not gateway.live:
        return "payouts not configured: nothing to reconcile"
    ids = payouts.stale_sending_payout_ids(limit)
    db.session.commit()
    results: dict[str, int] = {}
    for payout_id in ids:
        request = payouts.reclaim_payout(payout_id)
        db.session.commit()
        if request is None:
            continue
        outcome = payouts.reconcile_outcome(request, gateway)
        status = payouts.record_transfer_outcome(payout_id, outcome)
        db.session.commit()
        results[status] = results.get(status, 0) + 1
    return f"reconciled {len(ids)} payouts: {results}"


JOBS = [
    Job("payouts.approve_due_rewards", payouts.approve_due_rewards, "interval", {"minutes": 5}),
    Job("payouts.send_queued", send_queued_payouts, "interval", {"minutes": 1}),
    Job("payouts.reconcile", reconcile_payouts, "interval", {"minutes": 5}),
    Job("payouts.weekly_auto_payout", payouts.weekly_auto_payouts, "cron",
        {"day_of_week": "mon", "hour": 1, "minute": 0}),
]
