"""Helpers for the notification tests (fixtures are in conftest.py)."""

from __future__ import annotations

import sqlalchemy as sa

from backend.extensions import db
from backend.notifications import services
from backend.notifications.models import Notification, PushDelivery


def use_fcm(app, fcm_server, service_account_file) -> None:
    """Configure an app as production would be with FIREBASE_CREDENTIALS, FCM at the stand-in."""
    app.config.update(FIREBASE_CREDENTIALS=service_account_file, FCM_API_BASE=fcm_server.url)
    app.extensions.pop("labelpath_push_gateway", None)


class Workers:
    def __init__(self, app, client, auth):
        self.app, self.client, self.auth = app, client, auth
        self._tokens = 0

    def new(self, locale: str = "ko", timezone: str = "Asia/Seoul", devices: int = 1, platform="android"):
        account = self.auth.register(locale=locale, timezone=timezone)
        account.tokens = [self.add_device(account, platform=platform) for _ in range(devices)]
        return account

    def add_device(self, account, token: str | None = None, platform: str = "android") -> str:
        self._tokens += 1
        token = token or f"fcm-token-{account.id}-{self._tokens}:APA91b{'x' * 20}"
        response = self.client.post("/api/v1/me/devices", json={"token": token, "platform": platform},
                                    headers=account.headers)
        assert response.status_code in (200, 201), response.get_json()
        return token



def drain(app, **kwargs) -> dict:
    with app.app_context():
        return services.drain_outbox(**kwargs)


def deliveries(app, user_id: int | None = None) -> list[PushDelivery]:
    with app.app_context():
        stmt = sa.select(PushDelivery).order_by(PushDelivery.id)
        if user_id is not None:
            stmt = stmt.join(Notification).where(Notification.user_id == user_id)
        rows = list(db.session.execute(stmt).scalars())
        db.session.expunge_all()
        return rows


def feed_rows(app, user_id: int) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.execute(
            sa.select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)).scalars())
        db.session.expunge_all()
        return rows


def notify(app, user_id: int, kind: str = "welcome", params=None, data=None, **kwargs):
    with app.app_context():
        note = services.notify(user_id, kind, params, data, **kwargs)
        db.session.commit()
        return note.id if note is not None else None
