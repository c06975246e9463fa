"""Firebase Cloud Messaging stand-in for tests that use the REAL ``firebase-admin`` SDK (7.x).

Two endpoints, both on the stand-in's loopback port:

* ``POST /token`` -- Google's OAuth2 token endpoint (service-account JWT bearer grant):
  form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`` ->
  ``{"access_token": "ya29.standin...", "expires_in": 3600, "token_type": "Bearer"}``. The JWT's
  RS256 signature is verified against the public key of the service account made by
  :func:`make_service_account`, and ``aud`` / ``exp`` are checked; failures answer Google's
  OAuth error format (``400 {"error": "invalid_grant", "error_description": ...}``).
* ``POST /v1/projects/{project_id}/messages:send`` -- FCM HTTP v1. JSON ``{"message": {...},
  "validate_only": bool}`` with ``Authorization: Bearer <token from /token>`` ->
  ``{"name": "projects/<p>/messages/<id>"}`` (``.../messages/fake_message_id`` for
  ``validate_only``). Errors use the Google API error format, e.g. ``404 {"error": {"code": 404,
  "message": "Requested entity was not found.", "status": "NOT_FOUND", "details":
  [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode":
  "UNREGISTERED"}]}}``.

Pointing the real SDK at it (what :func:`fcm_app` does)::

    import firebase_admin
    from firebase_admin import credentials, messaging

    fcm = FcmStandIn().start()
    sa = fcm.make_service_account()          # token_uri = fcm.token_uri, project "labelpath-test"
    app = firebase_admin.initialize_app(
        credentials.Certificate(sa),         # OAuth goes to the service account's token_uri
        {"projectId": sa["project_id"], "httpTimeout": 5},   # default timeout is 120 s
        name="labelpath-fcm")
    # FCM endpoint: the class attribute is formatted with the project id when the app's
    # messaging service is created (lazily, on the first messaging call for that app), so patch
    # it around that moment; the service keeps the stand-in URL afterwards.
    original = messaging._MessagingService.FCM_URL  # 'https://fcm.googleapis.com/v1/projects/{0}/messages:send'
    messaging._MessagingService.FCM_URL = fcm.url + "/v1/projects/{0}/messages:send"
    try:
        messaging._get_messaging_service(app)       # bind now
    finally:
        messaging._MessagingService.FCM_URL = original
    messaging.send(messaging.Message(token="t1", notification=...), app=app)

SDK behaviour found in firebase-admin 7.7.0 (+ requests/urllib3 2.8, google-auth 2.63):

* Retries (``firebase_admin._http_client.DEFAULT_RETRY_CONFIG`` = urllib3 ``Retry(connect=1,
  read=1, status=4, status_forcelist=[500, 503], backoff_factor=0.5, raise_on_status=False,
  allowed_methods=None)``, mounted for every ``http://``/``https://`` URL of the session):
  500 and 503 are retried up to 4 times (5 attempts) sleeping 0 + 1 + 2 + 4 s, then the last
  answer is returned -> ``exceptions.InternalError`` / ``exceptions.UnavailableError``.
  urllib3 also honours ``Retry-After`` on 429 and 503 (``RETRY_AFTER_STATUS_CODES``): a
  QUOTA_EXCEEDED answer carrying ``Retry-After: N`` is retried up to 4 times sleeping N s each
  (capped only at 6 h), so ``QuotaExceededError`` reaches the caller after 5 attempts and
  ~4*N s -- ``httpTimeout`` does not bound those sleeps. A dropped connection or a read timeout
  counts as a read error and the POST is retried once (2 attempts): a drop after FCM accepted
  the message can deliver it twice; ``hang`` costs 2 x ``httpTimeout`` and then surfaces as
  ``exceptions.UnavailableError`` (urllib3's MaxRetryError becomes requests' ConnectionError);
  only with retries disabled does a timeout surface as ``exceptions.DeadlineExceededError``.
  :func:`sdk_like_fast_retry` is the SDK's policy with every sleep removed (same attempt
  counts); :func:`fcm_app` mounts it for the stand-in's URL by default.
* A 401 from FCM makes google-auth's ``AuthorizedSession`` fetch a new token and resend (up
  to 2 refreshes): ``third_party_auth_error`` costs 3 sends + 2 token requests.
* ``Message.token`` is deprecated in 7.7 (DeprecationWarning) in favour of ``Message.fid``
  (JSON field ``fid``); the stand-in accepts both and ``fail_token``/``messages_to`` match
  either.
* Token endpoint failures are NOT ``requests`` exceptions: ``messaging.send`` raises the raw
  ``google.auth.exceptions.RefreshError`` (invalid_grant) or ``TransportError`` (network), and
  ``send_each`` wraps them into ``firebase_admin.exceptions.UnknownError`` for the whole batch.
  google-auth retries a 5xx/429 token answer itself (3 attempts, ~1 s + 2 s backoff).
* ``send_each`` starts one thread per message (``ThreadPoolExecutor(max_workers=len(messages))``)
  and raises ``UnknownError`` for an empty list.
* Only the ``https://fcm.googleapis.com`` prefix gets the 100-connection pool; the stand-in
  URL uses requests' default pool of 10 (harmless "Connection pool is full" warnings for big
  batches).
* Nothing else reaches the network for a ``Certificate`` credential (no metadata server, no
  self-signed JWT); see ``isolate_network_env`` for the environment variables that would.

Failure control: ``fail_token(token, kind)`` (every send to that token), ``fail_next(kind,
times=1, endpoint="send"|"token"|"any", token=None)``, ``down(mode="refuse"|"drop")`` /
``up()``, ``revoke_access_tokens()``. Send kinds: ``unregistered`` (404 NOT_FOUND),
``invalid_argument`` (400), ``quota_exceeded`` (429 RESOURCE_EXHAUSTED + ``Retry-After``),
``unavailable`` (503), ``internal`` (500), ``sender_id_mismatch`` (403),
``third_party_auth_error`` (401), ``unauthenticated`` (401, no FCM detail), ``drop``, ``hang``.
Token kinds: ``invalid_grant`` (400), ``internal`` (500), ``unavailable`` (503), ``drop``,
``hang``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from . import RecordedRequest, StandInServer, _FailureQueue

__all__ = [
    "FcmStandIn",
    "make_service_account",
    "fcm_app",
    "fcm_app_context",
    "bind_messaging",
    "sdk_like_fast_retry",
]

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_SEND_SCOPES = {
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/firebase.messaging",
}

# kind -> (http status, google status, FCM errorCode or None, message)
SEND_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "invalid_argument": (
        400,
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
    ),
    "quota_exceeded": (
        429,
        "RESOURCE_EXHAUSTED",
        "QUOTA_EXCEEDED",
        "Quota exceeded for quota metric 'Send requests' and limit 'Send requests "
        "per minute' of service 'fcm.googleapis.com'.",
    ),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "internal": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    "sender_id_mismatch": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "third_party_auth_error": (
        401,
        "UNAUTHENTICATED",
        "THIRD_PARTY_AUTH_ERROR",
        "Auth error from APNS or Web Push Service",
    ),
    "unauthenticated": (
        401,
        "UNAUTHENTICATED",
        None,
        "Request had invalid authentication credentials. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
}
TOKEN_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_grant": (400, "invalid_grant", "Invalid JWT Signature."),
    "internal": (500, "internal_failure", "Internal error."),
    "unavailable": (503, "temporarily_unavailable", "The service is currently unavailable."),
}
NETWORK_KINDS = ("drop", "hang")

# kid -> public key of every service account made by make_service_account (this process)
_KEYS: dict[str, Any] = {}
_KEYS_LOCK = threading.Lock()
_FCM_URL_LOCK = threading.Lock()


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _google_error(
    status: int, google_status: str, message: str, fcm_code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if fcm_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": fcm_code})
    if field:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        )
    err: dict[str, Any] = {"code": status, "message": message, "status": google_status}
    if details:
        err["details"] = details
    return {"error": err}


# ---------------------------------------------------------------------------- service account
def make_service_account(
    token_uri: str,
    project_id: str = "labelpath-test",
    *,
    client_email: str | None = None,
    key_size: int = 2048,
) -> dict[str, Any]:
    """A throwaway service-account key file (as a dict) whose OAuth endpoint is ``token_uri``.

    The RSA key is generated here; its public half is registered so every :class:`FcmStandIn`
    in this process can verify the JWT assertions signed with it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    kid = secrets.token_hex(20)
    with _KEYS_LOCK:
        _KEYS[kid] = key.public_key()
    email = client_email or f"firebase-adminsdk-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": kid,
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)).rjust(21, "1"),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }


def _verify_rs256(kid: str | None, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    with _KEYS_LOCK:
        public_key = _KEYS.get(kid or "")
    if public_key is None:
        return False
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


class _Reject(Exception):
    def __init__(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers or {}


# ---------------------------------------------------------------------------- the stand-in
class FcmStandIn(StandInServer):
    """Loopback Google OAuth2 token endpoint + FCM HTTP v1 send endpoint.

    Inspection: ``messages`` (message dicts accepted for delivery, ``validate_only`` excluded),
    ``deliveries`` (``{"name", "message", "project_id", "validate_only"}`` for every accepted
    send), ``messages_to(token)``, ``token_grants`` (decoded JWT header/claims of every token
    request that succeeded), ``requests`` (:class:`RecordedRequest`), ``send_attempts(token)``.
    """

    def __init__(
        self,
        *,
        project_id: str = "labelpath-test",
        verify_assertions: bool = True,
        token_lifetime: int = 3600,
        quota_retry_after: int | None = 1,
        hang_seconds: float | None = None,
        port: int = 0,
    ):
        super().__init__(port=port, hang_seconds=hang_seconds)
        self.project_id = project_id
        self.project_ids = {project_id}
        self.verify_assertions = verify_assertions
        self.token_lifetime = token_lifetime
        self.quota_retry_after = quota_retry_after
        self._failures = _FailureQueue()
        self._down: str | None = None
        self._ids = itertools.count(1)
        self._reset_state()

    def _reset_state(self, tokens: bool = True) -> None:
        with self._lock:
            self._token_failures: dict[str, dict[str, Any]] = {}
            if tokens or not hasattr(self, "_access_tokens"):
                self._access_tokens: dict[str, dict[str, Any]] = {}
            self.messages: list[dict[str, Any]] = []
            self.deliveries: list[dict[str, Any]] = []
            self.token_grants: list[dict[str, Any]] = []
            self.requests = []

    def reset(self, *, tokens: bool = False) -> None:
        """Forget messages, requests and every injected failure, and come back up if down.
        Issued access tokens survive (SDK apps cache theirs for an hour) unless ``tokens=True``."""
        self._failures.clear()
        self._reset_state(tokens)
        if self._down:
            self.up()

    # ------------------------------------------------------------------ addresses
    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def fcm_url_template(self) -> str:
        """Drop-in value for ``messaging._MessagingService.FCM_URL`` (``{0}`` = project id)."""
        return f"{self.url}/v1/projects/{{0}}/messages:send"

    def make_service_account(self, project_id: str | None = None, **kw: Any) -> dict[str, Any]:
        """:func:`make_service_account` for this stand-in (token_uri set, project accepted)."""
        pid = project_id or self.project_id
        self.project_ids.add(pid)
        return make_service_account(self.token_uri, pid, **kw)

    # ------------------------------------------------------------------ control
    def fail_token(self, token: str, kind: str, *, retry_after: int | None = None) -> None:
        """Every send to ``token`` fails with ``kind`` until ``clear_token(token)``/``reset()``."""
        kind = self._check_kind(kind, "send")
        with self._lock:
            self._token_failures[token] = {"kind": kind, "retry_after": retry_after}

    def clear_token(self, token: str) -> None:
        with self._lock:
            self._token_failures.pop(token, None)

    def fail_next(
        self,
        kind: str,
        times: int | None = 1,
        *,
        endpoint: str = "send",
        token: str | None = None,
        retry_after: int | None = None,
        seconds: float | None = None,
    ) -> None:
        """The next ``times`` requests to ``endpoint`` ("send", "token" or "any"; optionally only
        sends to ``token``) fail with ``kind``. ``times=None``: until ``clear_failures()``.
        Remember the SDK retries 500/503 (and 429/503 with Retry-After) up to 4 times and drops
        /timeouts once: use ``times=5`` (or ``fail_token``) to make such an error reach the
        caller."""
        if endpoint not in ("send", "token", "any"):
            raise ValueError("endpoint must be 'send', 'token' or 'any'")
        kind = self._check_kind(kind, endpoint)

        def match(rec: RecordedRequest) -> bool:
            ep = "token" if rec.path == "/token" else "send"
            if endpoint != "any" and ep != endpoint:
                return False
            if token is not None:
                msg = rec.params.get("message") if isinstance(rec.params, dict) else None
                return _recipient(msg) == token
            return True

        self._failures.add(kind, times, match, retry_after=retry_after, seconds=seconds)

    @staticmethod
    def _check_kind(kind: str, endpoint: str) -> str:
        kind = kind.lower()
        allowed = set(NETWORK_KINDS)
        if endpoint in ("send", "any"):
            allowed |= set(SEND_ERRORS)
        if endpoint in ("token", "any"):
            allowed |= set(TOKEN_ERRORS)
        if kind not in allowed:
            raise ValueError(f"unknown {endpoint} failure kind {kind!r}; expected one of {sorted(allowed)}")
        return kind

    def clear_failures(self) -> None:
        self._failures.clear()
        with self._lock:
            self._token_failures.clear()

    def down(self, mode: str = "refuse") -> None:
        """Make the service unreachable: ``"refuse"`` closes the listening socket (connection
        refused; same port comes back on ``up()``), ``"drop"`` accepts and closes every request
        without an answer. Open keep-alive connections are closed either way."""
        if mode not in ("refuse", "drop"):
            raise ValueError("mode must be 'refuse' or 'drop'")
        with self._lock:
            if self._down:
                return
            self._down = mode
        if mode == "refuse":
            self._unbind()
        else:
            self._wake.set()
            self._close_all_connections()

    def up(self) -> None:
        with self._lock:
            mode, self._down = self._down, None
        if mode == "refuse":
            self._bind(self.port)
        elif mode == "drop":
            self._wake = threading.Event()

    @property
    def is_down(self) -> bool:
        return self._down is not None

    def revoke_access_tokens(self) -> None:
        """Invalidate every issued access token (next send gets 401; the SDK refreshes)."""
        with self._lock:
            self._access_tokens.clear()

    def messages_to(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if _recipient(m) == token]

    def send_attempts(self, token: str | None = None) -> list[RecordedRequest]:
        """Send requests received (every attempt, including SDK retries), optionally to a token."""
        with self._lock:
            recs = [r for r in self.requests if r.path.endswith("/messages:send")]
        if token is None:
            return recs
        return [
            r for r in recs if isinstance(r.params, dict) and _recipient(r.params.get("message")) == token
        ]

    # ------------------------------------------------------------------ HTTP entry point
    def _handle(self, handler) -> None:
        body = self._read_body(handler)
        path = handler.path.partition("?")[0]
        if path == "/token":
            params: Any = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            try:
                params = json.loads(body.decode("utf-8")) if body else None
            except ValueError:
                params = None
        rec = self._record(handler, body, params)
        if self._down == "drop":
            rec.status, rec.injected = "dropped", "down"
            return self._drop(handler)
        try:
            if handler.command == "POST" and path == "/token":
                status, payload, headers = self._token(rec)
            elif handler.command == "POST" and re.fullmatch(r"/v1/projects/[^/]+/messages:send", path):
                status, payload, headers = self._send_message(rec, path)
            else:
                raise _Reject(
                    404,
                    _google_error(
                        404, "NOT_FOUND", f"The requested URL {path} was not found on this server."
                    ),
                )
        except _Reject as rej:
            status, payload, headers = rej.status, rej.payload, rej.headers
        except _NetworkFailure as nf:
            rec.injected = nf.kind
            if nf.kind == "drop":
                rec.status = "dropped"
                return self._drop(handler)
            rec.status = "hung"
            return self._hang(handler, nf.seconds)
        rec.status = status
        self._send(handler, status, payload, headers, content_type="application/json; charset=UTF-8")

    # ------------------------------------------------------------------ OAuth2 token endpoint
    def _token(self, rec: RecordedRequest):
        failure = self._failures.take(rec)
        if failure:
            rec.injected = failure["kind"]
            if failure["kind"] in NETWORK_KINDS:
                raise _NetworkFailure(failure["kind"], failure.get("seconds"))
            status, code, desc = TOKEN_ERRORS[failure["kind"]]
            raise _Reject(status, {"error": code, "error_description": desc})
        form = rec.params or {}
        if form.get("grant_type") != JWT_BEARER:
            raise _Reject(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Invalid grant_type: {form.get('grant_type', '')}",
                },
            )
        assertion = form.get("assertion", "")
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except ValueError:
            raise _Reject(400, {"error": "invalid_request", "error_description": "Invalid JWT."}) from None
        if self.verify_assertions and (
            header.get("alg") != "RS256"
            or not _verify_rs256(header.get("kid"), f"{head_b64}.{claims_b64}".encode("ascii"), signature)
        ):
            raise _Reject(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        now = time.time()
        # google-auth always signs aud=https://oauth2.googleapis.com/token, whatever token_uri is
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            raise _Reject(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT: Failed audience check. The expected audience is "
                    f"{GOOGLE_TOKEN_AUDIENCE}.",
                },
            )
        if (
            not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300)
            or claims.get("exp", 0) - claims.get("iat", 0) > 3600
        ):
            raise _Reject(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) "
                    "and in a reasonable timeframe. Check your iat and exp values "
                    "in the JWT claim.",
                },
            )
        token = "ya29.standin." + secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[token] = {
                "email": claims.get("iss"),
                "scopes": set(str(claims.get("scope", "")).split()),
                "expires_at": now + self.token_lifetime,
            }
            self.token_grants.append({"header": header, "claims": claims})
        return 200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}, {}

    # ------------------------------------------------------------------ FCM send
    def _send_message(self, rec: RecordedRequest, path: str):
        project = path.split("/")[3]
        auth = rec.header("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            grant = self._access_tokens.get(token)
        if grant is None or grant["expires_at"] < time.time():
            raise _Reject(
                401,
                _google_error(401, "UNAUTHENTICATED", SEND_ERRORS["unauthenticated"][3]),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        if not grant["scopes"] & _SEND_SCOPES:
            raise _Reject(
                403,
                _google_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."),
            )
        if project not in self.project_ids:
            raise _Reject(
                403,
                _google_error(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'cloudmessaging.messages.create' denied on resource "
                    f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
                ),
            )
        if not isinstance(rec.params, dict):
            raise _Reject(
                400,
                _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token."),
            )

        failure = self._failures.take(rec)
        message = rec.params.get("message")
        to = _recipient(message)
        if failure is None and to is not None:
            with self._lock:
                failure = self._token_failures.get(to)
        if failure:
            kind = failure["kind"]
            rec.injected = kind
            if kind in NETWORK_KINDS:
                raise _NetworkFailure(kind, failure.get("seconds"))
            status, gstatus, fcm_code, msg = SEND_ERRORS[kind]
            headers = {}
            retry_after = failure.get("retry_after")
            if retry_after is None and kind == "quota_exceeded":
                retry_after = self.quota_retry_after
            if retry_after is not None:
                headers["Retry-After"] = str(int(retry_after))
            field = "message.token" if kind == "invalid_argument" else None
            raise _Reject(status, _google_error(status, gstatus, msg, fcm_code, field), headers)

        self._validate(rec.params)
        validate_only = bool(rec.params.get("validate_only"))
        if validate_only:
            name = f"projects/{project}/messages/fake_message_id"
        else:
            name = f"projects/{project}/messages/0:{int(time.time() * 1e6)}{next(self._ids):04d}%{secrets.token_hex(8)}"
        with self._lock:
            self.deliveries.append(
                {"name": name, "message": message, "project_id": project, "validate_only": validate_only}
            )
            if not validate_only:
                self.messages.append(message)
        return 200, {"name": name}, {}

    @staticmethod
    def _validate(body: dict[str, Any]) -> None:
        def bad(msg: str, field: str | None = None) -> _Reject:
            return _Reject(
                400, _google_error(400, "INVALID_ARGUMENT", msg, "INVALID_ARGUMENT" if field else None, field)
            )

        for key in body:
            if key not in ("message", "validate_only"):
                raise bad(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        msg = body.get("message")
        if not isinstance(msg, dict):
            raise bad("Request contains an invalid argument.", "message")
        allowed = {
            "name",
            "data",
            "notification",
            "android",
            "webpush",
            "apns",
            "fcm_options",
            "token",
            "fid",
            "topic",
            "condition",
        }
        for key in msg:
            if key not in allowed:
                raise bad(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'message': Cannot find field."
                )
        targets = [k for k in ("token", "fid", "topic", "condition") if msg.get(k) not in (None, "")]
        if not targets:
            raise bad("Recipient of the message is not set.", "message")
        if len(targets) > 1:
            raise bad(
                "Invalid value at 'message' (oneof), oneof field 'target' is already set. "
                f"Cannot set '{targets[1]}'",
                "message",
            )
        data = msg.get("data")
        if data is not None:
            if not isinstance(data, dict):
                raise bad("Invalid value at 'message.data' (map)", "message.data")
            for i, v in enumerate(data.values()):
                if not isinstance(v, str):
                    raise bad(
                        f"Invalid value at 'message.data[{i}].value' (TYPE_STRING), {v!r}",
                        f"message.data[{i}].value",
                    )
        note = msg.get("notification")
        if note is not None and (
            not isinstance(note, dict)
            or any(not isinstance(note.get(f), (str, type(None))) for f in ("title", "body", "image"))
        ):
            raise bad("Invalid value at 'message.notification'", "message.notification")


def _recipient(message: Any) -> str | None:
    """The device a message targets: ``token`` (deprecated in firebase-admin 7.7) or ``fid``."""
    if not isinstance(message, dict):
        return None
    return message.get("token") or message.get("fid")


class _NetworkFailure(Exception):
    def __init__(self, kind: str, seconds: float | None = None):
        super().__init__(kind)
        self.kind, self.seconds = kind, seconds


# ---------------------------------------------------------------------------- SDK wiring helpers
def sdk_like_fast_retry():
    """firebase-admin's own retry policy (``_http_client.DEFAULT_RETRY_CONFIG``: 500/503 x4,
    connect x1, read x1, Retry-After honoured on 429/503) with every sleep removed -- same
    number of attempts as production, no waiting."""
    try:
        from firebase_admin import _http_client

        return _http_client.DEFAULT_RETRY_CONFIG.new(backoff_factor=0, retry_after_max=0)
    except Exception:  # pragma: no cover - fallback if the private name moves
        from urllib3.util.retry import Retry

        return Retry(
            connect=1,
            read=1,
            status=4,
            status_forcelist=[500, 503],
            raise_on_status=False,
            backoff_factor=0,
            allowed_methods=None,
            retry_after_max=0,
        )


def bind_messaging(app, standin: FcmStandIn, *, retry: Any = "fast"):
    """Create ``app``'s messaging service with ``FCM_URL`` pointing at ``standin`` (patched
    under a lock and restored straight away), and point the topic-management URL there too so
    nothing can reach fcm.googleapis.com. ``retry``: ``"fast"`` (:func:`sdk_like_fast_retry`),
    ``"sdk"`` (keep the SDK's sleeping policy), ``None``/``0`` (no retries) or a urllib3 ``Retry``.
    Returns the ``_MessagingService``."""
    import requests
    from firebase_admin import messaging

    cls = messaging._MessagingService
    with _FCM_URL_LOCK:
        original = cls.FCM_URL
        cls.FCM_URL = standin.fcm_url_template
        try:
            service = messaging._get_messaging_service(app)
        finally:
            cls.FCM_URL = original
    if not service._fcm_url.startswith(standin.url + "/"):
        raise RuntimeError(
            f"messaging service of app {app.name!r} already existed and points at "
            f"{service._fcm_url}; bind before the first messaging call"
        )
    if hasattr(service, "_fcm_topic_url"):
        service._fcm_topic_url = f"{standin.url}/v1/projects/{app.project_id}/registrations"
    if retry != "sdk":
        policy = sdk_like_fast_retry() if retry == "fast" else (retry or 0)
        service._client.session.mount(standin.url + "/", requests.adapters.HTTPAdapter(max_retries=policy))
    return service


def fcm_app(
    standin: FcmStandIn,
    name: str | None = None,
    *,
    http_timeout: float = 5.0,
    retry: Any = "fast",
    service_account: dict[str, Any] | None = None,
    project_id: str | None = None,
    options: dict[str, Any] | None = None,
):
    """A named ``firebase_admin.App`` whose messaging talks to ``standin``: generated service
    account (OAuth -> ``standin.token_uri``), ``httpTimeout`` set, FCM URL bound (see
    :func:`bind_messaging`). Delete it with ``firebase_admin.delete_app(app)`` (or use
    :func:`fcm_app_context`)."""
    import firebase_admin
    from firebase_admin import credentials

    sa = service_account or standin.make_service_account(project_id)
    standin.project_ids.add(sa["project_id"])
    opts = {"projectId": sa["project_id"], "httpTimeout": http_timeout, **(options or {})}
    app = firebase_admin.initialize_app(
        credentials.Certificate(sa), opts, name=name or f"fcm-standin-{secrets.token_hex(4)}"
    )
    try:
        bind_messaging(app, standin, retry=retry)
    except Exception:
        firebase_admin.delete_app(app)
        raise
    return app


@contextlib.contextmanager
def fcm_app_context(standin: FcmStandIn, name: str | None = None, **kw: Any) -> Iterator[Any]:
    """``with fcm_app_context(fcm) as app: ...`` -- :func:`fcm_app`, deleted on exit."""
    import firebase_admin

    app = fcm_app(standin, name, **kw)
    try:
        yield app
    finally:
        firebase_admin.delete_app(app)
