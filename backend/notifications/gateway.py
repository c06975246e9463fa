"""Push delivery behind one interface: FCM through firebase-admin, or the log without credentials.

Plain values in (`Push`), plain values out (`PushResult`, one per push, in order). A gateway never
raises for an answer FCM can give: it sorts each answer into an outcome the outbox acts on —

* ``sent``: FCM accepted the message (``message_id`` is FCM's name for it);
* ``retry``: try again later (UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED with its Retry-After, a
  timeout, a dropped or refused connection, the OAuth endpoint away, a credential problem);
* ``invalid_token``: the token is dead (UNREGISTERED, an INVALID_ARGUMENT about the registration
  token, SENDER_ID_MISMATCH): the outbox removes it;
* ``rejected``: FCM refused this message itself (an INVALID_ARGUMENT not about the token); sending
  it again would fail the same way.

Delivery is **at least once**: FCM has no idempotency key, so a message FCM accepted can only be
sent again if the process dies between FCM's answer and the commit that records it (or a
connection drops after FCM accepted the request and before its answer arrived). A recorded
success is never re-sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

FCM_MAX_BATCH = 500  # messaging.send_each refuses more
DEFAULT_BATCH = 100  # send_each starts one thread per message (TRAPS.md): keep batches modest
DEFAULT_HTTP_TIMEOUT_S = 5.0  # firebase-admin's default is 120 s
GOOGLE_FCM_PREFIX = "https://fcm.googleapis.com"


@dataclass(frozen=True)
class Push:
    token: str
    platform: str  # android | ios | web
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)  # deep link; FCM data values are strings
    category: str = "general"
    urgent: bool = False


@dataclass(frozen=True)
class PushResult:
    outcome: str  # sent | retry | invalid_token | rejected
    message_id: str | None = None
    error: str | None = None  # FCM's error code, or a short description
    retry_after: float | None = None  # seconds FCM asked us to wait (429 Retry-After)


class PushGateway(Protocol):
    name: str
    batch_size: int

    def send(self, pushes: Sequence[Push]) -> list[PushResult]: ...


class LogGateway:
    """No Firebase credentials: every push goes to the log (the feed row exists anyway)."""

    name = "log"
    batch_size = FCM_MAX_BATCH

    def send(self, pushes: Sequence[Push]) -> list[PushResult]:
        for push in pushes:
            log.info("push (log only, no Firebase credentials) to %s device …%s [%s]: %s — %s %s",
                     push.platform, push.token[-6:], push.category, push.title, push.body, push.data)
        return [PushResult("sent", message_id=None) for _ in pushes]


# One firebase_admin.App per distinct configuration, for the life of the process.
_apps: dict[str, object] = {}
_apps_lock = threading.Lock()


def _load_credentials(source: str):
    """A service-account key: a file path, or the JSON itself (handy in containers)."""
    from firebase_admin import credentials

    text = source.strip()
    return credentials.Certificate(json.loads(text) if text.startswith("{") else text)


def _drain_retry_policy(batch_size: int):
    """How the SDK's HTTP session retries inside one drain: never long.

    The SDK's own policy retries 500/503 four times with sleeps and honours Retry-After on 429/503
    (sleeping up to hours). Inside a drain we keep its single retry of a refused connection and of
    a read error (a keep-alive connection FCM closed; a resend after a lost answer is the
    at-least-once case either way) and retry a 500/503 once, all without sleeping; a 429 comes
    back at once. The outbox retries what is left on a later drain with its own backoff.
    """
    import requests
    from urllib3.util.retry import Retry

    retry = Retry(total=3, connect=1, read=1, status=1, other=0, redirect=0,
                  status_forcelist=[500, 503], backoff_factor=0, respect_retry_after_header=False,
                  raise_on_status=False, allowed_methods=None)
    return requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, batch_size),
                                         max_retries=retry)


class FcmGateway:
    """firebase-admin's ``messaging.send_each`` with Android, APNs and web settings.

    ``api_base`` (config FCM_API_BASE) points the SDK at another FCM host — the tests' loopback
    stand-in; empty means Google, and then the SDK's FCM URL is left alone. The service account's
    own ``token_uri`` decides where OAuth goes. The one private name used in production is the
    messaging service's HTTP session (``_get_messaging_service(app)._client.session``), on which the
    drain's retry policy is mounted: firebase-admin has no public retry option.
    tests/notifications/test_push_delivery.py fails if these names move.
    """

    name = "fcm"

    def __init__(self, credentials_source: str, *, project_id: str | None = None, api_base: str = "",
                 http_timeout: float = DEFAULT_HTTP_TIMEOUT_S, batch_size: int = DEFAULT_BATCH):
        self.batch_size = max(1, min(int(batch_size), FCM_MAX_BATCH))
        self.api_base = api_base.rstrip("/")
        key = json.dumps([credentials_source, project_id, self.api_base, http_timeout, self.batch_size])
        with _apps_lock:
            app = _apps.get(key)
            if app is None:
                app = _apps[key] = self._create_app(credentials_source, project_id, http_timeout, key)
        self.app = app

    def _create_app(self, credentials_source: str, project_id: str | None, http_timeout: float, key: str):
        import firebase_admin
        from firebase_admin import messaging

        options = {"httpTimeout": http_timeout}
        if project_id:
            options["projectId"] = project_id
        name = "labelpath-fcm-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        app = firebase_admin.initialize_app(_load_credentials(credentials_source), options, name=name)
        try:
            if self.api_base:
                # The SDK formats the class attribute FCM_URL when it creates an app's messaging
                # service; point it elsewhere only around that moment (tests, FCM_API_BASE set).
                cls = messaging._MessagingService
                original = cls.FCM_URL
                cls.FCM_URL = self.api_base + "/v1/projects/{0}/messages:send"
                try:
                    service = messaging._get_messaging_service(app)
                finally:
                    cls.FCM_URL = original
                if not service._fcm_url.startswith(self.api_base + "/"):
                    raise RuntimeError("firebase-admin no longer builds its FCM URL from FCM_URL")
                prefix = self.api_base + "/"
            else:
                service = messaging._get_messaging_service(app)
                prefix = GOOGLE_FCM_PREFIX
            service._client.session.mount(prefix, _drain_retry_policy(self.batch_size))
        except Exception:
            firebase_admin.delete_app(app)
            raise
        log.info("push: FCM gateway ready for project %s%s", app.project_id,
                 f" at {self.api_base}" if self.api_base else "")
        return app

    # ---------------------------------------------------------------- messages
    @staticmethod
    def build_message(push: Push):
        from firebase_admin import messaging

        urgent = push.urgent
        # The notification id as Android tag / APNs collapse id: should FCM ever get the same
        # push twice (see the module docstring), the phone shows it once.
        collapse = push.data.get("notification_id")
        android = messaging.AndroidConfig(
            priority="high" if urgent else "normal",
            notification=messaging.AndroidNotification(channel_id=push.category, tag=collapse),
        )
        apns_headers = {"apns-priority": "10" if urgent else "5", "apns-push-type": "alert"}
        if collapse:
            apns_headers["apns-collapse-id"] = f"n{collapse}"
        apns = messaging.APNSConfig(
            headers=apns_headers,
            payload=messaging.APNSPayload(aps=messaging.Aps(sound="default", thread_id=push.category)),
        )
        webpush = messaging.WebpushConfig(headers={"Urgency": "high" if urgent else "normal"})
        # Phones give us FCM *registration tokens*, which FCM v1 takes in `token`. firebase-admin
        # 7.7 marks Message.token deprecated in favour of `fid` (Firebase installation IDs, another
        # identifier) and silences the same warning itself in send_each_for_multicast.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return messaging.Message(
                token=push.token,
                notification=messaging.Notification(title=push.title, body=push.body),
                data={str(k): str(v) for k, v in push.data.items()},
                android=android, apns=apns, webpush=webpush,
            )

    def send(self, pushes: Sequence[Push]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(pushes), self.batch_size):
            results.extend(self._send_batch(list(pushes[start:start + self.batch_size])))
        return results

    def _send_batch(self, pushes: list[Push]) -> list[PushResult]:
        import google.auth.exceptions
        import requests
        from firebase_admin import exceptions, messaging

        if not pushes:
            return []
        try:
            messages = [self.build_message(push) for push in pushes]
            batch = messaging.send_each(messages, app=self.app)
        except ValueError as error:
            # One message the SDK refuses to encode would sink the batch: send them one by one.
            if len(pushes) == 1:
                return [PushResult("rejected", error=f"invalid message: {error}"[:300])]
            return [result for push in pushes for result in self._send_batch([push])]
        except (exceptions.FirebaseError, google.auth.exceptions.GoogleAuthError,
                requests.RequestException) as error:
            # The whole batch failed before FCM answered per message (OAuth endpoint away, …).
            code = getattr(error, "code", None) or type(error).__name__
            log.warning("push: FCM batch of %d failed as a whole (%s): %s", len(pushes), code, error)
            return [PushResult("retry", error=str(code)) for _ in pushes]
        return [self._result(response) for response in batch.responses]

    @staticmethod
    def _result(response) -> PushResult:
        if response.success:
            return PushResult("sent", message_id=response.message_id)
        return classify(response.exception)


def _error_body(error) -> dict:
    response = getattr(error, "http_response", None)
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body.get("error", {}) if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}


def _about_the_token(error) -> bool:
    """An INVALID_ARGUMENT names the registration token as the bad field (or says so)."""
    body = _error_body(error)
    for detail in body.get("details") or []:
        for violation in (detail or {}).get("fieldViolations") or []:
            if violation.get("field") in ("message.token", "message.fid"):
                return True
    return "registration token" in str(body.get("message") or error).lower()


def _retry_after(error) -> float | None:
    response = getattr(error, "http_response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def classify(error) -> PushResult:
    """Sort one FCM error into what the outbox does next."""
    from firebase_admin import exceptions, messaging

    code = getattr(error, "code", None) or type(error).__name__
    if isinstance(error, messaging.UnregisteredError):
        return PushResult("invalid_token", error="UNREGISTERED")
    if isinstance(error, messaging.SenderIdMismatchError):
        return PushResult("invalid_token", error="SENDER_ID_MISMATCH")
    if isinstance(error, exceptions.InvalidArgumentError):
        if _about_the_token(error):
            return PushResult("invalid_token", error="INVALID_ARGUMENT")
        return PushResult("rejected", error=f"INVALID_ARGUMENT: {error}"[:300])
    if isinstance(error, messaging.QuotaExceededError):
        return PushResult("retry", error="QUOTA_EXCEEDED", retry_after=_retry_after(error))
    if isinstance(error, (exceptions.UnavailableError, exceptions.InternalError,
                          exceptions.DeadlineExceededError, exceptions.ResourceExhaustedError,
                          exceptions.UnknownError)):
        return PushResult("retry", error=str(code), retry_after=_retry_after(error))
    # Credentials, APNs/web-push auth, permissions: a configuration problem on our side. Keep the
    # message (the outbox backs off and gives up only after many attempts) and say so loudly.
    log.error("push: FCM refused with %s: %s", code, error)
    return PushResult("retry", error=str(code))


def from_config(config) -> PushGateway:
    """FcmGateway when Firebase credentials are configured, else LogGateway."""
    source = config.get("FIREBASE_CREDENTIALS") or ""
    if not source:
        return LogGateway()
    return FcmGateway(source, project_id=config.get("FCM_PROJECT_ID") or None,
                      api_base=config.get("FCM_API_BASE") or "",
                      http_timeout=float(config.get("FCM_HTTP_TIMEOUT_S") or DEFAULT_HTTP_TIMEOUT_S),
                      batch_size=int(config.get("FCM_BATCH_SIZE") or DEFAULT_BATCH))

