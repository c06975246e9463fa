"""Accounts: registration, passwords, access and refresh tokens, profiles.

Access tokens are short-lived JWTs (HS256, SECRET_KEY). Refresh tokens are random strings stored
as SHA-256 hashes; each refresh rotates the token inside its family, and presenting a token that
was already rotated (a stolen copy being replayed) revokes the whole family.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import events
from backend.accounts.models import ROLES, RefreshToken, User
from backend.database import utcnow
from backend.errors import Conflict, Invalid, NotFound, Unauthorized
from backend.extensions import db
from backend.i18n import LOCALES, clean_text


def normalize_email(email: str) -> str:
    return clean_text(email).lower()


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _password_matches(user: User | None, password: str) -> bool:
    hasher = _hasher()
    if user is None:
        # Same cost for unknown emails, so timing does not reveal which emails exist.
        hasher.hash(password)
        return False
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def validate_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Invalid.field("timezone", f"Unknown time zone {name!r}.") from None
    return name


def find_by_email(email: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(User.email == normalize_email(email))
    ).scalar_one_or_none()


def create_user(email: str, password: str, display_name: str, *, role: str = "worker",
                locale: str = "ko", timezone: str = "Asia/Seoul",
                password_hash: str | None = None) -> User:
    """Insert a user; a taken email is a 409 also when two registrations race."""
    if role not in ROLES:
        raise Invalid.field("role", f"Must be one of {', '.join(ROLES)}.")
    if locale not in LOCALES:
        raise Invalid.field("locale", f"Must be one of {', '.join(LOCALES)}.")
    email = normalize_email(email)
    if find_by_email(email) is not None:
        raise Conflict("An account with this email already exists.", slug="email-taken")
    user = User(email=email, password_hash=password_hash or hash_password(password),
                display_name=clean_text(display_name), role=role, locale=locale,
                timezone=validate_timezone(timezone))
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        raise Conflict("An account with this email already exists.", slug="email-taken") from None
    events.user_registered.send(user_id=user.id)
    return user


def register(email: str, password: str, display_name: str, locale: str = "ko",
             timezone: str = "Asia/Seoul") -> tuple[User, dict]:
    user = create_user(email, password, display_name, locale=locale, timezone=timezone)
    return user, issue_tokens(user)


def login(email: str, password: str) -> tuple[User, dict]:
    user = find_by_email(email)
    if user is not None and user.deleted_at is not None:
        user = None
    if not _password_matches(user, password):
        raise Unauthorized("Wrong email or password.", slug="bad-credentials")
    user.last_active_at = utcnow()
    return user, issue_tokens(user)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_tokens(user: User, family: str | None = None) -> dict:
    now = utcnow()
    cfg = current_app.config
    access_ttl = cfg["ACCESS_TOKEN_TTL_S"]
    access = jwt.encode(
        {"sub": str(user.id), "role": user.role, "iat": now, "exp": now + dt.timedelta(seconds=access_ttl),
         "typ": "access"},
        cfg["SECRET_KEY"], algorithm="HS256",
    )
    refresh = secrets.token_urlsafe(32)
    db.session.add(RefreshToken(
        user_id=user.id, family=family or str(uuid.uuid4()), token_hash=_token_hash(refresh),
        expires_at=now + dt.timedelta(seconds=cfg["REFRESH_TOKEN_TTL_S"]),
    ))
    db.session.flush()
    return {"access_token": access, "refresh_token": refresh, "expires_in": access_ttl}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: what every authenticated request needs, read without the ORM (the
    hot path's requests never load the whole User)."""

    id: int
    role: str
    locale: str


def principal_for_access_token(token: str) -> Principal:
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired; refresh it.", slug="token-expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is not valid.", slug="token-invalid") from None
    if claims.get("typ") != "access":
        raise Unauthorized("The access token is not valid.", slug="token-invalid")
    row = db.session.execute(_PRINCIPAL, {"user_id": int(claims["sub"])}).first()
    if row is None:
        raise Unauthorized("The account no longer exists.", slug="token-invalid")
    return Principal(row.id, row.role, row.locale)


_PRINCIPAL = (sa.select(User.id, User.role, User.locale)
              .where(User.id == sa.bindparam("user_id"), User.deleted_at.is_(None)))


def user_by_id(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("The account no longer exists.", slug="token-invalid")
    return user


def _revoke_family(family: str) -> None:
    db.session.execute(
        sa.update(RefreshToken).where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def refresh(refresh_token: str) -> dict:
    """Rotate a refresh token. A second use of the same token revokes the whole family."""
    row = db.session.execute(
        sa.select(RefreshToken).where(RefreshToken.token_hash == _token_hash(refresh_token))
    ).scalar_one_or_none()
    now = utcnow()
    if row is None:
        raise Unauthorized("Unknown refresh token.", slug="refresh-invalid")
    if row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("The refresh token is no longer valid; log in again.", slug="refresh-invalid")
    # Claim the token atomically so two racing refreshes cannot both rotate it.
    claimed = db.session.execute(
        sa.update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if not claimed:
        _revoke_family(row.family)
        raise Unauthorized("This refresh token was already used; the session has been ended.",
                           slug="refresh-reused", keep_changes=True)
    user = db.session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("The account no longer exists.", slug="refresh-invalid")
    return issue_tokens(user, family=row.family)


def logout(refresh_token: str) -> None:
    row = db.session.execute(
        sa.select(RefreshToken).where(RefreshToken.token_hash == _token_hash(refresh_token))
    ).scalar_one_or_none()
    if row is not None:
        _revoke_family(row.family)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("No such user.")
    return user


def update_profile(user: User, changes: dict) -> User:
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    for field in ("display_name", "locale", "timezone"):
        if field in changes:
            setattr(user, field, changes[field])
    db.session.flush()
    return user


def touch_activity(user: User) -> None:
    user.last_active_at = utcnow()


def purge_expired_refresh_tokens() -> int:
    """Scheduled: drop refresh tokens that expired more than a day ago."""
    cutoff = utcnow() - dt.timedelta(days=1)
    return db.session.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at < cutoff)).rowcount


def profile(user: User) -> dict:
    """GET /me: the account and the worker's level in every skill."""
    from backend.skills import services as skills

    return {"id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role,
            "locale": user.locale, "timezone": user.timezone, "skills": skills.worker_skills(user.id)}


def check_password(user: User, password: str) -> bool:
    return _password_matches(user, password)


def export_account(user_id: int) -> dict:
    user = get_user(user_id)
    return {"id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role,
            "locale": user.locale, "timezone": user.timezone, "created_at": user.created_at,
            "last_active_at": user.last_active_at}


def anonymise(user: User) -> None:
    """Delete an account's personal data, keep the row (ledger and work refer to it)."""
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = "삭제된 사용자"
    user.password_hash = hash_password(secrets.token_urlsafe(32))
    user.timezone = "UTC"
    user.deleted_at = utcnow()
    db.session.execute(sa.delete(RefreshToken).where(RefreshToken.user_id == user.id))
    db.session.flush()
