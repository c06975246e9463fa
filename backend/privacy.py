"""Personal data (PIPA / GDPR): a worker exports everything we hold about them, or deletes the account.

Each domain registers an exporter (user_id → JSON-able dict) and, where it holds personal data,
an eraser (user_id → None). Deletion anonymises personal fields; the ledger and submitted work
stay for accounting and datasets, no longer linked to a name or an email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.accounts import services as accounts
from backend.database import utcnow
from backend.errors import Unauthorized


@dataclass(frozen=True)
class DataSection:
    name: str
    export: Callable[[int], object]
    erase: Callable[[int], None] | None = None


_SECTIONS: dict[str, DataSection] = {}


def register(section: DataSection) -> None:
    _SECTIONS[section.name] = section


def export_user_data(user_id: int) -> dict:
    return {"exported_at": utcnow(), **{name: s.export(user_id) for name, s in sorted(_SECTIONS.items())}}


def delete_account(user, password: str) -> None:
    """The worker confirms with their password; every domain erases, then the account is anonymised."""
    if not accounts.check_password(user, password):
        raise Unauthorized("The password does not match.", slug="bad-credentials")
    for section in _SECTIONS.values():
        if section.erase is not None:
            section.erase(user.id)
    accounts.anonymise(user)
