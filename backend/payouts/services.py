"""Earnings and payouts: the ledger, rewards, bonuses, Stripe Connect accounts, payouts, webhooks.

Ledger. Every money move is one append-only `LedgerEntry` carrying signed deltas for the four
buckets (pending, available, processing, paid_out); `WorkerBalance` caches their sums and is
changed by one conditional UPDATE in the same transaction as the entry is written:

    UPDATE worker_balances SET available = available + :d, …
     WHERE user_id = :u AND currency = :c AND available + :d >= 0 AND …

No row updated means the money is not there (409). On PostgreSQL a concurrent debit of the same
row waits for the first to commit and re-checks the condition on the new row; on SQLite every
write transaction starts with BEGIN IMMEDIATE, so they run one after the other; on both, CHECK
constraints refuse a negative bucket as the last line of defence. Money that only comes in (a
task reward, on every accepted submission) takes a short Core path, `_credit`: the same UPDATE
without a condition (nothing can go negative), then the entry; no ORM flush, no savepoint.

Payouts. POST /me/payouts books the debit (available → processing) and a `queued` row; nothing
talks to Stripe on a worker's request except onboarding, which the worker waits for. Scheduler
jobs (jobs.py) claim a queued payout (status `sending` with a lease, committed BEFORE Stripe is
called), make the transfer with the idempotency key `payout-<id>-<reference>` and record what
happened. A payout left in `sending` (process died, network lost, retries spent) is reconciled:
the transfer is looked up by its transfer_group first and only asked for again, with the same
key, when Stripe has none. Every state change is a compare-and-set on the status, so two
schedulers, a webhook and a job racing can never book a payout twice.

State machine: queued → sending → transferred → paid (payout.paid webhook); sending → failed
(Stripe refused; credited back); sending → queued (our credentials failed; nothing was sent);
transferred|paid → reversed (transfer.reversed; credited back); transferred → bank_failed
(payout.failed: the money waits in the worker's Stripe account) → paid.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import zoneinfo
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError

from backend import events, privacy
from backend.accounts import services as accounts
from backend.accounts.models import User
from backend.audit import services as audit
from backend.database import frozen_statement, is_postgresql, keyset_page, utcnow
from backend.errors import Conflict, DomainError, Invalid, NotFound, ServiceUnavailable
from backend.extensions import db
from backend.i18n import both, localize
from backend.payouts.gateway import (
    FoundTransfer,
    GatewayUnavailable,
    PayoutGateway,
    TransferOutcome,
    TransferRequest,
    from_stripe_amount,
    gateway_for,
    payable_step,
    verify_webhook,
)
from backend.payouts.models import (
    BUCKETS,
    LedgerEntry,
    Payout,
    PayoutAccount,
    Reward,
    StripeEvent,
    WorkerBalance,
)
from backend.schemas import decode_cursor, encode_cursor

log = logging.getLogger(__name__)

SEND_LEASE = dt.timedelta(minutes=10)  # longer than one send with all its retries
MAX_RECONCILE_DELAY = dt.timedelta(hours=6)
DEFAULT_APPEAL_WINDOW_S = 7 * 24 * 3600
STRIPE_TIMESTAMP_SLACK = dt.timedelta(seconds=1)  # Stripe's timestamps are whole seconds


# ----------------------------------------------------------------------------- configuration
def deployment_currency() -> str:
    return current_app.config.get("CURRENCY", "KRW").upper()


def payout_minimum() -> int:
    return int(current_app.config.get("PAYOUT_MINIMUM", 10000))


def gateway() -> PayoutGateway:
    """The gateway chosen by config (one per configuration, built on first use)."""
    extensions = current_app.extensions
    if extensions.get("labelpath_payout_gateway") is not None:
        return extensions["labelpath_payout_gateway"]
    config = current_app.config
    key = (config.get("STRIPE_API_KEY") or "", config.get("STRIPE_API_BASE") or "")
    cache = extensions.setdefault("labelpath_payout_gateways", {})
    if key not in cache:
        cache[key] = gateway_for(config)
    return cache[key]


def money(amount: int, currency: str) -> dict:
    return {"amount": int(amount), "currency": currency}


def _reference() -> str:
    return secrets.token_hex(6)


# ----------------------------------------------------------------------------- the ledger
class BalanceTooLow(Conflict):
    slug = "balance-too-low"


def _insert_ignore(model, values: dict, index_elements: list[str]):
    dialect = pg_dialect if is_postgresql(db.session) else sqlite_dialect
    return dialect.insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements)


def _apply_deltas(user_id: int, currency: str, deltas: dict[str, int]) -> int | None:
    """Add `deltas` to the cached balance if no bucket would go below zero; the new available."""
    guard = [getattr(WorkerBalance, bucket) + delta >= 0 for bucket, delta in deltas.items() if delta < 0]
    stmt = (
        sa.update(WorkerBalance)
        .where(WorkerBalance.user_id == user_id, WorkerBalance.currency == currency, *guard)
        .values(updated_at=utcnow(),
                **{bucket: getattr(WorkerBalance, bucket) + delta for bucket, delta in deltas.items() if delta})
        .returning(WorkerBalance.available)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def post_entry(user_id: int, currency: str, kind: str, *, pending: int = 0, available: int = 0,
               processing: int = 0, paid_out: int = 0, reward_id: int | None = None,
               payout_id: int | None = None, reason: dict | None = None, actor_id: int | None = None,
               detail: dict | None = None) -> LedgerEntry:
    """Write one entry and move the cached balance with it; BalanceTooLow if a bucket would go
    negative (then nothing was written)."""
    deltas = {"pending": pending, "available": available, "processing": processing, "paid_out": paid_out}
    available_after = _apply_deltas(user_id, currency, deltas)
    if available_after is None:
        db.session.execute(_insert_ignore(WorkerBalance, {
            "user_id": user_id, "currency": currency, "pending": 0, "available": 0, "processing": 0,
            "paid_out": 0, "updated_at": utcnow()}, ["user_id", "currency"]))
        available_after = _apply_deltas(user_id, currency, deltas)
    if available_after is None:
        raise BalanceTooLow("The balance is too low for this.")
    entry = LedgerEntry(user_id=user_id, currency=currency, kind=kind, pending_delta=pending,
                        available_delta=available, processing_delta=processing, paid_out_delta=paid_out,
                        available_after=available_after, reward_id=reward_id, payout_id=payout_id,
                        reason=reason, actor_id=actor_id, detail=detail)
    db.session.add(entry)
    db.session.flush()
    return entry


class _FastStatements(NamedTuple):
    insert_reward: sa.TextClause  # … ON CONFLICT (submission_id) DO NOTHING RETURNING id
    upsert_balance: sa.TextClause  # … ON CONFLICT (user_id, currency) DO UPDATE adding, RETURNING available


_balances, _entries, _rewards = WorkerBalance.__table__, LedgerEntry.__table__, Reward.__table__

# Built once: a statement object computes its cache key once, so reusing it spares that CPU on
# every accepted submission. Parameters come with each execution.
_CREDIT_BALANCE = (
    sa.update(_balances)
    .where(_balances.c.user_id == sa.bindparam("b_user_id"), _balances.c.currency == sa.bindparam("b_currency"))
    .values(updated_at=sa.bindparam("b_now"),
            **{bucket: _balances.c[bucket] + sa.bindparam(f"d_{bucket}", type_=sa.BigInteger) for bucket in BUCKETS})
    .returning(_balances.c.available)
)
_INSERT_ENTRY = sa.insert(_entries)


_REWARD_COLUMNS = ("user_id", "submission_id", "project_id", "task_id", "amount", "currency", "gold", "status",
                   "available_at", "decided_at", "created_at")


def _build_fast_statements(dialect) -> _FastStatements:
    upsert = dialect.insert(_balances).values(
        **{name: sa.bindparam(name) for name in ("user_id", "currency", "updated_at", *BUCKETS)})
    upsert = upsert.on_conflict_do_update(
        index_elements=["user_id", "currency"],
        set_={"updated_at": upsert.excluded.updated_at,
              **{bucket: _balances.c[bucket] + upsert.excluded[bucket] for bucket in BUCKETS}},
    ).returning(_balances.c.available)
    insert_reward = (dialect.insert(_rewards).values(**{name: sa.bindparam(name) for name in _REWARD_COLUMNS})
                     .on_conflict_do_nothing(index_elements=["submission_id"]).returning(_rewards.c.id))
    name = dialect.dialect.name
    return _FastStatements(insert_reward=frozen_statement(insert_reward, name),
                           upsert_balance=frozen_statement(upsert, name))


_FAST_STATEMENTS = {True: _build_fast_statements(pg_dialect), False: _build_fast_statements(sqlite_dialect)}


def _fast_statements() -> _FastStatements:
    return _FAST_STATEMENTS[is_postgresql(db.session)]


def _credit(user_id: int, currency: str, kind: str, deltas: dict[str, int], *, now: dt.datetime,
            reward_id: int | None = None) -> int:
    """post_entry for money that only comes in (every delta >= 0, so no bucket can go below
    zero and there is nothing to check), in Core: UPDATE the balance RETURNING available (the
    row lock on PostgreSQL, as post_entry takes it), then INSERT the entry. The worker's first
    money in a currency upserts the balance row instead (two first rewards racing: the second
    waits on the unique index, then adds). Not an upsert every time: on PostgreSQL each upsert
    takes a worker_balances id from the sequence even when it only updates. The available after."""
    if any(delta < 0 for delta in deltas.values()):
        raise ValueError("_credit only adds money; use post_entry")
    amounts = {bucket: int(deltas.get(bucket, 0)) for bucket in BUCKETS}
    available_after = db.session.execute(_CREDIT_BALANCE, {
        "b_user_id": user_id, "b_currency": currency, "b_now": now,
        **{f"d_{bucket}": amount for bucket, amount in amounts.items()},
    }).scalar_one_or_none()
    if available_after is None:
        available_after = db.session.execute(_fast_statements().upsert_balance, {
            "user_id": user_id, "currency": currency, "updated_at": now, **amounts}).scalar_one()
    # reason/detail as None like the ORM writes them (JSON null), so every entry looks the same.
    db.session.execute(_INSERT_ENTRY, {
        "user_id": user_id, "currency": currency, "kind": kind,
        **{f"{bucket}_delta": amount for bucket, amount in amounts.items()},
        "available_after": available_after, "reward_id": reward_id, "payout_id": None,
        "reason": None, "actor_id": None, "detail": None, "created_at": now,
    })
    return available_after


def balance_of(user_id: int, currency: str | None = None) -> dict[str, int]:
    currency = currency or deployment_currency()
    row = db.session.execute(
        sa.select(WorkerBalance).where(WorkerBalance.user_id == user_id, WorkerBalance.currency == currency)
    ).scalar_one_or_none()
    return {bucket: getattr(row, bucket) if row else 0
            for bucket in ("pending", "available", "processing", "paid_out")}


def balances_of(user_ids, currency: str | None = None) -> dict[int, dict[str, int]]:
    """balance_of for many workers at once: {user_id: {pending, available, processing, paid_out}}."""
    currency = currency or deployment_currency()
    ids = list(user_ids)
    buckets = ("pending", "available", "processing", "paid_out")
    result = {user_id: dict.fromkeys(buckets, 0) for user_id in ids}
    for start in range(0, len(ids), 1000):
        rows = db.session.execute(sa.select(WorkerBalance).where(
            WorkerBalance.user_id.in_(ids[start:start + 1000]), WorkerBalance.currency == currency)).scalars()
        for row in rows:
            result[row.user_id] = {bucket: getattr(row, bucket) for bucket in buckets}
    return result


def balance_from_entries(user_id: int, currency: str | None = None) -> dict[str, int]:
    """The balance derived from the entries alone (what the cache must always equal)."""
    currency = currency or deployment_currency()
    sums = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.pending_delta), 0),
                  sa.func.coalesce(sa.func.sum(LedgerEntry.available_delta), 0),
                  sa.func.coalesce(sa.func.sum(LedgerEntry.processing_delta), 0),
                  sa.func.coalesce(sa.func.sum(LedgerEntry.paid_out_delta), 0))
        .where(LedgerEntry.user_id == user_id, LedgerEntry.currency == currency)
    ).one()
    return dict(zip(("pending", "available", "processing", "paid_out"), map(int, sums), strict=True))


# ----------------------------------------------------------------------------- rewards
def _review_window() -> int:
    return int(current_app.config.get("REVIEW_WINDOW_S", 0))


def _appeal_window() -> int:
    # The quality domain owns appeals; its window when configured, else a week.
    return int(current_app.config.get("APPEAL_WINDOW_S", DEFAULT_APPEAL_WINDOW_S))


def _reward_for_submission(submission_id: int) -> Reward | None:
    return db.session.execute(
        sa.select(Reward).where(Reward.submission_id == submission_id)
    ).scalar_one_or_none()


def book_reward(*, submission_id: int, user_id: int, amount: int, currency: str,
                project_id: int | None = None, task_id: int | None = None, gold: bool = False) -> int | None:
    """An accepted submission's reward: pending for the review window, or available at once
    when there is none. Returns the new reward's id; None when nothing was booked (no amount,
    or the submission's reward exists already, booked before or by a racing transaction).

    Runs on every accepted submission, so it is three Core statements and no ORM flush: the
    reward (INSERT … ON CONFLICT (submission_id) DO NOTHING RETURNING id: a second booking stops
    here), the balance (UPDATE … RETURNING available, row-locked; an upsert instead on the
    worker's first money in this currency) and the ledger entry."""
    if amount is None or amount <= 0:
        return None
    currency = (currency or deployment_currency()).upper()
    window = _review_window()
    now = utcnow()
    statements = _fast_statements()
    # On PostgreSQL a racing booking of the same submission waits here for the other
    # transaction: nothing is booked if it commits, this one books if it rolls back.
    reward_id = db.session.execute(statements.insert_reward, {
        "user_id": user_id, "submission_id": submission_id, "project_id": project_id, "task_id": task_id,
        "amount": amount, "currency": currency, "gold": bool(gold),
        "status": "pending" if window > 0 else "available",
        "available_at": now + dt.timedelta(seconds=window) if window > 0 else now,
        "decided_at": None if window > 0 else now, "created_at": now,
    }).scalar_one_or_none()
    if reward_id is None:
        return None
    bucket = "pending" if window > 0 else "available"
    _credit(user_id, currency, "reward", {bucket: amount}, reward_id=reward_id, now=now)
    return reward_id


def _set_reward_status(reward_id: int, new: str, old: tuple[str, ...], **values) -> bool:
    """Compare-and-set: only one of two racing deciders moves the reward."""
    done = db.session.execute(
        sa.update(Reward).where(Reward.id == reward_id, Reward.status.in_(old))
        .values(status=new, **values).execution_options(synchronize_session=False)
    ).rowcount
    if done:
        reward = db.session.get(Reward, reward_id)
        if reward is not None:
            db.session.refresh(reward)
    return bool(done)


def _lock_balance(user_id: int, currency: str) -> int | None:
    """The available balance, row-locked on PostgreSQL (SQLite writers are serialized anyway).

    Lock order everywhere a reward moves: the worker's balance row first, then the reward row,
    so review decisions, the auto-approval job and payouts never wait on each other in a cycle.
    """
    stmt = sa.select(WorkerBalance.available).where(WorkerBalance.user_id == user_id,
                                                    WorkerBalance.currency == currency)
    if is_postgresql(db.session):
        stmt = stmt.with_for_update()
    return db.session.execute(stmt).scalar_one_or_none()


def approve_reward(reward: Reward, *, auto: bool = False) -> bool:
    _lock_balance(reward.user_id, reward.currency)
    if not _set_reward_status(reward.id, "available", ("pending", "rejected"), decided_at=utcnow()):
        return False
    post_entry(reward.user_id, reward.currency, "reward_approved", pending=-reward.amount,
               available=reward.amount, reward_id=reward.id, detail={"auto": auto})
    return True


def reverse_reward(reward: Reward, reason) -> bool:
    """A final rejection takes the reward back: from pending, or from available when it was
    already released (never below zero: what was paid out meanwhile is recorded, not taken)."""
    text = both(reason) if reason else None
    available = _lock_balance(reward.user_id, reward.currency) or 0
    # One compare-and-set per origin, so the bucket debited is the one the reward was really in
    # (a concurrent approval may have moved it since it was read).
    if _set_reward_status(reward.id, "reversed", ("pending", "rejected"), decided_at=utcnow(),
                          rejection_reason=text):
        post_entry(reward.user_id, reward.currency, "reward_reversed", pending=-reward.amount,
                   reward_id=reward.id, reason=text)
        return True
    if not _set_reward_status(reward.id, "reversed", ("available",), decided_at=utcnow(),
                              rejection_reason=text):
        return False
    # The balance was read under its row lock: no payout can take it away before this debit.
    taken = min(reward.amount, available)
    post_entry(reward.user_id, reward.currency, "reward_reversed", available=-taken, reward_id=reward.id,
               reason=text, detail={"uncollected": reward.amount - taken} if taken < reward.amount else None)
    return True


def reject_reward_for_appeal(reward: Reward, reason) -> bool:
    """A rejection that can still be appealed: the reward stays pending, with the reason."""
    return _set_reward_status(reward.id, "rejected", ("pending",), rejection_reason=both(reason) if reason else None,
                              appeal_until=utcnow() + dt.timedelta(seconds=_appeal_window()))


def review_reward(*, submission_id: int, decision: str, reason=None, final: bool = True) -> bool:
    reward = _reward_for_submission(submission_id)
    if reward is None:
        return False
    if decision == "approved":
        return approve_reward(reward)
    if decision == "rejected":
        return reverse_reward(reward, reason) if final else reject_reward_for_appeal(reward, reason)
    log.warning("submission %s: unknown review decision %r ignored", submission_id, decision)
    return False


def approve_due_rewards(limit: int = 500) -> int:
    """Scheduled: release rewards whose review window has closed without a decision."""
    due = db.session.execute(
        sa.select(Reward).where(Reward.status == "pending", Reward.available_at <= utcnow())
        .order_by(Reward.user_id, Reward.id).limit(limit)  # balances locked in user order
    ).scalars().all()
    return sum(approve_reward(reward, auto=True) for reward in due)


def on_submission_accepted(_sender=None, *, submission_id, user_id, reward_amount, currency=None,
                           project_id=None, task_id=None, gold=False, **_):
    book_reward(submission_id=submission_id, user_id=user_id, amount=reward_amount, currency=currency,
                project_id=project_id, task_id=task_id, gold=gold)


def on_submission_reviewed(_sender=None, *, submission_id, decision, reason=None, final=True, **_):
    review_reward(submission_id=submission_id, decision=decision, reason=reason, final=final)


def connect_handlers() -> None:
    events.submission_accepted.connect(on_submission_accepted)
    events.submission_reviewed.connect(on_submission_reviewed)
    privacy.register(privacy.DataSection("money", export_money))


# ----------------------------------------------------------------------------- bonuses
def grant_bonus(worker_id: int, amount: int, reason, *, actor_id: int) -> dict:
    worker = db.session.get(User, worker_id)
    if worker is None or worker.deleted_at is not None:
        raise NotFound("No such worker.")
    if amount <= 0:
        raise Invalid.field("amount", "Must be greater than zero.")
    currency = deployment_currency()
    entry = post_entry(worker.id, currency, "bonus", available=amount, reason=both(reason), actor_id=actor_id)
    audit.record(actor_id=actor_id, action="payouts.bonus", target_type="user", target_id=worker.id,
                 reason=localize(entry.reason, "en"), after={"amount": amount, "currency": currency,
                                                             "ledger_entry_id": entry.id})
    return {"id": entry.id, "user_id": worker.id, "amount": money(amount, currency), "reason": entry.reason,
            "created_at": entry.created_at}


# ----------------------------------------------------------------------------- earnings
_TEXTS = {
    "reward": {"ko": "작업 보상", "en": "Task reward"},
    "reward_pending": {"ko": "{date}에 검토 기간이 끝나면 출금할 수 있습니다",
                       "en": "pending until the review window closes on {date}"},
    "reward_rejected": {"ko": "반려됨: {reason} — {date}까지 이의 제기 가능",
                        "en": "rejected: {reason} — appeal until {date}"},
    "reward_available": {"ko": "출금 가능", "en": "available"},
    "reward_reversed": {"ko": "반려되어 취소됨: {reason}", "en": "rejected: {reason} — reward withdrawn"},
    "reward_approved": {"ko": "검토 통과 — 출금 가능", "en": "approved — now available"},
    "reward_auto_approved": {"ko": "검토 기간 종료 — 출금 가능", "en": "review window closed — now available"},
    "reward_reversed_entry": {"ko": "반려: {reason} — 보상 취소", "en": "rejected: {reason} — reward withdrawn"},
    "uncollected": {"ko": " (이미 출금된 {amount}은(는) 회수하지 않음)",
                    "en": " ({amount} already paid out was not taken back)"},
    "bonus": {"ko": "보너스: {reason}", "en": "Bonus: {reason}"},
    "payout_debit": {"ko": "출금 #{id} 신청", "en": "Payout #{id} requested"},
    "payout_transferred": {"ko": "출금 #{id}이(가) Stripe 계정으로 송금됨",
                           "en": "Payout #{id} sent to your Stripe account"},
    "payout_failed": {"ko": "출금 #{id} 실패: {reason} — 금액이 반환되었습니다",
                      "en": "Payout #{id} failed: {reason} — the amount is back in your balance"},
    "payout_reversed": {"ko": "출금 #{id}이(가) Stripe에서 취소되어 금액이 반환되었습니다",
                        "en": "Payout #{id} was reversed by Stripe — the amount is back in your balance"},
    "no_reason": {"ko": "사유 없음", "en": "no reason given"},
}

FAILURE_TEXTS = {
    "balance_insufficient": {"ko": "플랫폼 잔액이 부족합니다. 잠시 후 다시 신청해 주세요",
                             "en": "the platform's balance was too low; please request it again later"},
    "account_not_ready": {"ko": "출금 계정이 준비되지 않았습니다",
                          "en": "your payout account is not ready to receive money"},
    "insufficient_capabilities_for_transfer": {"ko": "출금 계정이 아직 송금을 받을 수 없습니다",
                                               "en": "your payout account cannot receive transfers yet"},
    "reversed": {"ko": "Stripe에서 송금이 취소되었습니다", "en": "Stripe reversed the transfer"},
    "bank": {"ko": "은행이 지급을 거절했습니다({code}). Stripe에서 계좌 정보를 수정해 주세요. 금액은 Stripe 계정에 남아 있습니다",
             "en": "your bank refused the payout ({code}); update your bank details in Stripe — "
                   "the money waits in your Stripe account"},
    "other": {"ko": "Stripe가 송금을 거절했습니다({code})", "en": "Stripe refused the transfer ({code})"},
}

STATUS_TEXTS = {
    "queued": {"ko": "송금 대기 중", "en": "waiting to be sent"},
    "queued_offline": {"ko": "이 서버에는 출금이 아직 연결되지 않았습니다. 금액은 보관되며 아무것도 송금되지 않았습니다",
                       "en": "payouts are not connected on this server yet: the amount is reserved and "
                             "nothing has been sent"},
    "sending": {"ko": "Stripe로 송금 중", "en": "being sent to Stripe"},
    "transferred": {"ko": "Stripe 계정으로 송금됨 — 은행으로 이체 중",
                    "en": "sent to your Stripe account — on its way to your bank"},
    "paid": {"ko": "은행 계좌로 지급 완료", "en": "paid to your bank account"},
    "bank_failed": {"ko": "은행 지급 실패", "en": "your bank refused the payout"},
    "failed": {"ko": "실패 — 금액이 반환되었습니다", "en": "failed — the amount is back in your balance"},
    "reversed": {"ko": "취소됨 — 금액이 반환되었습니다", "en": "reversed — the amount is back in your balance"},
}


def _fmt(key: str, **values) -> dict:
    return {locale: text.format(**values) for locale, text in _TEXTS[key].items()}


def _join(*texts: dict) -> dict:
    return {locale: "".join(t[locale] for t in texts) for locale in ("ko", "en")}


def _local_date(value: dt.datetime | None, timezone: str) -> str:
    if value is None:
        return "-"
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _reason_text(reason: dict | None) -> dict:
    return both(reason) if reason else dict(_TEXTS["no_reason"])


def _format_amount(amount: int, currency: str) -> str:
    from backend.payouts.gateway import minor_unit_exponent

    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return f"{amount:,} {currency}"
    return f"{amount / 10 ** exponent:,.{exponent}f} {currency}"


def failure_text(code: str | None) -> dict | None:
    if not code:
        return None
    if code.startswith("bank:"):
        return {k: v.format(code=code[5:]) for k, v in FAILURE_TEXTS["bank"].items()}
    if code in FAILURE_TEXTS:
        return dict(FAILURE_TEXTS[code])
    return {k: v.format(code=code) for k, v in FAILURE_TEXTS["other"].items()}


def _describe_entry(entry: LedgerEntry, reward: Reward | None, payout: Payout | None, timezone: str) -> dict:
    """The worker's view of one entry: what moved and why (texts in ko and en)."""
    until = None
    status = None
    kind = entry.kind
    if kind == "reward":
        status = reward.status if reward else None
        head = _TEXTS["reward"] if not reward or not reward.task_id else _join(
            _TEXTS["reward"], {"ko": f" (작업 #{reward.task_id})", "en": f" (task #{reward.task_id})"})
        if status == "pending":
            until = reward.available_at
            tail = _fmt("reward_pending", date=_local_date(until, timezone))
        elif status == "rejected":
            until = reward.appeal_until
            reason = _reason_text(reward.rejection_reason)
            tail = {loc: _TEXTS["reward_rejected"][loc].format(reason=reason[loc], date=_local_date(until, timezone))
                    for loc in ("ko", "en")}
        elif status == "reversed":
            reason = _reason_text(reward.rejection_reason)
            tail = {loc: _TEXTS["reward_reversed"][loc].format(reason=reason[loc]) for loc in ("ko", "en")}
        else:
            tail = _TEXTS["reward_available"]
        text = _join(head, {"ko": " — ", "en": " — "}, tail)
    elif kind == "reward_approved":
        text = _TEXTS["reward_auto_approved" if (entry.detail or {}).get("auto") else "reward_approved"]
    elif kind == "reward_reversed":
        reason = _reason_text(entry.reason)
        text = {loc: _TEXTS["reward_reversed_entry"][loc].format(reason=reason[loc]) for loc in ("ko", "en")}
        uncollected = (entry.detail or {}).get("uncollected")
        if uncollected:
            text = _join(text, _fmt("uncollected", amount=_format_amount(uncollected, entry.currency)))
    elif kind == "bonus":
        reason = _reason_text(entry.reason)
        text = {loc: _TEXTS["bonus"][loc].format(reason=reason[loc]) for loc in ("ko", "en")}
    elif kind == "payout_failed":
        reason = failure_text(payout.failure_code if payout else None) or _TEXTS["no_reason"]
        text = {loc: _TEXTS["payout_failed"][loc].format(id=entry.payout_id, reason=reason[loc])
                for loc in ("ko", "en")}
    else:
        text = _fmt(kind, id=entry.payout_id)
    changes = {"pending": entry.pending_delta, "available": entry.available_delta,
               "processing": entry.processing_delta, "paid_out": entry.paid_out_delta}
    magnitude = max(abs(v) for v in changes.values())
    return {
        "id": entry.id, "kind": kind, "amount": money(magnitude, entry.currency), "changes": changes,
        "description": localize(text), "status": status, "until": until,
        "submission_id": reward.submission_id if reward else None, "task_id": reward.task_id if reward else None,
        "payout_id": entry.payout_id, "created_at": entry.created_at,
    }


def earnings(user_id: int, *, cursor: str | None = None, limit: int = 20) -> dict:
    """GET /me/earnings: the balances and a page of entries, newest first, each saying why."""
    currency = deployment_currency()
    balance = balance_of(user_id, currency)
    user = accounts.get_user(user_id)
    rows, last_id = keyset_page(db.session, sa.select(LedgerEntry).where(LedgerEntry.user_id == user_id),
                                LedgerEntry.id, decode_cursor(cursor), limit)
    reward_ids = {row.reward_id for row in rows if row.reward_id}
    payout_ids = {row.payout_id for row in rows if row.payout_id}
    rewards = {r.id: r for r in db.session.execute(sa.select(Reward).where(Reward.id.in_(reward_ids))).scalars()} \
        if reward_ids else {}
    payouts = {p.id: p for p in db.session.execute(sa.select(Payout).where(Payout.id.in_(payout_ids))).scalars()} \
        if payout_ids else {}
    items = [_describe_entry(row, rewards.get(row.reward_id), payouts.get(row.payout_id), user.timezone)
             for row in rows]
    return {
        "currency": currency,
        **{bucket: money(value, currency) for bucket, value in balance.items()},
        "payout_minimum": money(payout_minimum(), currency),
        "entries": {"items": items, "next_cursor": encode_cursor(last_id) if last_id else None},
    }


# ----------------------------------------------------------------------------- payout accounts
def _account_of(user_id: int, *, for_update: bool = False) -> PayoutAccount | None:
    stmt = sa.select(PayoutAccount).where(PayoutAccount.user_id == user_id)
    if for_update and is_postgresql(db.session):
        stmt = stmt.with_for_update()
    return db.session.execute(stmt).scalar_one_or_none()


def _account_enabled(account: PayoutAccount | None) -> bool:
    return bool(account and account.stripe_account_id and account.payouts_enabled and account.transfers_active)


def _account_status(account: PayoutAccount | None) -> str:
    if account is None or account.stripe_account_id is None:
        return "none" if gateway().live else "unavailable"
    if _account_enabled(account):
        return "enabled"
    return "restricted" if account.details_submitted else "onboarding"


def account_view(account: PayoutAccount | None) -> dict:
    view = {"status": _account_status(account), "payouts_enabled": bool(account and account.payouts_enabled),
            "details_submitted": bool(account and account.details_submitted)}
    if (account is not None and not _account_enabled(account) and account.onboarding_url
            and account.onboarding_url_expires_at and account.onboarding_url_expires_at > utcnow()):
        view["onboarding_url"] = account.onboarding_url
        view["onboarding_url_expires_at"] = account.onboarding_url_expires_at
    return view


def payout_account(user_id: int) -> dict:
    """GET /me/payout-account: what we know, without calling Stripe."""
    return account_view(_account_of(user_id))


def _apply_account_info(account: PayoutAccount, info) -> None:
    account.payouts_enabled = info.payouts_enabled
    account.details_submitted = info.details_submitted
    account.transfers_active = info.transfers_active
    account.updated_at = utcnow()
    if _account_enabled(account):
        account.onboarding_url = None
        account.onboarding_url_expires_at = None


def start_onboarding(user_id: int) -> dict:
    """POST /me/payout-account: create the Express account (once) and an onboarding link.

    The worker waits for this one: one short attempt per call, a 503 when Stripe is away. An
    account Stripe created is kept even when the link fails (keep_changes), so a retry reuses it.
    """
    gw = gateway()
    if not gw.live:
        raise ServiceUnavailable("Payouts are not connected on this server.", slug="payouts-not-configured")
    user = accounts.get_user(user_id)
    db.session.execute(_insert_ignore(PayoutAccount, {
        "user_id": user.id, "reference": _reference(), "payouts_enabled": False, "details_submitted": False,
        "transfers_active": False, "created_at": utcnow(), "updated_at": utcnow()}, ["user_id"]))
    account = _account_of(user.id, for_update=True)
    db.session.refresh(account)
    config = current_app.config
    try:
        if account.stripe_account_id is None:
            info = gw.create_account(user_id=user.id, email=user.email,
                                     idempotency_key=f"payout-account-{user.id}-{account.reference}")
            account.stripe_account_id = info.id
            _apply_account_info(account, info)
            db.session.flush()
        elif not _account_enabled(account):
            _apply_account_info(account, gw.retrieve_account(account.stripe_account_id))
        if _account_enabled(account):
            return account_view(account)
        link = gw.create_onboarding_link(account.stripe_account_id,
                                         return_url=config["STRIPE_CONNECT_RETURN_URL"],
                                         refresh_url=config["STRIPE_CONNECT_REFRESH_URL"])
    except GatewayUnavailable:
        db.session.flush()
        raise ServiceUnavailable("Stripe cannot be reached right now; try again in a minute.",
                                 slug="stripe-unavailable", headers={"Retry-After": "30"},
                                 keep_changes=True) from None
    account.onboarding_url = link.url
    account.onboarding_url_expires_at = link.expires_at
    account.updated_at = utcnow()
    db.session.flush()
    view = account_view(account)
    view["onboarding_url"] = link.url
    view["onboarding_url_expires_at"] = link.expires_at
    return view


# ----------------------------------------------------------------------------- payouts
def _emit_payout_changed(payout: Payout) -> None:
    events.payout_changed.send(payout_id=payout.id, user_id=payout.user_id, status=payout.status,
                               amount=payout.amount, currency=payout.currency,
                               failure_reason=failure_text(payout.failure_code))


def _set_payout_status(payout_id: int, new: str, old: tuple[str, ...], **values) -> Payout | None:
    """Compare-and-set the status; the refreshed payout when this call made the change."""
    done = db.session.execute(
        sa.update(Payout).where(Payout.id == payout_id, Payout.status.in_(old))
        .values(status=new, updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return None
    payout = db.session.get(Payout, payout_id)
    db.session.refresh(payout)
    return payout


def request_payout(user_id: int, amount: int, *, source: str = "request") -> Payout:
    """Book the debit and a queued payout; the transfer is made later by a scheduler job."""
    currency = deployment_currency()
    minimum = payout_minimum()
    if amount < minimum:
        raise Invalid.field("amount", f"The smallest payout is {minimum} ({currency} minor units).")
    step = payable_step(currency)
    if amount % step:
        raise Invalid.field("amount", f"Must be a multiple of {step} in {currency}.")
    if gateway().live and not _account_enabled(_account_of(user_id)):
        raise Conflict("Set up your payout account first (POST /me/payout-account).",
                       slug="payout-account-not-ready")
    with db.session.begin_nested():
        payout = Payout(user_id=user_id, amount=amount, currency=currency, status="queued", source=source,
                        reference=_reference())
        db.session.add(payout)
        db.session.flush()
        post_entry(user_id, currency, "payout_debit", available=-amount, processing=amount, payout_id=payout.id)
    _emit_payout_changed(payout)
    return payout


def create_payout(user_id: int, amount: int) -> dict:
    """POST /me/payouts: book the payout; the worker's view of it."""
    return payout_view(request_payout(user_id, amount))


def payout_view(payout: Payout, *, offline: bool | None = None) -> dict:
    offline = (not gateway().live) if offline is None else offline
    status_key = "queued_offline" if payout.status == "queued" and offline else payout.status
    return {
        "id": payout.id, "amount": money(payout.amount, payout.currency), "status": payout.status,
        "status_detail": localize(STATUS_TEXTS[status_key]),
        "failure_reason": localize(failure_text(payout.failure_code)) if payout.failure_code else None,
        "source": payout.source, "created_at": payout.created_at, "updated_at": payout.updated_at,
        "transferred_at": payout.transferred_at, "paid_at": payout.paid_at,
    }


def my_payouts(user_id: int, *, cursor: str | None = None, limit: int = 20) -> dict:
    rows, last_id = keyset_page(db.session, sa.select(Payout).where(Payout.user_id == user_id), Payout.id,
                                decode_cursor(cursor), limit)
    offline = not gateway().live
    return {"items": [payout_view(p, offline=offline) for p in rows],
            "next_cursor": encode_cursor(last_id) if last_id else None}


def manager_payouts(*, status: str | None = None, user_id: int | None = None, cursor: str | None = None,
                    limit: int | None = 20) -> dict:
    """GET /manage/payouts: every payout with its state; limit None = all (CSV export)."""
    stmt = sa.select(Payout, User.email, User.display_name).join(User, User.id == Payout.user_id)
    if status:
        stmt = stmt.where(Payout.status == status)
    if user_id:
        stmt = stmt.where(Payout.user_id == user_id)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Payout.id < after)
    stmt = stmt.order_by(Payout.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    rows = db.session.execute(stmt).all()
    next_cursor = None
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1][0].id)
    items = []
    for payout, email, display_name in rows:
        items.append({
            "id": payout.id, "user_id": payout.user_id, "email": email, "display_name": display_name,
            "amount": money(payout.amount, payout.currency), "status": payout.status, "source": payout.source,
            "transfer_id": payout.transfer_id, "destination": payout.destination, "attempts": payout.attempts,
            "failure_code": payout.failure_code, "last_error": payout.last_error,
            "reversed_amount": money(payout.reversed_amount, payout.currency),
            "created_at": payout.created_at, "updated_at": payout.updated_at,
            "transferred_at": payout.transferred_at, "paid_at": payout.paid_at,
        })
    return {"items": items, "next_cursor": next_cursor}


def _transfer_request(payout: Payout) -> TransferRequest:
    return TransferRequest(payout_id=payout.id, user_id=payout.user_id, amount=payout.amount,
                           currency=payout.currency, destination=payout.destination,
                           idempotency_key=payout.idempotency_key, transfer_group=payout.transfer_group,
                           metadata={"reference": payout.reference})


def _fail_payout(payout_id: int, code: str, error: str | None, old: tuple[str, ...]) -> Payout | None:
    payout = _set_payout_status(payout_id, "failed", old, failure_code=code[:60],
                                last_error=(error or code)[:500], lease_until=None)
    if payout is None:
        return None
    post_entry(payout.user_id, payout.currency, "payout_failed", processing=-payout.amount,
               available=payout.amount, payout_id=payout.id, detail={"code": code})
    _emit_payout_changed(payout)
    return payout


def queued_payout_ids(limit: int = 50) -> list[int]:
    return list(db.session.execute(
        sa.select(Payout.id).where(Payout.status == "queued").order_by(Payout.id).limit(limit)).scalars())


def claim_payout(payout_id: int) -> TransferRequest | None:
    """queued → sending (with a lease) for the caller to transfer; commit before calling Stripe.
    A payout whose worker has no enabled account any more fails here and is credited back."""
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.status != "queued":
        return None
    account = _account_of(payout.user_id)
    if not _account_enabled(account):
        _fail_payout(payout_id, "account_not_ready", "no enabled payout account", ("queued",))
        return None
    now = utcnow()
    payout = _set_payout_status(payout_id, "sending", ("queued",), destination=account.stripe_account_id,
                                attempts=Payout.attempts + 1, lease_until=now + SEND_LEASE)
    if payout is None:
        return None  # another scheduler claimed it
    _emit_payout_changed(payout)
    return _transfer_request(payout)


def stale_sending_payout_ids(limit: int = 50) -> list[int]:
    """Payouts whose outcome is unknown: a send died or ran out of retries (lease passed)."""
    return list(db.session.execute(
        sa.select(Payout.id).where(Payout.status == "sending", Payout.lease_until <= utcnow())
        .order_by(Payout.id).limit(limit)).scalars())


def reclaim_payout(payout_id: int) -> TransferRequest | None:
    """Take a stale `sending` payout for reconciliation (a fresh lease; one reconciler at a time)."""
    now = utcnow()
    done = db.session.execute(
        sa.update(Payout).where(Payout.id == payout_id, Payout.status == "sending", Payout.lease_until <= now)
        .values(lease_until=now + SEND_LEASE, attempts=Payout.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return None
    payout = db.session.get(Payout, payout_id)
    db.session.refresh(payout)
    return _transfer_request(payout)


def _complete_transfer(payout_id: int, transfer_id: str) -> Payout | None:
    payout = _set_payout_status(payout_id, "transferred", ("sending",), transfer_id=transfer_id,
                                transferred_at=utcnow(), lease_until=None, last_error=None)
    if payout is None:
        return None
    post_entry(payout.user_id, payout.currency, "payout_transferred", processing=-payout.amount,
               paid_out=payout.amount, payout_id=payout.id, detail={"transfer_id": transfer_id})
    _emit_payout_changed(payout)
    return payout


def _retry_delay(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2) * (2 ** max(attempts - 1, 0)), MAX_RECONCILE_DELAY)


def record_transfer_outcome(payout_id: int, outcome: TransferOutcome) -> str:
    """What Stripe answered for a claimed payout, booked; returns the payout's status."""
    if outcome.status == "created":
        if _complete_transfer(payout_id, outcome.transfer_id) is None:
            log.info("payout %s: transfer %s was already recorded", payout_id, outcome.transfer_id)
    elif outcome.status == "refused":
        _fail_payout(payout_id, outcome.code or "refused", outcome.message, ("sending",))
    elif outcome.status == "not_sent":
        requeued = _set_payout_status(payout_id, "queued", ("sending",), lease_until=None,
                                      last_error=(outcome.message or "not sent")[:500])
        if requeued is not None:
            _emit_payout_changed(requeued)
    else:  # uncertain: leave it sending; reconciliation looks again after a backoff
        payout = db.session.get(Payout, payout_id)
        if payout is not None and payout.status == "sending":
            payout.lease_until = utcnow() + _retry_delay(payout.attempts)
            payout.last_error = (outcome.message or outcome.code or "uncertain")[:500]
            payout.updated_at = utcnow()
            db.session.flush()
            log.warning("payout %s: outcome uncertain (%s); reconciliation will look it up",
                        payout_id, payout.last_error)
    payout = db.session.get(Payout, payout_id)
    return payout.status if payout else "missing"


def reconcile_outcome(request: TransferRequest, gw: PayoutGateway) -> TransferOutcome:
    """For a payout whose transfer may or may not exist: look it up by transfer_group first
    (works after Stripe forgot the idempotency key); ask again with the same key only when Stripe
    has none. No DB access: call it outside any transaction."""
    try:
        found: FoundTransfer | None = gw.find_transfer(transfer_group=request.transfer_group,
                                                       payout_id=request.payout_id)
    except GatewayUnavailable as error:
        return TransferOutcome("uncertain", code="lookup_failed", message=str(error))
    if found is not None:
        if found.amount != request.amount or found.currency != request.currency.upper():
            log.error("payout %s: transfer %s has %s %s, expected %s %s", request.payout_id, found.id,
                      found.amount, found.currency, request.amount, request.currency)
        return TransferOutcome("created", transfer_id=found.id)
    return gw.create_transfer(request)


def auto_payout_candidates() -> list[tuple[int, int]]:
    """(user_id, amount) for every worker with an enabled account and at least the minimum available."""
    currency = deployment_currency()
    step = payable_step(currency)
    rows = db.session.execute(
        sa.select(WorkerBalance.user_id, WorkerBalance.available)
        .join(PayoutAccount, PayoutAccount.user_id == WorkerBalance.user_id)
        .where(WorkerBalance.currency == currency, WorkerBalance.available >= payout_minimum(),
               PayoutAccount.stripe_account_id.is_not(None), PayoutAccount.payouts_enabled.is_(True),
               PayoutAccount.transfers_active.is_(True))
        .order_by(WorkerBalance.user_id)
    ).all()
    return [(user_id, available - available % step) for user_id, available in rows]


def weekly_auto_payouts() -> str:
    """Scheduled weekly: pay out every worker whose available balance reaches the minimum.
    Safe to run twice: the second run finds the balances already debited."""
    if not gateway().live:
        return "payouts not configured: no automatic payouts"
    made = 0
    for user_id, amount in auto_payout_candidates():
        try:
            request_payout(user_id, amount, source="auto")
            made += 1
        except DomainError as error:  # raced with the worker's own request, or balance moved
            log.info("auto payout for user %s skipped: %s", user_id, error.detail)
    return f"{made} payouts queued"


# ----------------------------------------------------------------------------- webhooks
class BadSignature(DomainError):
    status, slug = 400, "webhook-signature-invalid"


def _from_timestamp(value) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def handle_stripe_webhook(payload: bytes, signature: str | None) -> dict:
    """POST /webhooks/stripe: verify (platform or Connect secret), store the event id, act once."""
    config = current_app.config
    secrets_ = [config.get("STRIPE_WEBHOOK_SECRET") or "", config.get("STRIPE_CONNECT_WEBHOOK_SECRET") or ""]
    if not any(secrets_):
        raise ServiceUnavailable("Stripe webhooks are not configured on this server.",
                                 slug="webhooks-not-configured")
    try:
        event = verify_webhook(payload, signature, secrets_)
    except ValueError:
        raise BadSignature("The Stripe-Signature header does not verify.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise BadSignature("Not a Stripe event.")
    try:
        with db.session.begin_nested():
            db.session.add(StripeEvent(id=event["id"][:255], type=event["type"][:100],
                                       account=event.get("account"), created=_from_timestamp(event.get("created"))))
            db.session.flush()
    except IntegrityError:
        return {"received": True, "duplicate": True}
    obj = (event.get("data") or {}).get("object") or {}
    created = _from_timestamp(event.get("created")) or utcnow()
    match event["type"]:
        case "account.updated":
            _on_account_updated(obj, created)
        case "transfer.created" | "transfer.updated":
            _on_transfer_seen(obj)
        case "transfer.reversed":
            _on_transfer_reversed(obj)
        case "payout.paid" if event.get("account"):
            _on_bank_payout(event["account"], obj, paid=True)
        case "payout.failed" if event.get("account"):
            _on_bank_payout(event["account"], obj, paid=False)
        case _:
            pass
    return {"received": True, "duplicate": False}


def _on_account_updated(obj: dict, created: dt.datetime) -> None:
    account = db.session.execute(
        sa.select(PayoutAccount).where(PayoutAccount.stripe_account_id == obj.get("id"))
    ).scalar_one_or_none()
    if account is None:
        return
    if account.stripe_updated_at is not None and created < account.stripe_updated_at:
        return  # an older snapshot delivered late
    capabilities = obj.get("capabilities") or {}
    account.payouts_enabled = bool(obj.get("payouts_enabled"))
    account.details_submitted = bool(obj.get("details_submitted"))
    account.transfers_active = capabilities.get("transfers") == "active"
    account.stripe_updated_at = created
    account.updated_at = utcnow()
    if _account_enabled(account):
        account.onboarding_url = None
        account.onboarding_url_expires_at = None
    db.session.flush()


def _payout_for_transfer(obj: dict) -> Payout | None:
    if obj.get("id"):
        payout = db.session.execute(sa.select(Payout).where(Payout.transfer_id == obj["id"])).scalar_one_or_none()
        if payout is not None:
            return payout
    metadata = obj.get("metadata") or {}
    try:
        payout = db.session.get(Payout, int(metadata.get("payout_id")))
    except (TypeError, ValueError):
        return None
    if payout is None or obj.get("transfer_group") != payout.transfer_group:
        return None  # not ours (another deployment, or a reset database)
    return payout


def _on_transfer_seen(obj: dict) -> None:
    """transfer.created: completes a payout whose answer we lost (a second reconciliation path)."""
    payout = _payout_for_transfer(obj)
    if payout is not None and payout.status == "sending" and obj.get("id"):
        _complete_transfer(payout.id, obj["id"])


def _on_transfer_reversed(obj: dict) -> None:
    payout = _payout_for_transfer(obj)
    if payout is None:
        return
    if payout.status == "sending" and obj.get("id"):
        _complete_transfer(payout.id, obj["id"])
        db.session.refresh(payout)
    if payout.status not in ("transferred", "paid", "bank_failed"):
        return
    total = min(from_stripe_amount(int(obj.get("amount_reversed") or 0), payout.currency), payout.amount)
    newly = total - payout.reversed_amount
    if newly <= 0:
        return
    done = db.session.execute(
        sa.update(Payout).where(Payout.id == payout.id, Payout.reversed_amount == payout.reversed_amount)
        .values(reversed_amount=total, updated_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return
    post_entry(payout.user_id, payout.currency, "payout_reversed", paid_out=-newly, available=newly,
               payout_id=payout.id, detail={"transfer_id": obj.get("id"), "amount_reversed": total})
    if total >= payout.amount:
        changed = _set_payout_status(payout.id, "reversed", ("transferred", "paid", "bank_failed"),
                                     failure_code="reversed")
        if changed is not None:
            _emit_payout_changed(changed)


def _on_bank_payout(account_id: str, obj: dict, *, paid: bool) -> None:
    """payout.paid / payout.failed on a connected account: the money reached (or did not reach)
    the worker's bank. Stripe pays out a balance, not a transfer: every transfer to the account
    made before the bank payout was created is covered by it."""
    created = _from_timestamp(obj.get("created")) or utcnow()
    old = ("transferred", "bank_failed") if paid else ("transferred",)
    ids = db.session.execute(
        sa.select(Payout.id).where(Payout.destination == account_id, Payout.status.in_(old),
                                   Payout.transferred_at <= created + STRIPE_TIMESTAMP_SLACK)
        .order_by(Payout.id)
    ).scalars().all()
    for payout_id in ids:
        if paid:
            changed = _set_payout_status(payout_id, "paid", old, paid_at=utcnow(), failure_code=None)
        else:
            code = f"bank:{obj.get('failure_code') or 'unknown'}"
            changed = _set_payout_status(payout_id, "bank_failed", old, failure_code=code[:60],
                                         last_error=(obj.get("failure_message") or code)[:500])
        if changed is not None:
            _emit_payout_changed(changed)


# ----------------------------------------------------------------------------- personal data
def export_money(user_id: int) -> dict:
    """The worker's data export: balances, every ledger entry, payouts and the payout account."""
    entries = db.session.execute(
        sa.select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)).scalars()
    payout_rows = db.session.execute(
        sa.select(Payout).where(Payout.user_id == user_id).order_by(Payout.id)).scalars()
    account = _account_of(user_id)
    return {
        "balances": [{"currency": b.currency, "pending": b.pending, "available": b.available,
                      "processing": b.processing, "paid_out": b.paid_out}
                     for b in db.session.execute(
                         sa.select(WorkerBalance).where(WorkerBalance.user_id == user_id)).scalars()],
        "entries": [{"id": e.id, "kind": e.kind, "currency": e.currency, "pending": e.pending_delta,
                     "available": e.available_delta, "processing": e.processing_delta,
                     "paid_out": e.paid_out_delta, "reason": e.reason, "payout_id": e.payout_id,
                     "at": e.created_at} for e in entries],
        "payouts": [{"id": p.id, "amount": p.amount, "currency": p.currency, "status": p.status,
                     "transfer_id": p.transfer_id, "created_at": p.created_at} for p in payout_rows],
        "payout_account": None if account is None else {
            "stripe_account_id": account.stripe_account_id, "payouts_enabled": account.payouts_enabled,
            "created_at": account.created_at},
    }
