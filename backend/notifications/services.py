"""Notifications: the feed, devices, preferences and quiet hours, the push outbox and its drain.

How a notification travels
--------------------------
`notify()` writes the feed row and, when the worker has devices and their preferences let the
category through, one `PushDelivery` per device — in the caller's transaction, so a notification
exists exactly when what caused it was committed. Domain events reach `notify()` through the
handlers at the bottom (`connect_handlers`); the scheduled checks call it from jobs.

The scheduler drains the outbox (`drain_outbox`) in rounds of three steps:

1. **claim** — one short write transaction picks due rows (`pending` and `next_attempt_at` passed,
   or `sending` rows whose claim is older than the lease, i.e. a drain that died) and marks them
   `sending` under a fresh claim id, then commits. On PostgreSQL the pick is `FOR UPDATE SKIP
   LOCKED`, so two drains take disjoint rows without waiting; on SQLite the transaction begins
   with `BEGIN IMMEDIATE`, so claims are serialised by the write lock. Rows in quiet hours go back
   to `pending` until the end of them; rows whose device is gone or moved to another user, or
   whose category was switched off since, are cancelled.
2. **send** — outside any transaction (no lock is held while FCM answers), through the gateway.
3. **settle** — one write transaction records each answer on the rows still carrying our claim
   id: `sent`; or back to `pending` with exponential backoff and jitter (at least FCM's
   Retry-After) — nothing is lost while FCM is away; or `failed` for a dead token, whose device
   is then removed together with its other pending pushes.

So a delivery is sent by one drain only; a restart leaves claimed rows that the next drain takes
over after the lease. Push is at least once: FCM has no idempotency key, and a message it
accepted is sent again only if the drain dies between FCM's answer and the settle commit. A
recorded success is never re-sent. The drain therefore owns its transactions (it commits after
the claim and after the settle), unlike other services, which only flush.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import wraps

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import events
from backend.accounts.models import User
from backend.database import utcnow
from backend.errors import Invalid, NotFound
from backend.extensions import db
from backend.i18n import localize
from backend.notifications import gateway as gateways
from backend.notifications import templates
from backend.notifications.models import (
    Device,
    Notification,
    NotificationPreference,
    PushDelivery,
    WorkWatch,
)
from backend.quality import floors
from backend.schemas import decode_cursor, encode_cursor
from backend.skills import services as skills
from backend.skills.models import WorkerSkill

log = logging.getLogger(__name__)

CATEGORIES = templates.CATEGORIES
MAX_DEVICES_PER_USER = 10
CLAIM_LEASE = dt.timedelta(minutes=15)  # far above the longest drain round (bounded HTTP timeouts)
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0
MAX_ATTEMPTS = 30  # about 17 hours of retries (13–22 with jitter), then a push is given up; the feed keeps it
MAX_ROUNDS = 10  # claim → send → settle rounds per drain run
EXPIRY_NOTICE_DAYS = (7, 30)
DRY_SPELL = dt.timedelta(hours=2)  # open work must have been away this long to announce its return
FEED_KEEP = dt.timedelta(days=180)
DELIVERY_KEEP = dt.timedelta(days=30)
DEVICE_IDLE_LIMIT = dt.timedelta(days=270)  # FCM lets tokens of apps idle that long expire
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_UNSET = object()


# ====================================================================== feed
def notify(user_id: int, kind: str, params: dict | None = None, data: dict | None = None, *,
           dedupe_key: str | None = None) -> Notification | None:
    """Put a notification in the worker's feed and queue its pushes (in the caller's transaction).

    `dedupe_key` makes it idempotent per worker (scheduled checks, replayed events): a second call
    with the same key does nothing and returns None. A deleted or unknown user gets nothing.
    """
    template = templates.TEMPLATES[kind]
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return None
    if dedupe_key is not None and db.session.execute(
        sa.select(Notification.id).where(Notification.user_id == user_id,
                                         Notification.dedupe_key == dedupe_key)
    ).first():
        return None
    title, body = templates.render(kind, params)
    note = Notification(user_id=user_id, category=template.category, kind=kind, title=title, body=body,
                        data={str(k): str(v) for k, v in (data or {}).items()}, dedupe_key=dedupe_key,
                        created_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(note)
    except IntegrityError:  # the same dedupe key, written by a concurrent transaction
        return None
    _queue_pushes(note, user, template)
    return note


def _queue_pushes(note: Notification, user: User, template: templates.Template) -> int:
    pref = db.session.get(NotificationPreference, user.id)
    if not _category_on(pref, template.category):
        return 0
    devices = list(db.session.execute(sa.select(Device.id).where(Device.user_id == user.id)).scalars())
    if not devices:
        return 0
    now = utcnow()
    not_before = now if template.urgent else (_quiet_until(pref, user.timezone, now) or now)
    for device_id in devices:
        db.session.add(PushDelivery(notification_id=note.id, device_id=device_id, status="pending",
                                    attempts=0, next_attempt_at=not_before, created_at=now))
    db.session.flush()
    return len(devices)


def feed(user_id: int, *, cursor: str | None = None, limit: int = 20, unread_only: bool = False) -> dict:
    """The worker's feed, newest first: {items, next_cursor, unread_count}."""
    stmt = sa.select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Notification.id < after)
    rows = list(db.session.execute(stmt.order_by(Notification.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    unread = db.session.execute(
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    ).scalar_one()
    return {"items": rows, "next_cursor": encode_cursor(rows[-1].id) if more else None,
            "unread_count": unread}


def mark_read(user_id: int, notification_id: int) -> Notification:
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        raise NotFound("No such notification.", slug="notification-not-found")
    if note.read_at is None:
        note.read_at = utcnow()
        db.session.flush()
    return note


def mark_all_read(user_id: int) -> int:
    return db.session.execute(
        sa.update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    ).rowcount


# ====================================================================== devices
def register_device(user_id: int, token: str, platform: str) -> tuple[Device, bool]:
    """Register a phone's FCM token; returns (device, created).

    The same token twice is one device (its platform and last-seen time are refreshed). A token
    registered by another user moves to this one: that user's pending pushes to it are cancelled
    and they get a security notice in their feed.
    """
    token = token.strip()
    now = utcnow()
    device = _device_by_token(token)
    created = False
    if device is None:
        try:
            with db.session.begin_nested():
                device = Device(user_id=user_id, token=token, platform=platform, created_at=now,
                                last_seen_at=now)
                db.session.add(device)
            created = True
        except IntegrityError:  # registered concurrently: treat it as the existing device
            device = _device_by_token(token)
            if device is None:
                raise
    if device.user_id != user_id:
        previous = device.user_id
        _cancel_pending(device_ids=[device.id], reason="device moved to another account")
        device.user_id = user_id
        device.created_at = now
        created = True
        db.session.flush()
        notify(previous, "security.device_moved", {"platform": _platform_name(device.platform)},
               {"screen": "devices"})
    device.platform = platform
    device.last_seen_at = now
    db.session.flush()
    _cap_devices(user_id)
    return device, created


def _platform_name(platform: str) -> dict:
    names = {"android": "Android", "ios": "iOS", "web": {"ko": "웹", "en": "web"}}
    return names.get(platform, platform)


def _device_by_token(token: str) -> Device | None:
    return db.session.execute(sa.select(Device).where(Device.token == token)).scalar_one_or_none()


def _cap_devices(user_id: int) -> None:
    """Keep the most recently seen devices of a worker; forget the oldest beyond the cap."""
    ids = list(db.session.execute(
        sa.select(Device.id).where(Device.user_id == user_id)
        .order_by(Device.last_seen_at.desc(), Device.id.desc()).offset(MAX_DEVICES_PER_USER)
    ).scalars())
    if ids:
        _remove_devices(ids, reason="too many devices; the least recently seen was removed")


def unregister_device(user_id: int, token: str) -> None:
    device = _device_by_token(token.strip())
    if device is None or device.user_id != user_id:
        raise NotFound("No such device.", slug="device-not-found")
    _remove_devices([device.id], reason="device unregistered")


def list_devices(user_id: int) -> list[Device]:
    return list(db.session.execute(
        sa.select(Device).where(Device.user_id == user_id).order_by(Device.last_seen_at.desc())
    ).scalars())


def _cancel_pending(*, device_ids: list[int], reason: str) -> int:
    return db.session.execute(
        sa.update(PushDelivery).where(PushDelivery.device_id.in_(device_ids),
                                      PushDelivery.status == "pending")
        .values(status="cancelled", last_error=reason[:300])
    ).rowcount


def _remove_devices(device_ids: list[int], *, reason: str) -> None:
    _cancel_pending(device_ids=device_ids, reason=reason)
    db.session.execute(sa.delete(Device).where(Device.id.in_(device_ids)))
    db.session.expire_all()


# ====================================================================== preferences
def _category_on(pref: NotificationPreference | None, category: str) -> bool:
    if category in templates.MANDATORY_CATEGORIES or pref is None:
        return True
    return bool((pref.categories or {}).get(category, True))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def quiet_hours_end(now: dt.datetime, tz_name: str | None, start: str, end: str) -> dt.datetime | None:
    """When `now` falls in the quiet hours start–end (local "HH:MM", may span midnight) of the
    timezone, the UTC moment they end; otherwise None."""
    tz = templates.zone(tz_name)
    local = now.astimezone(tz)
    s, e, m = _minutes(start), _minutes(end), local.hour * 60 + local.minute
    if s == e:
        return None
    if s < e:
        inside, end_day = s <= m < e, local.date()
    else:  # spans midnight, e.g. 22:00–07:00
        inside = m >= s or m < e
        end_day = local.date() + dt.timedelta(days=1) if m >= s else local.date()
    if not inside:
        return None
    until = dt.datetime.combine(end_day, dt.time(e // 60, e % 60), tzinfo=tz).astimezone(dt.UTC)
    return until if until > now else None


def _quiet_until(pref: NotificationPreference | None, tz_name: str | None, now: dt.datetime):
    if pref is None or not pref.quiet_start or not pref.quiet_end:
        return None
    return quiet_hours_end(now, tz_name, pref.quiet_start, pref.quiet_end)


def preferences(user_id: int) -> dict:
    pref = db.session.get(NotificationPreference, user_id)
    user = db.session.get(User, user_id)
    categories = {name: _category_on(pref, name) for name in CATEGORIES}
    quiet = ({"start": pref.quiet_start, "end": pref.quiet_end}
             if pref is not None and pref.quiet_start and pref.quiet_end else None)
    return {"categories": categories, "quiet_hours": quiet,
            "timezone": user.timezone if user else templates.DEFAULT_TIMEZONE}


def update_preferences(user_id: int, *, categories: dict | None = None, quiet_hours=_UNSET) -> dict:
    """Switch categories on or off (names not given keep their value) and set or clear
    (`quiet_hours=None`) the quiet hours."""
    categories = categories or {}
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise Invalid(f"categories: unknown {', '.join(unknown)}; known: {', '.join(CATEGORIES)}.",
                      errors={f"categories.{name}": ["Unknown category."] for name in unknown})
    if quiet_hours is not _UNSET and quiet_hours is not None:
        for part in ("start", "end"):
            if not _HHMM.match(str(quiet_hours.get(part) or "")):
                raise Invalid.field(f"quiet_hours.{part}", 'Must be a time "HH:MM" (00:00–23:59).')
        if quiet_hours["start"] == quiet_hours["end"]:
            raise Invalid.field("quiet_hours.end", "Must differ from the start.")
    pref = db.session.get(NotificationPreference, user_id)
    if pref is None:
        try:
            with db.session.begin_nested():
                pref = NotificationPreference(user_id=user_id, categories={})
                db.session.add(pref)
        except IntegrityError:  # created by a concurrent request
            pref = db.session.get(NotificationPreference, user_id)
    pref.categories = {**(pref.categories or {}), **{k: bool(v) for k, v in categories.items()}}
    if quiet_hours is not _UNSET:
        pref.quiet_start = quiet_hours["start"] if quiet_hours else None
        pref.quiet_end = quiet_hours["end"] if quiet_hours else None
    pref.updated_at = utcnow()
    db.session.flush()
    return preferences(user_id)


# ====================================================================== the outbox drain
@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    device_id: int
    push: gateways.Push


def push_gateway() -> gateways.PushGateway:
    """The app's gateway, made once from its config (FCM with credentials, else the log)."""
    gateway = current_app.extensions.get("labelpath_push_gateway")
    if gateway is None:
        gateway = current_app.extensions["labelpath_push_gateway"] = gateways.from_config(current_app.config)
    return gateway


def backoff_delay(attempts: int, retry_after: float | None = None, rng=random) -> dt.timedelta:
    """Exponential backoff with jitter: 30 s, 1 min, 2 min … capped at an hour, each drawn from
    the upper half of its step, and never sooner than FCM's Retry-After."""
    step = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    delay = rng.uniform(step / 2, step)
    if retry_after:
        delay = max(delay, min(float(retry_after), BACKOFF_CAP_S))
    return dt.timedelta(seconds=delay)


def drain_outbox(*, batch_size: int | None = None, max_rounds: int = MAX_ROUNDS) -> dict:
    """Send due pushes (scheduled every few seconds). Returns counts by outcome."""
    gateway = push_gateway()
    size = max(1, min(batch_size or gateway.batch_size, gateways.FCM_MAX_BATCH))
    totals: Counter = Counter()
    for _ in range(max_rounds):
        claim_id = str(uuid.uuid4())
        picked, claimed = _claim(claim_id, size, totals)
        db.session.commit()
        if claimed:
            try:
                results = gateway.send([c.push for c in claimed])
            except Exception:  # a gateway bug: keep the pushes, try again later
                log.exception("push gateway %s failed", gateway.name)
                results = [gateways.PushResult("retry", error="gateway error")] * len(claimed)
            _settle(claim_id, claimed, results, totals)
            db.session.commit()
        if picked < size:
            break
    return dict(totals)


def due_deliveries_statement(now: dt.datetime, size: int):
    """Due deliveries with what a push needs, oldest first, locked for this drain.

    PostgreSQL: `FOR UPDATE OF push_deliveries SKIP LOCKED` — a second drain skips the rows this
    one is claiming instead of waiting for them. SQLite ignores the clause; there the drain's
    write transaction (`BEGIN IMMEDIATE`) serialises claims.
    """
    due = sa.or_(
        sa.and_(PushDelivery.status == "pending", PushDelivery.next_attempt_at <= now),
        sa.and_(PushDelivery.status == "sending", PushDelivery.claimed_at < now - CLAIM_LEASE),
    )
    return (
        sa.select(PushDelivery, Notification, User, Device)
        .join(Notification, Notification.id == PushDelivery.notification_id)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Device, Device.id == PushDelivery.device_id)
        .where(due)
        .order_by(PushDelivery.next_attempt_at, PushDelivery.id)
        .limit(size)
        .with_for_update(of=PushDelivery, skip_locked=True)
    )


def _claim(claim_id: str, size: int, totals: Counter) -> tuple[int, list[_Claimed]]:
    now = utcnow()
    rows = db.session.execute(due_deliveries_statement(now, size)).all()
    if not rows:
        return 0, []
    user_ids = {note.user_id for _, note, _, _ in rows}
    prefs = {p.user_id: p for p in db.session.execute(
        sa.select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))).scalars()}
    claimed: list[_Claimed] = []
    for delivery, note, user, device in rows:
        if delivery.status == "sending":
            log.warning("push delivery %s: taking over a claim from %s (a drain stopped; FCM may already "
                        "have it)", delivery.id, delivery.claimed_at)
        pref = prefs.get(user.id)
        template = templates.TEMPLATES.get(note.kind)
        urgent = bool(template and template.urgent)
        reason = None
        if device is None:
            reason = "device removed"
        elif device.user_id != note.user_id:
            reason = "device moved to another account"
        elif user.deleted_at is not None:
            reason = "account deleted"
        elif not _category_on(pref, note.category):
            reason = f"category {note.category} switched off"
        if reason:
            delivery.status, delivery.last_error, delivery.claim_id = "cancelled", reason, None
            totals["cancelled"] += 1
            continue
        quiet_end = None if urgent else _quiet_until(pref, user.timezone, now)
        if quiet_end is not None:
            delivery.status, delivery.next_attempt_at, delivery.claim_id = "pending", quiet_end, None
            totals["deferred"] += 1
            continue
        delivery.status, delivery.claim_id, delivery.claimed_at = "sending", claim_id, now
        delivery.attempts += 1
        data = {**(note.data or {}), "notification_id": str(note.id), "category": note.category}
        claimed.append(_Claimed(delivery.id, device.id, gateways.Push(
            token=device.token, platform=device.platform, title=localize(note.title, user.locale),
            body=localize(note.body, user.locale), data=data, category=note.category, urgent=urgent)))
    db.session.flush()
    return len(rows), claimed


def _settle(claim_id: str, claimed: list[_Claimed], results: list[gateways.PushResult],
            totals: Counter) -> None:
    now = utcnow()
    rows = {d.id: d for d in db.session.execute(
        sa.select(PushDelivery).where(PushDelivery.id.in_([c.delivery_id for c in claimed]),
                                      PushDelivery.claim_id == claim_id,
                                      PushDelivery.status == "sending")).scalars()}
    dead: dict[int, str] = {}
    for item, result in zip(claimed, results, strict=True):
        delivery = rows.get(item.delivery_id)
        if delivery is None:
            log.warning("push delivery %s: claim %s was taken over before its answer was recorded",
                        item.delivery_id, claim_id)
            continue
        delivery.claim_id = None
        if result.outcome == "sent":
            delivery.status, delivery.sent_at = "sent", now
            delivery.message_id, delivery.last_error = result.message_id, None
        elif result.outcome == "retry" and delivery.attempts < MAX_ATTEMPTS:
            delivery.status = "pending"
            delivery.next_attempt_at = now + backoff_delay(delivery.attempts, result.retry_after)
            delivery.last_error = (result.error or "retry")[:300]
        elif result.outcome == "retry":
            delivery.status = "failed"
            delivery.last_error = f"gave up after {delivery.attempts} attempts: {result.error}"[:300]
            log.warning("push delivery %s given up: %s", delivery.id, delivery.last_error)
        else:  # invalid_token | rejected
            delivery.status, delivery.last_error = "failed", (result.error or result.outcome)[:300]
            if result.outcome == "invalid_token":
                dead[item.device_id] = item.push.token
        totals[result.outcome] += 1
    db.session.flush()
    if dead:
        # Only the device that still has the token FCM refused (it may have been re-registered).
        ids = list(db.session.execute(
            sa.select(Device.id).where(Device.id.in_(dead), Device.token.in_(dead.values()))).scalars())
        if ids:
            log.info("push: removing %d dead FCM token(s)", len(ids))
            _remove_devices(ids, reason="token no longer valid at FCM")
            totals["tokens_removed"] += len(ids)


def outbox_counts() -> dict:
    """Deliveries by status (operations, tests)."""
    return dict(db.session.execute(
        sa.select(PushDelivery.status, sa.func.count()).group_by(PushDelivery.status)).all())


# ====================================================================== scheduled checks
def remind_expiring_certificates() -> int:
    """Daily: a reminder 30 and 7 days before a certificate expires (once each, per certificate)."""
    from quizzes import services as quizzes

    now = utcnow()
    longest = max(EXPIRY_NOTICE_DAYS)
    sent = 0
    for cert in quizzes.certificates_expiring_between(now, now + dt.timedelta(days=longest)):
        expires_at = cert["expires_at"]
        left = expires_at - now
        if left <= dt.timedelta(0):
            continue
        notices = [days for days in EXPIRY_NOTICE_DAYS if left <= dt.timedelta(days=days)]
        if not notices:
            continue
        notice = min(notices)
        user = db.session.get(User, cert["user_id"])
        if user is None:
            continue
        days_left = max(1, math.ceil(left / dt.timedelta(days=1)))
        note = notify(cert["user_id"], "reminders.certificate_expiring",
                      {"skill": _skill_name(cert["skill"]), "level": cert["level"], "code": cert["code"],
                       "days": days_left, "expires": templates.local_date(expires_at, user.timezone)},
                      {"screen": "certificate", "code": cert["code"]},
                      dedupe_key=f"cert-expiring:{cert['code']}:{notice}")
        sent += note is not None
    return sent


def announce_new_work() -> int:
    """Every few minutes: tell a worker when open work in one of their skills is back after a
    dry spell (at most one such notice per worker per skill per local day).

    Eligibility is what leasing applies: a certified level (≥ 1) in the skill at least the
    project's difficulty, sensitive projects only for workers who opted in to them, and no
    project the worker is paused on.
    """
    from backend.microtasks import services as microtasks

    now = utcnow()
    open_work = {skill: [p for p in projects if int(p.get("open_slots") or 0) > 0]
                 for skill, projects in (microtasks.open_work_by_skill() or {}).items()}
    opted_in: dict[int, bool] = {}

    def sensitive_ok(user_id: int) -> bool:
        if user_id not in opted_in:
            opted_in[user_id] = bool(microtasks.work_preferences_of(user_id).get("sensitive_content"))
        return opted_in[user_id]

    announced = 0
    watched_skills = set(db.session.execute(sa.select(WorkWatch.skill_code).distinct()).scalars())
    for skill in sorted(set(open_work) | watched_skills):
        announced += _check_skill_work(skill, open_work.get(skill) or [], now, sensitive_ok)
    return announced


def _open_slots_for(level: int, projects: list[dict], user_id: int, sensitive_ok, paused: set[int]) -> int:
    mine = [p for p in projects if int(p["difficulty"]) <= level and p["project_id"] not in paused]
    slots = sum(int(p["open_slots"]) for p in mine if not p.get("sensitive_content"))
    sensitive = sum(int(p["open_slots"]) for p in mine if p.get("sensitive_content"))
    if sensitive and sensitive_ok(user_id):
        slots += sensitive
    return slots


def _check_skill_work(skill: str, projects: list[dict], now: dt.datetime, sensitive_ok) -> int:
    watches = {w.user_id: w for w in db.session.execute(
        sa.select(WorkWatch).where(WorkWatch.skill_code == skill)).scalars()}
    eligible: dict[int, tuple[int, str]] = {}  # user_id -> (open slots for them, timezone)
    if projects:
        paused = floors.paused_workers(p["project_id"] for p in projects)  # as leasing: not there
        lowest = max(1, min(int(p["difficulty"]) for p in projects))
        for user_id, level, tz in db.session.execute(
            sa.select(User.id, WorkerSkill.level, User.timezone)
            .join(WorkerSkill, WorkerSkill.user_id == User.id)
            .where(WorkerSkill.skill_code == skill, WorkerSkill.level >= lowest,
                   User.role == "worker", User.deleted_at.is_(None))
        ).all():
            slots = _open_slots_for(level, projects, user_id, sensitive_ok, paused.get(user_id, set()))
            if slots:
                eligible[user_id] = (slots, tz)
    announced = 0
    for user_id, (slots, tz) in eligible.items():
        watch = watches.get(user_id)
        if watch is not None and watch.has_work:
            continue
        if watch is None:  # never had work in this skill: the dry spell is all the time before
            watch = WorkWatch(user_id=user_id, skill_code=skill)
            db.session.add(watch)
            dry = True
        else:
            dry = watch.changed_at <= now - DRY_SPELL
        watch.has_work, watch.changed_at = True, now
        if dry:
            day = now.astimezone(templates.zone(tz)).date().isoformat()
            note = notify(user_id, "tasks.available", {"skill": _skill_name(skill), "slots": slots},
                          {"screen": "projects", "skill": skill}, dedupe_key=f"new-work:{skill}:{day}")
            announced += note is not None
    for user_id, watch in watches.items():
        if watch.has_work and user_id not in eligible:
            watch.has_work, watch.changed_at = False, now
    db.session.flush()
    return announced


def purge_old() -> dict:
    """Daily: forget old feed entries and settled pushes, and devices idle for 270 days."""
    now = utcnow()
    feed_rows = db.session.execute(
        sa.delete(Notification).where(Notification.created_at < now - FEED_KEEP)).rowcount
    deliveries = db.session.execute(
        sa.delete(PushDelivery).where(PushDelivery.status.in_(("sent", "failed", "cancelled")),
                                      PushDelivery.created_at < now - DELIVERY_KEEP)).rowcount
    idle = list(db.session.execute(
        sa.select(Device.id).where(Device.last_seen_at < now - DEVICE_IDLE_LIMIT)).scalars())
    if idle:
        _remove_devices(idle, reason="device idle too long")
    return {"notifications": feed_rows, "deliveries": deliveries, "devices": len(idle)}


# ====================================================================== event handlers
def _skill_name(code: str):
    try:
        return skills.get_skill(code).name
    except NotFound:
        return code


def _as_datetime(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _timezone_of(user_id: int) -> str | None:
    user = db.session.get(User, user_id)
    return user.timezone if user else None


def _guarded(handler):
    """A notification never breaks what caused it: a failing handler is rolled back to a
    savepoint and logged, and the sender's transaction goes on."""

    @wraps(handler)
    def run(_sender=None, **kwargs):
        try:
            with db.session.begin_nested():
                handler(**kwargs)
        except Exception:
            log.exception("notification handler %s failed for %s", handler.__name__, kwargs)

    return run


@_guarded
def on_course_completed(*, user_id: int, slug: str, skill: str, level: int, **_):
    notify(user_id, "training.exam_open", {"skill": _skill_name(skill), "level": level},
           # the exams list, narrowed to the exam that requires this course (GET /exams → requires.course)
           {"screen": "exams", "skill": skill, "level": level, "course": slug},
           dedupe_key=f"course-completed:{slug}")


@_guarded
def on_certificate_issued(*, user_id: int, skill: str, level: int, code: str, expires_at, **_):
    expires = _as_datetime(expires_at)
    notify(user_id, "certification.passed",
           {"skill": _skill_name(skill), "level": level, "code": code,
            "expires": templates.local_date(expires, _timezone_of(user_id)) if expires else ""},
           {"screen": "certificate", "code": code}, dedupe_key=f"certificate:{code}")


@_guarded
def on_exam_failed(*, user_id: int, exam_id, retake_at=None, attempt_id=None, **_):
    retake = _as_datetime(retake_at)
    kind = "certification.failed" if retake else "certification.failed_final"
    params = {"retake": templates.local_time(retake, _timezone_of(user_id))} if retake else {}
    notify(user_id, kind, params, {"screen": "exam", "id": exam_id},
           dedupe_key=f"exam-failed:{attempt_id}" if attempt_id is not None else None)


@_guarded
def on_level_changed(*, user_id: int, skill: str, old_level: int, new_level: int, reason: str = "",
                     source: str = "", **_):
    if new_level == old_level:
        return
    if source == "certificate" and new_level > old_level:
        return  # the certificate notice already says so: one message per passed exam
    params = {"skill": _skill_name(skill), "old_level": old_level, "new_level": new_level,
              "reason": reason or ""}
    if new_level > old_level:
        kind = "levels.up"
    elif source == "lapse":
        kind = "levels.suspended"
    else:
        kind = "levels.down"
    notify(user_id, kind, params, {"screen": "skill", "skill": skill})


NO_REASON = {"ko": "사유가 적혀 있지 않아요", "en": "no reason given"}


@_guarded
def on_submission_reviewed(*, submission_id, user_id: int, decision: str, reason: str | None = None,
                           final=None, appeal: bool = False, **_):
    link = {"screen": "submission", "id": submission_id}
    if appeal:  # the worker asked: they hear the answer either way
        kind = "tasks.appeal_overturned" if decision == "approved" else "tasks.appeal_upheld"
        notify(user_id, kind, {"reason": reason or NO_REASON}, link, dedupe_key=f"appeal:{submission_id}")
        return
    if decision != "rejected":
        return
    notify(user_id, "tasks.rejected", {"reason": reason or NO_REASON}, link,
           dedupe_key=f"rejected:{submission_id}:{'final' if final else 'review'}")


@_guarded
def on_pause_changed(*, pause_id: int, user_id: int, project_id: int, status: str, reason=None,
                     actor_id=None, **_):
    """A quality pause starts (the worker reads why and the way back), or a manager lifts it (a
    lift the worker earned by retraining is answered in the app, right where they retrained)."""
    from backend.microtasks import services as microtasks

    if status == "lifted" and actor_id is None:
        return
    project = {"project": microtasks.get_project(project_id).title}
    link = {"screen": "pause", "id": pause_id}
    if status == "paused":
        notify(user_id, "tasks.paused", {**project, "reason": reason or NO_REASON}, link,
               dedupe_key=f"pause:{pause_id}")
    elif status == "lifted":
        notify(user_id, "tasks.resumed", project, link, dedupe_key=f"pause-lifted:{pause_id}")


# Payout statuses (backend/payouts) a worker hears about; the others are steps on the way.
PAYOUT_KINDS = {"paid": "payouts.paid", "failed": "payouts.failed", "bank_failed": "payouts.failed"}


@_guarded
def on_payout_changed(*, payout_id, user_id: int, status: str, amount=None, currency=None,
                      failure_reason=None, **_):
    kind = PAYOUT_KINDS.get(status)
    if kind is None:
        return
    params = {"amount": templates.money(int(amount or 0), currency or current_app.config["CURRENCY"]),
              "reason": failure_reason or {"ko": "사유 미상", "en": "reason unknown"}}
    notify(user_id, kind, params, {"screen": "payout", "id": payout_id},
           dedupe_key=f"payout:{payout_id}:{status}")


# ====================================================================== personal data
def export_personal_data(user_id: int) -> dict:
    """What notifications hold about a worker (the personal-data export)."""
    notes = db.session.execute(
        sa.select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)).scalars()
    prefs = preferences(user_id)
    return {
        "devices": [{"token": d.token, "platform": d.platform, "created_at": d.created_at,
                     "last_seen_at": d.last_seen_at} for d in list_devices(user_id)],
        "preferences": {"categories": prefs["categories"], "quiet_hours": prefs["quiet_hours"]},
        "feed": [{"id": n.id, "kind": n.kind, "category": n.category, "title": n.title, "body": n.body,
                  "data": n.data, "created_at": n.created_at, "read_at": n.read_at} for n in notes],
    }


def erase_personal_data(user_id: int) -> None:
    """Account deletion: the worker's devices, feed (with its pushes) and preferences go."""
    device_ids = list(db.session.execute(sa.select(Device.id).where(Device.user_id == user_id)).scalars())
    if device_ids:
        _remove_devices(device_ids, reason="account deleted")
    db.session.execute(sa.delete(Notification).where(Notification.user_id == user_id))
    db.session.execute(sa.delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
    db.session.execute(sa.delete(WorkWatch).where(WorkWatch.user_id == user_id))
    db.session.expire_all()


def connect_handlers() -> None:
    """Subscribe to the domain events (called once by create_app); also declares what this
    domain holds for the personal-data export and account deletion."""
    from backend import privacy

    privacy.register(privacy.DataSection("notifications", export_personal_data, erase_personal_data))
    events.course_completed.connect(on_course_completed)
    events.certificate_issued.connect(on_certificate_issued)
    events.exam_failed.connect(on_exam_failed)
    events.level_changed.connect(on_level_changed)
    events.submission_reviewed.connect(on_submission_reviewed)
    events.payout_changed.connect(on_payout_changed)
    events.pause_changed.connect(on_pause_changed)
