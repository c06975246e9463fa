"""Earnings and payouts: an append-only ledger, its cached balances, rewards, payout accounts,
payouts and the Stripe events already handled.

Money is an integer in the currency's minor unit (KRW: won; USD: cents) plus an ISO 4217 code.
Every change of a worker's money is one `LedgerEntry` (never updated, never deleted) that moves
amounts between four buckets:

    pending     rewards waiting for review
    available   what the worker may pay out (never negative)
    processing  booked for a payout that has not reached Stripe yet
    paid_out    transferred to the worker's Stripe account

`WorkerBalance` caches the sums of the entries per worker and currency; it is changed in the same
statement sequence as the entry is written (one transaction), and CHECK constraints keep every
bucket at or above zero on both databases.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.database import UTCDateTime, utcnow
from backend.extensions import db

BUCKETS = ("pending", "available", "processing", "paid_out")

# Entry kinds and the buckets they move (sign of each delta).
ENTRY_KINDS = (
    "reward",            # a task reward: +pending (or +available when there is no review window)
    "reward_approved",   # review passed or window closed: pending → available
    "reward_reversed",   # final rejection: −pending (or −available when it was already released)
    "bonus",             # a manager's bonus with a reason: +available
    "payout_debit",      # a payout requested: available → processing
    "payout_transferred",  # Stripe accepted the transfer: processing → paid_out
    "payout_failed",     # the transfer was refused: processing → available (credit back)
    "payout_reversed",   # Stripe reversed the transfer: paid_out → available (credit back)
)

REWARD_STATUSES = ("pending", "rejected", "available", "reversed")

# queued → sending → transferred → paid; sending → failed; transferred|paid → reversed;
# transferred → bank_failed → paid (Stripe retries the bank payout once details are fixed).
PAYOUT_STATUSES = ("queued", "sending", "transferred", "paid", "bank_failed", "failed", "reversed")
PAYOUT_SOURCES = ("request", "auto")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WorkerBalance(db.Model):
    """The running sums of a worker's ledger entries in one currency (a cache, kept exact)."""

    __tablename__ = "worker_balances"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    pending: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    available: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    processing: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    paid_out: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "currency"),
        sa.Index("ix_worker_balances_currency_available", "currency", "available"),
        *(sa.CheckConstraint(f"{bucket} >= 0", name=f"{bucket}_not_negative") for bucket in BUCKETS),
    )


class Reward(db.Model):
    """The state of one accepted submission's reward (the ledger holds the money moves)."""

    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    submission_id: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    project_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    task_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    gold: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(12))
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the review window closes
    rejection_reason: Mapped[dict | None] = mapped_column(sa.JSON)  # {"ko", "en"}
    appeal_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(_in("status", REWARD_STATUSES), name="status"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("ix_rewards_status_available_at", "status", "available_at"),
    )


class PayoutAccount(db.Model):
    """A worker's Stripe Connect Express account and what Stripe last told us about it."""

    __tablename__ = "payout_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    # Random, per row: Stripe idempotency keys stay unique even if a database is reset.
    reference: Mapped[str] = mapped_column(sa.String(16))
    stripe_account_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    details_submitted: Mapped[bool] = mapped_column(default=False)
    transfers_active: Mapped[bool] = mapped_column(default=False)
    onboarding_url: Mapped[str | None] = mapped_column(sa.String(2000))
    onboarding_url_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stripe_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # newest event applied
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payout(db.Model):
    """One payout: the ledger debit is booked when it is created; a scheduler job transfers it."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    source: Mapped[str] = mapped_column(sa.String(10), default="request")
    reference: Mapped[str] = mapped_column(sa.String(16))
    destination: Mapped[str | None] = mapped_column(sa.String(255))  # the connected account paid
    transfer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # while status is sending
    last_error: Mapped[str | None] = mapped_column(sa.String(500))  # for managers
    failure_code: Mapped[str | None] = mapped_column(sa.String(60))  # the worker reads its text
    reversed_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    transferred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(_in("status", PAYOUT_STATUSES), name="status"),
        sa.CheckConstraint(_in("source", PAYOUT_SOURCES), name="source"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("ix_payouts_status_lease_until", "status", "lease_until"),
        sa.Index("ix_payouts_destination_status", "destination", "status"),
    )

    @property
    def idempotency_key(self) -> str:
        return f"payout-{self.id}-{self.reference}"

    @property
    def transfer_group(self) -> str:
        return f"payout-{self.id}-{self.reference}"


class LedgerEntry(db.Model):
    """One money move. Append-only: the session refuses to update or delete an entry."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    kind: Mapped[str] = mapped_column(sa.String(20))
    pending_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    available_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    processing_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    paid_out_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    available_after: Mapped[int] = mapped_column(sa.BigInteger)  # running available balance
    reward_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rewards.id"))
    payout_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payouts.id"), index=True)
    reason: Mapped[dict | None] = mapped_column(sa.JSON)  # {"ko", "en"}: a bonus's or rejection's why
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    detail: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        # A reward is booked, released and reversed at most once each.
        sa.UniqueConstraint("reward_id", "kind"),
        sa.Index("ix_ledger_entries_user_id_id", "user_id", "id"),
    )


class StripeEvent(db.Model):
    """Stripe webhook events already handled: a redelivery is a no-op."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    account: Mapped[str | None] = mapped_column(sa.String(255))
    created: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_ledger_changes(session, _flush_context, _instances):
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, LedgerEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise LedgerIsAppendOnly("ledger entries are append-only")
