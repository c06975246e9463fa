"""Stripe API stand-in (v1, Connect payouts) for tests that use the REAL ``stripe`` SDK (16.x).

Wiring the real SDK (stripe 16: ``StripeClient`` + ``client.v1.*``; params and request options
are two separate dicts)::

    import stripe
    api = StripeStandIn().start()
    client = stripe.StripeClient(
        "sk_test_anything",                       # any key starting sk_test_ is accepted
        base_addresses={"api": api.url, "connect": api.url, "files": api.url,
                        "meter_events": api.url},  # nothing can leak to *.stripe.com
        max_network_retries=0,                    # or N: the SDK retries connection errors,
                                                  # 409 and 5xx (never 429), reusing its
                                                  # Idempotency-Key, sleeping 0.5 s .. 5 s
        http_client=stripe.RequestsClient(timeout=2),  # default is 80 s
    )
    acct = client.v1.accounts.create(params={
        "type": "express", "country": "US", "email": "w@example.com",
        "capabilities": {"transfers": {"requested": True}}, "metadata": {"worker_id": "42"}})
    api.complete_onboarding(acct.id)              # or follow the account link (see below)
    link = client.v1.account_links.create(params={
        "account": acct.id, "refresh_url": "https://app/r", "return_url": "https://app/ok",
        "type": "account_onboarding"})           # link.url, link.expires_at
    tr = client.v1.transfers.create(
        params={"amount": 1250, "currency": "usd", "destination": acct.id,
                "transfer_group": "payout_7", "metadata": {"payout_id": "7"}},
        options={"idempotency_key": "payout-7"})
    tr.last_response.headers.get("Idempotent-Replayed")   # "true" on a replay
    client.v1.transfers.retrieve(tr.id)
    client.v1.transfers.list(params={"transfer_group": "payout_7", "limit": 10})
    client.v1.transfers.reversals.create(tr.id, params={"amount": 250})
    client.v1.balance.retrieve()

Note: putting ``idempotency_key`` inside ``params`` sends it as a form field; like real Stripe,
the stand-in answers 400 "Received unknown parameter: idempotency_key".

Exceptions the SDK raises for the stand-in's answers (all subclass ``stripe.StripeError``):

* 400 ``idempotency_error`` (same key, other params/endpoint) -> ``stripe.IdempotencyError``
* 409 ``idempotency_key_in_use`` (same key while the first is in flight) -> ``stripe.APIError``
  (http_status 409; the SDK retries 409 when max_network_retries > 0)
* 400 ``balance_insufficient`` / validation errors -> ``stripe.InvalidRequestError``
  (``.code``, ``.param``)
* 401 -> ``stripe.AuthenticationError``
* 429 ``rate_limit`` -> ``stripe.RateLimitError`` (NOT a subclass of InvalidRequestError in 16.x;
  never retried by the SDK)
* 500 ``api_error`` -> ``stripe.APIError``
* dropped connection / read timeout -> ``stripe.APIConnectionError`` (``.should_retry`` True)

Stripe semantics reproduced:

* Auth: ``Authorization: Bearer <key>`` or HTTP basic (key as user name); keys must start with
  one of ``accepted_key_prefixes`` (default ``("sk_test_",)``), else 401.
* Idempotency (POST only; keys scoped by API key + ``Stripe-Account``): the first response is
  stored and replayed byte-for-byte with ``Idempotent-Replayed: true`` and ``Original-Request``;
  same key with other parameters or another endpoint -> 400 ``idempotency_error``. As documented
  by Stripe, results are stored only once the endpoint "started executing": parameter
  validation errors and 429s are not stored (safe to retry with the same key), while a
  ``balance_insufficient`` answer IS stored and replayed for the life of the key (retrying it
  with the same key keeps failing -- use a new key after topping up). The SDK sends its own
  random Idempotency-Key on every POST when you give none. ``expire_idempotency_keys()``
  simulates Stripe forgetting keys (~24 h): a replay then creates a second transfer.
* Transfers need the destination's ``transfers`` capability ``active`` (an express account is
  created ``inactive``; call ``complete_onboarding``/``set_account`` or follow the link), else
  400 ``insufficient_capabilities_for_transfer``. Optional balance: ``set_balance(amount)``
  makes over-large transfers fail with ``balance_insufficient``.
* Unknown top-level parameters -> 400 ``Received unknown parameter: x`` (param ``x``).

Failure injection: ``fail_next(kind, path_prefix=None, times=1, *, method=None, remember=None,
seconds=None)``; kinds:

* ``"balance_insufficient"`` 400 invalid_request_error / code balance_insufficient (stored
  under the idempotency key unless ``remember=False``)
* ``"rate_limit"`` 429 invalid_request_error / code rate_limit (never stored)
* ``"server_error"`` 500 api_error (not stored unless ``remember=True``, in which case Stripe's
  documented "the 500 is replayed" behaviour is simulated)
* ``"drop"`` close the socket without answering, before doing anything
* ``"drop_after_commit"`` do the work (store the transfer, record the idempotency key), then
  close the socket: the client sees a network error although Stripe did it
* ``"hang"`` answer nothing for ``seconds`` (default ``hang_seconds`` = 60; ``stop()`` wakes it),
  then close -- the client's timeout fires first
* ``"slow"`` wait ``seconds`` (default 0.5) while holding the idempotency key, then process
  normally (to provoke 409 idempotency_key_in_use with a concurrent duplicate)

Injected answers (balance_insufficient, rate_limit, server_error) replace whatever the request
would have produced, idempotent replays included; ``drop_after_commit`` and ``slow`` wrap the
normal processing, replays included (a replay answer computed, then the socket closed).
``path_prefix`` matches the request path (e.g. ``"/v1/transfers"``), so account calls made
first do not consume a failure meant for the transfer.

Connect onboarding: account links point at the stand-in (``<url>/connect/onboarding/...``);
a GET there marks the account onboarded (details_submitted, charges/payouts enabled,
requested capabilities active) and answers 302 to ``return_url`` (``refresh_url`` once used or
expired) -- a browser test can follow it.

Webhooks: ``sign_stripe_payload(payload, secret, timestamp=None)`` builds the
``Stripe-Signature`` header exactly like Stripe (``t=<ts>,v1=<hex HMAC-SHA256(secret,
"<ts>.<payload>")>``); ``make_event(type, obj, account=None)`` builds the event JSON;
``build_webhook_request(event, secret)`` returns ``(body_bytes, headers)`` to POST to the app.
The stand-in also records the events real Stripe would emit (``standin.events``:
``account.updated`` with ``account`` set -- a Connect event, signed with the Connect endpoint's
secret in production -- and ``transfer.created`` / ``transfer.reversed`` / ``transfer.updated``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from typing import Any
from urllib.parse import parse_qsl

from . import RecordedRequest, StandInServer, _FailureQueue

__all__ = ["StripeStandIn", "sign_stripe_payload", "make_event", "build_webhook_request"]

_ALNUM = string.ascii_letters + string.digits
DEFAULT_API_VERSION = "2026-10-28.endive"  # stripe 16.1.0's _ApiVersion.CURRENT

FAILURE_KINDS = (
    "balance_insufficient",
    "rate_limit",
    "server_error",
    "drop",
    "drop_after_commit",
    "hang",
    "slow",
)


def _rand_id(prefix: str, n: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


def _api_version() -> str:
    try:  # the version of the installed SDK, when there is one
        from stripe._api_version import _ApiVersion  # type: ignore

        return _ApiVersion.CURRENT
    except Exception:  # pragma: no cover
        return DEFAULT_API_VERSION


# ---------------------------------------------------------------------------- webhooks
def sign_stripe_payload(payload, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` (bytes or str), as Stripe builds it:
    ``t=<unix ts>,v1=<hex HMAC-SHA256 keyed with the endpoint secret over "<ts>.<payload>">``."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def make_event(
    type: str,
    obj: dict[str, Any],
    account: str | None = None,
    *,  # noqa: A002
    previous_attributes: dict[str, Any] | None = None,
    created: int | None = None,
    api_version: str | None = None,
) -> dict[str, Any]:
    """A Stripe event (snapshot payload) as delivered to webhook endpoints.

    ``account`` is set for Connect events (events that happened on a connected account, e.g.
    ``account.updated``); platform events have no ``account`` key."""
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    event: dict[str, Any] = {
        "id": _rand_id("evt_"),
        "object": "event",
        "api_version": api_version or _api_version(),
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }
    if account is not None:
        event["account"] = account
    return event


def build_webhook_request(
    event: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` for POSTing ``event`` to a webhook endpoint, signed with ``secret``."""
    body = json.dumps(event, indent=2).encode("utf-8")
    return body, {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_stripe_payload(body, secret, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


# ---------------------------------------------------------------------------- form decoding
_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def decode_form(encoded: str) -> dict[str, Any]:
    """Decode Stripe's form encoding: ``a[b][c]=v`` -> ``{"a": {"b": {"c": "v"}}}``,
    ``expand[0]=x`` -> ``{"expand": ["x"]}``. Values stay strings, as on the wire."""
    out: dict[str, Any] = {}
    for raw_key, value in parse_qsl(encoded, keep_blank_values=True):
        m = _KEY_RE.match(raw_key)
        if not m:
            out[raw_key] = value
            continue
        parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[]=v
                part = str(sum(1 for k in node if k.isdigit())) if isinstance(node, dict) else "0"
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return _listify(out)


# ---------------------------------------------------------------------------- errors
class _StripeError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        executed: bool = False,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.executed = executed  # stored under the idempotency key?
        self.headers = headers or {}
        err: dict[str, Any] = {"message": message, "type": type_}
        if code:
            err["code"] = code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            err["param"] = param
        self.body = {"error": err}


def _invalid(
    message: str, param: str | None = None, code: str | None = None, status: int = 400, executed: bool = False
) -> _StripeError:
    return _StripeError(status, "invalid_request_error", message, code=code, param=param, executed=executed)


def _missing(param: str) -> _StripeError:
    return _invalid(f"Missing required param: {param}.", param, "parameter_missing")


def _no_such(kind: str, ident: str, param: str = "id", status: int = 404) -> _StripeError:
    return _invalid(f"No such {kind}: '{ident}'", param, "resource_missing", status=status)


def _injected_error(kind: str) -> _StripeError:
    if kind == "balance_insufficient":
        return _invalid(
            "You have insufficient available funds in your Stripe account. Try adding funds "
            "directly to your available balance by creating Charges using the "
            "4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
            code="balance_insufficient",
            executed=True,
        )
    if kind == "rate_limit":
        return _StripeError(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    if kind == "server_error":
        return _StripeError(500, "api_error", "An unknown error occurred while processing your request.")
    raise ValueError(kind)


def _int_param(
    params: dict[str, Any],
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    required: bool = False,
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _missing(name)
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise _invalid(f"Invalid integer: {raw}", name, "parameter_invalid_integer") from None
    if minimum is not None and value < minimum:
        raise _invalid(
            f"This value must be greater than or equal to {minimum}.", name, "parameter_invalid_integer"
        )
    if maximum is not None and value > maximum:
        raise _invalid(
            f"This value must be less than or equal to {maximum}.", name, "parameter_invalid_integer"
        )
    return value


def _check_metadata(meta: Any, param: str = "metadata") -> dict[str, str]:
    if meta in (None, ""):
        return {}
    if not isinstance(meta, dict):
        raise _invalid("Invalid object", param)
    if len(meta) > 50:
        raise _invalid("You can only specify up to 50 metadata keys.", param)
    for k, v in meta.items():
        if len(k) > 40:
            raise _invalid(f"Metadata keys can have up to 40 characters; '{k}' is too long.", f"{param}[{k}]")
        if not isinstance(v, str):
            raise _invalid("Invalid string: must be a string", f"{param}[{k}]")
        if len(v) > 500:
            raise _invalid("Metadata values can have up to 500 characters.", f"{param}[{k}]")
    return dict(meta)


def _check_known(params: dict[str, Any], allowed: set) -> None:
    for key in params:
        if key not in allowed:
            raise _invalid(f"Received unknown parameter: {key}", key, "parameter_unknown")


def _truthy(v: Any) -> bool:
    return str(v).lower() in ("true", "1")


_ACCOUNT_CREATE = {
    "type",
    "controller",
    "country",
    "email",
    "capabilities",
    "business_type",
    "business_profile",
    "metadata",
    "individual",
    "company",
    "settings",
    "tos_acceptance",
    "default_currency",
    "external_account",
    "expand",
    "account_token",
    "documents",
    "groups",
}
_ACCOUNT_UPDATE = _ACCOUNT_CREATE - {"type", "controller", "country"}
_ACCOUNT_LINK = {"account", "refresh_url", "return_url", "type", "collect", "collection_options", "expand"}
_TRANSFER_CREATE = {
    "amount",
    "currency",
    "destination",
    "transfer_group",
    "metadata",
    "description",
    "source_transaction",
    "source_type",
    "expand",
}
_TRANSFER_UPDATE = {"description", "metadata", "expand"}
_TRANSFER_LIST = {
    "created",
    "destination",
    "ending_before",
    "expand",
    "limit",
    "starting_after",
    "transfer_group",
}
_REVERSAL_CREATE = {"amount", "description", "metadata", "refund_application_fee", "expand"}
_LIST = {"limit", "starting_after", "ending_before", "expand", "created"}


class StripeStandIn(StandInServer):
    """Loopback Stripe API. See the module docstring for the wire behaviour.

    Inspection: ``transfers`` (list of transfer dicts, creation order), ``accounts`` (dict id ->
    account), ``reversals``, ``events``, ``requests`` (:class:`RecordedRequest`; ``params`` are
    the decoded nested parameters), ``idempotency_keys``.
    Control: ``fail_next``, ``clear_failures``, ``create_account``, ``set_account``,
    ``complete_onboarding``, ``set_balance``, ``expire_idempotency_keys``, ``reset``.
    """

    def __init__(
        self,
        *,
        accepted_key_prefixes: tuple[str, ...] = ("sk_test_",),
        require_transfers_capability: bool = True,
        hang_seconds: float | None = None,
        port: int = 0,
        account_link_ttl: int = 300,
    ):
        super().__init__(port=port, hang_seconds=hang_seconds)
        self.accepted_key_prefixes = tuple(accepted_key_prefixes)
        self.require_transfers_capability = require_transfers_capability
        self.account_link_ttl = account_link_ttl
        self._failures = _FailureQueue()
        self._reset_state()

    def _reset_state(self) -> None:
        with self._lock:
            self._accounts: dict[str, dict[str, Any]] = {}
            self._transfers: dict[str, dict[str, Any]] = {}  # insertion order = creation order
            self._reversals: dict[str, dict[str, Any]] = {}
            self._links: dict[str, dict[str, Any]] = {}
            self._idem: dict[tuple[str, str, str], dict[str, Any]] = {}
            self._balance: dict[str, int | None] = {}
            self.events: list[dict[str, Any]] = []
            self.requests = []

    def reset(self) -> None:
        """Forget everything (accounts, transfers, keys, events, requests, pending failures)."""
        self._failures.clear()
        self._reset_state()

    # ------------------------------------------------------------------ inspection
    @property
    def transfers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(t) for t in self._transfers.values()]

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._accounts)

    @property
    def reversals(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._reversals.values()]

    @property
    def idempotency_keys(self) -> list[str]:
        with self._lock:
            return [k[2] for k in self._idem]

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._transfers[transfer_id])

    def account(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._accounts[account_id])

    # ------------------------------------------------------------------ control
    def fail_next(
        self,
        kind: str,
        path_prefix: str | None = None,
        times: int | None = 1,
        *,
        method: str | None = None,
        remember: bool | None = None,
        seconds: float | None = None,
    ) -> None:
        """Make the next ``times`` requests whose path starts with ``path_prefix`` (any path when
        None) and, if given, whose method is ``method``, fail with ``kind`` (see module doc).
        ``times=None`` keeps failing until ``clear_failures()``."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; expected one of {FAILURE_KINDS}")

        def match(rec: RecordedRequest) -> bool:
            return (path_prefix is None or rec.path.startswith(path_prefix)) and (
                method is None or rec.method == method.upper()
            )

        if remember is None:
            remember = kind == "balance_insufficient"
        self._failures.add(kind, times, match, remember=remember, seconds=seconds)

    def clear_failures(self) -> None:
        self._failures.clear()

    @property
    def pending_failures(self) -> list[tuple[str, int | None]]:
        return self._failures.pending()

    def set_balance(self, amount: int | None, currency: str = "usd") -> None:
        """Available platform balance for ``currency``; ``None`` (default) means unlimited."""
        with self._lock:
            self._balance[currency.lower()] = amount

    def balance(self, currency: str = "usd") -> int | None:
        with self._lock:
            return self._balance.get(currency.lower())

    def expire_idempotency_keys(self) -> None:
        """Simulate Stripe pruning idempotency keys (after ~24 h)."""
        with self._lock:
            self._idem.clear()

    def create_account(self, **params: Any) -> dict[str, Any]:
        """Seed a connected account directly (no HTTP). ``params`` use API names, e.g.
        ``create_account(type="express", email="a@b.c", metadata={"worker_id": "1"})``;
        pass ``onboarded=True`` to get one that can receive transfers."""
        onboarded = params.pop("onboarded", False)
        params.setdefault("type", "express")
        params.setdefault("capabilities", {"transfers": {"requested": "true"}})
        acct = self._new_account(_stringify(params))
        if onboarded:
            self.complete_onboarding(acct["id"])
        return self.account(acct["id"])

    def set_account(
        self,
        account_id: str,
        *,
        payouts_enabled: bool | None = None,
        charges_enabled: bool | None = None,
        details_submitted: bool | None = None,
        capabilities: dict[str, str] | None = None,
        emit_event: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """Change an account's status flags (and any other top-level field); records an
        ``account.updated`` Connect event with ``previous_attributes``."""
        with self._lock:
            acct = self._accounts[account_id]
            previous: dict[str, Any] = {}
            changes: dict[str, Any] = dict(fields)
            if payouts_enabled is not None:
                changes["payouts_enabled"] = payouts_enabled
            if charges_enabled is not None:
                changes["charges_enabled"] = charges_enabled
            if details_submitted is not None:
                changes["details_submitted"] = details_submitted
            if capabilities is not None:
                changes["capabilities"] = {**acct.get("capabilities", {}), **capabilities}
            for k, v in changes.items():
                if acct.get(k) != v:
                    previous[k] = copy.deepcopy(acct.get(k))
                    acct[k] = v
            if previous and emit_event:
                self._emit("account.updated", acct, account=account_id, previous_attributes=previous)
            return copy.deepcopy(acct)

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """What a finished Express onboarding looks like: details submitted, charges and payouts
        enabled, every requested capability active, no requirements due."""
        with self._lock:
            acct = self._accounts[account_id]
            caps = {name: "active" for name in acct.get("capabilities", {})} or {"transfers": "active"}
            requirements = _requirements(due=False)
            return self.set_account(
                account_id,
                details_submitted=True,
                charges_enabled=True,
                payouts_enabled=True,
                capabilities=caps,
                requirements=requirements,
                tos_acceptance={"date": int(time.time()), "ip": "127.0.0.1", "user_agent": None},
            )

    # ------------------------------------------------------------------ HTTP entry point
    def _handle(self, handler) -> None:
        body = self._read_body(handler)
        path, _, query = handler.path.partition("?")
        raw = body.decode("utf-8", "replace") if handler.command == "POST" else query
        rec = self._record(handler, body, decode_form(raw))

        failure = self._failures.take(rec)
        kind = failure["kind"] if failure else None
        rec.injected = kind
        if kind == "drop":
            rec.status = "dropped"
            return self._drop(handler)
        if kind == "hang":
            rec.status = "hung"
            return self._hang(handler, failure.get("seconds"))

        request_id = _rand_id("req_", 14)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": rec.header("stripe-version") or _api_version(),
            "Access-Control-Allow-Origin": "*",
        }
        if path.startswith("/connect/onboarding/"):
            return self._onboarding_page(handler, rec, path)
        if not path.startswith("/v1/"):
            return self._answer(
                handler,
                rec,
                _invalid(
                    f"Unrecognized request URL ({rec.method}: {path}). Please see "
                    "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    status=404,
                ).body,
                404,
                headers,
            )

        if kind == "rate_limit":  # rejected before any work: never stored
            err = _injected_error(kind)
            return self._answer(handler, rec, err.body, err.status, headers)

        api_key, auth_error = self._authenticate(rec)
        if auth_error is not None:
            headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
            return self._answer(handler, rec, auth_error.body, auth_error.status, headers)

        idem_key = rec.header("idempotency-key") if rec.method == "POST" else None
        scope = None
        if idem_key:
            headers["Idempotency-Key"] = idem_key
            if len(idem_key) > 255:
                err = _invalid(
                    "Invalid idempotency key: keys can be at most 255 characters long.", "idempotency_key"
                )
                return self._answer(handler, rec, err.body, err.status, headers)
            scope = (api_key, rec.header("stripe-account") or "", idem_key)
            with self._lock:
                entry = self._idem.get(scope)
                if entry is None:
                    self._idem[scope] = {
                        "state": "in_flight",
                        "method": rec.method,
                        "path": path,
                        "params": rec.params,
                    }
            if entry is not None:
                # the endpoint does not run for a replay; injected answers still replace it
                if kind == "slow":
                    time.sleep(0.5 if failure.get("seconds") is None else failure["seconds"])
                if kind in ("balance_insufficient", "server_error"):
                    err = _injected_error(kind)
                    status, payload = err.status, err.body
                else:
                    status, payload, headers = self._replay(rec, entry, idem_key, headers)
                if kind == "drop_after_commit":
                    rec.status = "dropped"
                    return self._drop(handler)
                return self._answer(handler, rec, payload, status, headers)

        stored = False
        try:
            if kind == "slow":
                time.sleep(0.5 if failure.get("seconds") is None else failure["seconds"])
            try:
                if kind in ("balance_insufficient", "server_error"):
                    err = _injected_error(kind)
                    err.executed = bool(failure.get("remember"))
                    raise err
                status, payload = self._route(rec, path)
                executed = True
            except _StripeError as err:
                status, payload, executed = err.status, err.body, err.executed
            if scope is not None and executed:
                with self._lock:
                    self._idem[scope] = {
                        "state": "done",
                        "method": rec.method,
                        "path": path,
                        "params": rec.params,
                        "status": status,
                        "payload": payload,
                        "request_id": request_id,
                    }
                stored = True
        finally:
            if scope is not None and not stored:
                with self._lock:
                    if self._idem.get(scope, {}).get("state") == "in_flight":
                        del self._idem[scope]

        if kind == "drop_after_commit":
            rec.status = "dropped"
            return self._drop(handler)
        self._answer(handler, rec, payload, status, headers)

    def _answer(
        self, handler, rec: RecordedRequest, payload: Any, status: int, headers: dict[str, str]
    ) -> None:
        rec.status = status
        self._send(handler, status, payload, headers)

    def _replay(
        self, rec: RecordedRequest, entry: dict[str, Any], idem_key: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """The answer for a request whose idempotency key is already known."""
        if entry["state"] == "in_flight":
            err = _StripeError(
                409,
                "idempotency_error",
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                f"going through): {idem_key}. Please try again later.",
                code="idempotency_key_in_use",
            )
            return err.status, err.body, headers
        if entry["method"] != rec.method or entry["path"] != rec.path:
            err = _StripeError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{entry['method']} {entry['path']}' vs '{rec.method} "
                f"{rec.path}'). Try using a key other than '{idem_key}' if you meant to execute "
                "a different request.",
            )
            return err.status, err.body, headers
        if entry["params"] != rec.params:
            err = _StripeError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{idem_key}' if you meant "
                "to execute a different request.",
            )
            return err.status, err.body, headers
        headers = {**headers, "Idempotent-Replayed": "true", "Original-Request": entry["request_id"]}
        return entry["status"], entry["payload"], headers

    def _authenticate(self, rec: RecordedRequest) -> tuple[str | None, _StripeError | None]:
        auth = rec.header("authorization") or ""
        key = None
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            try:
                key = base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0]
            except Exception:
                key = None
        if not key:
            return None, _StripeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
            )
        if not key.startswith(self.accepted_key_prefixes):
            masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
            return None, _StripeError(401, "invalid_request_error", f"Invalid API Key provided: {masked}")
        return key, None

    # ------------------------------------------------------------------ routing
    def _route(self, rec: RecordedRequest, path: str) -> tuple[int, dict[str, Any]]:
        m, p = rec.method, rec.params
        parts = [x for x in path.split("/") if x][1:]  # drop "v1"
        if parts == ["accounts"]:
            if m == "POST":
                return 200, self._create_account(p)
            if m == "GET":
                _check_known(p, _LIST)
                return 200, self._list(list(self._accounts.values()), p, "/v1/accounts", "account")
        if len(parts) == 2 and parts[0] == "accounts":
            acct_id = parts[1]
            if m == "GET":
                _check_known(p, {"expand"})
                return 200, self.account(self._require_account(acct_id))
            if m == "POST":
                return 200, self._update_account(self._require_account(acct_id), p)
            if m == "DELETE":
                with self._lock:
                    self._accounts.pop(self._require_account(acct_id))
                return 200, {"id": acct_id, "object": "account", "deleted": True}
        if parts == ["account_links"] and m == "POST":
            return 200, self._create_account_link(p)
        if parts == ["transfers"]:
            if m == "POST":
                return 200, self._create_transfer(p)
            if m == "GET":
                return 200, self._list_transfers(p)
        if len(parts) == 2 and parts[0] == "transfers":
            tr_id = parts[1]
            if m == "GET":
                _check_known(p, {"expand"})
                return 200, self.transfer(self._require_transfer(tr_id))
            if m == "POST":
                return 200, self._update_transfer(self._require_transfer(tr_id), p)
        if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals":
            tr_id = self._require_transfer(parts[1])
            if m == "POST":
                return 200, self._create_reversal(tr_id, p)
            if m == "GET":
                _check_known(p, _LIST)
                with self._lock:
                    items = [r for r in self._reversals.values() if r["transfer"] == tr_id]
                return 200, self._list(items, p, f"/v1/transfers/{tr_id}/reversals", "transfer_reversal")
        if parts == ["balance"] and m == "GET":
            return 200, self._balance_object()
        raise _invalid(
            f"Unrecognized request URL ({m}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
            status=404,
        )

    def _require_account(self, acct_id: str, param: str = "id", status: int = 404) -> str:
        with self._lock:
            if acct_id not in self._accounts:
                raise _no_such("account", acct_id, param, status)
        return acct_id

    def _require_transfer(self, tr_id: str) -> str:
        with self._lock:
            if tr_id not in self._transfers:
                raise _no_such("transfer", tr_id)
        return tr_id

    def _emit(
        self,
        type_: str,
        obj: dict[str, Any],
        account: str | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self.events.append(make_event(type_, obj, account, previous_attributes=previous_attributes))

    # ------------------------------------------------------------------ accounts
    def _create_account(self, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _ACCOUNT_CREATE)
        return self._new_account(p)

    def _new_account(self, p: dict[str, Any]) -> dict[str, Any]:
        acct_type = p.get("type")
        controller = p.get("controller") if isinstance(p.get("controller"), dict) else None
        if acct_type is None and controller is None:
            acct_type = "standard"
        if acct_type is not None and acct_type not in ("express", "standard", "custom"):
            raise _invalid("Invalid type: must be one of custom, express, or standard", "type")
        if acct_type is None:
            dash = (controller.get("stripe_dashboard") or {}).get("type", "full")
            acct_type = {"express": "express", "none": "custom"}.get(dash, "standard")
        caps_in = p.get("capabilities") or {}
        if not isinstance(caps_in, dict):
            raise _invalid("Invalid object", "capabilities")
        capabilities = {
            name: "inactive"
            for name, spec in caps_in.items()
            if isinstance(spec, dict) and _truthy(spec.get("requested"))
        }
        metadata = _check_metadata(p.get("metadata"))
        acct_id = _rand_id("acct_", 16)
        now = int(time.time())
        acct = {
            "id": acct_id,
            "object": "account",
            "business_profile": {
                "annual_revenue": None,
                "estimated_worker_count": None,
                "mcc": None,
                "name": None,
                "product_description": None,
                "support_address": None,
                "support_email": None,
                "support_phone": None,
                "support_url": None,
                "url": None,
                **(p.get("business_profile") or {}),
            },
            "business_type": p.get("business_type"),
            "capabilities": capabilities,
            "charges_enabled": False,
            "controller": {
                "fees": {"payer": "application_express" if acct_type == "express" else "account"},
                "is_controller": True,
                "losses": {"payments": "application"},
                "requirement_collection": "stripe" if acct_type != "custom" else "application",
                "stripe_dashboard": {"type": {"express": "express", "custom": "none"}.get(acct_type, "full")},
                "type": "application",
            },
            "country": p.get("country") or "US",
            "created": now,
            "default_currency": p.get("default_currency") or "usd",
            "details_submitted": False,
            "email": p.get("email"),
            "external_accounts": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/accounts/{acct_id}/external_accounts",
            },
            "future_requirements": _requirements(due=False),
            "metadata": metadata,
            "payouts_enabled": False,
            "requirements": _requirements(due=True),
            "settings": {
                "payouts": {
                    "debit_negative_balances": True,
                    "schedule": {"delay_days": 2, "interval": "daily"},
                    "statement_descriptor": None,
                }
            },
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "type": acct_type,
        }
        with self._lock:
            self._accounts[acct_id] = acct
            return copy.deepcopy(acct)

    def _update_account(self, acct_id: str, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _ACCOUNT_UPDATE)
        with self._lock:
            acct = self._accounts[acct_id]
            previous: dict[str, Any] = {}
            if "metadata" in p:
                previous["metadata"] = copy.deepcopy(acct["metadata"])
                acct["metadata"] = _merge_metadata(acct["metadata"], p["metadata"])
            for field in ("email", "business_type", "default_currency"):
                if field in p:
                    previous[field] = acct.get(field)
                    acct[field] = p[field] or None
            if isinstance(p.get("business_profile"), dict):
                previous["business_profile"] = copy.deepcopy(acct["business_profile"])
                acct["business_profile"].update(p["business_profile"])
            if isinstance(p.get("capabilities"), dict):
                for name, spec in p["capabilities"].items():
                    if isinstance(spec, dict) and _truthy(spec.get("requested")):
                        acct["capabilities"].setdefault(name, "inactive")
            self._emit("account.updated", acct, account=acct_id, previous_attributes=previous)
            return copy.deepcopy(acct)

    def _create_account_link(self, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _ACCOUNT_LINK)
        for name in ("account", "type"):
            if not p.get(name):
                raise _missing(name)
        if p["type"] not in ("account_onboarding", "account_update"):
            raise _invalid("Invalid type: must be one of account_onboarding or account_update", "type")
        self._require_account(p["account"], "account", status=400)
        if not p.get("refresh_url") and p["type"] == "account_onboarding":
            raise _missing("refresh_url")
        now = int(time.time())
        token = secrets.token_urlsafe(18)
        link = {
            "object": "account_link",
            "created": now,
            "expires_at": now + self.account_link_ttl,
            "url": f"{self.url}/connect/onboarding/{p['account']}/{token}",
        }
        with self._lock:
            self._links[token] = {
                "account": p["account"],
                "return_url": p.get("return_url"),
                "refresh_url": p.get("refresh_url"),
                "expires_at": link["expires_at"],
                "used": False,
            }
        return link

    def _onboarding_page(self, handler, rec: RecordedRequest, path: str) -> None:
        parts = path.strip("/").split("/")
        token = parts[-1] if len(parts) == 4 else ""
        with self._lock:
            link = self._links.get(token)
            valid = link is not None and not link["used"] and time.time() < link["expires_at"]
            if valid:
                link["used"] = True
        if link is None:
            rec.status = 404
            return self._send(handler, 404, "<h1>Link not found</h1>", content_type="text/html")
        if valid:
            self.complete_onboarding(link["account"])
            target = link["return_url"] or "about:blank"
        else:
            target = link["refresh_url"] or "about:blank"
        rec.status = 302
        self._send(
            handler, 302, f'<a href="{target}">continue</a>', {"Location": target}, content_type="text/html"
        )

    # ------------------------------------------------------------------ transfers
    def _create_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _TRANSFER_CREATE)
        amount = _int_param(p, "amount", minimum=1, required=True)
        currency = p.get("currency")
        if not currency:
            raise _missing("currency")
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise _invalid(
                f"Invalid currency: {currency}. Stripe currently supports these currencies: usd, eur, ...",
                "currency",
            )
        currency = currency.lower()
        dest = p.get("destination")
        if not dest:
            raise _missing("destination")
        with self._lock:
            acct = self._accounts.get(dest)
            if acct is None:
                raise _invalid(f"No such destination: '{dest}'", "destination", "resource_missing")
            caps = acct.get("capabilities", {})
            if self.require_transfers_capability and not any(
                caps.get(c) == "active" for c in ("transfers", "crypto_transfers", "legacy_payments")
            ):
                raise _invalid(
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    "destination",
                    "insufficient_capabilities_for_transfer",
                )
            metadata = _check_metadata(p.get("metadata"))
            available = self._balance.get(currency)
            if available is not None and amount > available:
                raise _injected_error("balance_insufficient")  # executed: stored under the key
            if available is not None:
                self._balance[currency] = available - amount
            tr_id = _rand_id("tr_")
            transfer = {
                "id": tr_id,
                "object": "transfer",
                "amount": amount,
                "amount_reversed": 0,
                "balance_transaction": _rand_id("txn_"),
                "created": int(time.time()),
                "currency": currency,
                "description": p.get("description") or None,
                "destination": dest,
                "destination_payment": _rand_id("py_"),
                "livemode": False,
                "metadata": metadata,
                "reversals": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": f"/v1/transfers/{tr_id}/reversals",
                },
                "reversed": False,
                "source_transaction": p.get("source_transaction") or None,
                "source_type": p.get("source_type") or "card",
                "transfer_group": p.get("transfer_group") or None,
            }
            self._transfers[tr_id] = transfer
            self._emit("transfer.created", transfer)
            return copy.deepcopy(transfer)

    def _update_transfer(self, tr_id: str, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _TRANSFER_UPDATE)
        with self._lock:
            tr = self._transfers[tr_id]
            previous = {}
            if "metadata" in p:
                previous["metadata"] = copy.deepcopy(tr["metadata"])
                tr["metadata"] = _merge_metadata(tr["metadata"], p["metadata"])
            if "description" in p:
                previous["description"] = tr["description"]
                tr["description"] = p["description"] or None
            self._emit("transfer.updated", tr, previous_attributes=previous)
            return copy.deepcopy(tr)

    def _list_transfers(self, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _TRANSFER_LIST)
        with self._lock:
            items = list(self._transfers.values())
        if p.get("destination"):
            items = [t for t in items if t["destination"] == p["destination"]]
        if p.get("transfer_group"):
            items = [t for t in items if t["transfer_group"] == p["transfer_group"]]
        return self._list(items, p, "/v1/transfers", "transfer")

    def _list(self, items: list[dict[str, Any]], p: dict[str, Any], url: str, kind: str) -> dict[str, Any]:
        """Stripe list semantics: newest first, ``limit`` 1..100 (default 10), cursors
        ``starting_after`` / ``ending_before`` (object ids), ``created`` filter."""
        limit = _int_param(p, "limit", minimum=1, maximum=100) or 10
        items = list(reversed(items))  # creation order -> newest first
        created = p.get("created")
        if created not in (None, ""):
            items = [t for t in items if _created_matches(t["created"], created)]
        ids = [t["id"] for t in items]
        if p.get("starting_after"):
            cursor = p["starting_after"]
            if cursor not in ids:
                raise _no_such(kind.replace("_", " "), cursor, "starting_after", 400)
            page = items[ids.index(cursor) + 1 :]
            data, has_more = page[:limit], len(page) > limit
        elif p.get("ending_before"):
            cursor = p["ending_before"]
            if cursor not in ids:
                raise _no_such(kind.replace("_", " "), cursor, "ending_before", 400)
            page = items[: ids.index(cursor)]
            data, has_more = page[-limit:], len(page) > limit
        else:
            data, has_more = items[:limit], len(items) > limit
        return {"object": "list", "data": [copy.deepcopy(t) for t in data], "has_more": has_more, "url": url}

    def _create_reversal(self, tr_id: str, p: dict[str, Any]) -> dict[str, Any]:
        _check_known(p, _REVERSAL_CREATE)
        with self._lock:
            tr = self._transfers[tr_id]
            remaining = tr["amount"] - tr["amount_reversed"]
            if remaining <= 0:
                raise _invalid(
                    f"Transfer {tr_id} has already been reversed.", None, "transfer_already_reversed"
                )
            amount = _int_param(p, "amount", minimum=1)
            amount = remaining if amount is None else amount
            if amount > remaining:
                raise _invalid(
                    f"Reversal amount ({amount}) is greater than the unreversed "
                    f"amount on the transfer ({remaining}).",
                    "amount",
                )
            rev = {
                "id": _rand_id("trr_"),
                "object": "transfer_reversal",
                "amount": amount,
                "balance_transaction": _rand_id("txn_"),
                "created": int(time.time()),
                "currency": tr["currency"],
                "destination_payment_refund": _rand_id("pyr_"),
                "metadata": _check_metadata(p.get("metadata")),
                "source_refund": None,
                "transfer": tr_id,
            }
            self._reversals[rev["id"]] = rev
            tr["amount_reversed"] += amount
            tr["reversed"] = tr["amount_reversed"] >= tr["amount"]
            tr["reversals"]["data"].insert(0, copy.deepcopy(rev))
            tr["reversals"]["total_count"] += 1
            if self._balance.get(tr["currency"]) is not None:
                self._balance[tr["currency"]] += amount
            self._emit("transfer.reversed", tr)
            return copy.deepcopy(rev)

    def _balance_object(self) -> dict[str, Any]:
        with self._lock:
            currencies = self._balance or {"usd": None}
            available = [
                {
                    "amount": 10_000_000 if v is None else v,
                    "currency": c,
                    "source_types": {"card": 10_000_000 if v is None else v},
                }
                for c, v in currencies.items()
            ]
        return {
            "object": "balance",
            "available": available,
            "livemode": False,
            "pending": [
                {"amount": 0, "currency": a["currency"], "source_types": {"card": 0}} for a in available
            ],
        }


# ---------------------------------------------------------------------------- helpers
def _requirements(*, due: bool) -> dict[str, Any]:
    fields = ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"] if due else []
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(fields),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(fields),
        "past_due": list(fields),
        "pending_verification": [],
    }


def _merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    if update == "":
        return {}
    update = _check_metadata(update)
    merged = dict(current)
    for k, v in update.items():
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged


def _created_matches(created: int, flt: Any) -> bool:
    if isinstance(flt, dict):
        ops = {"gt": created.__gt__, "gte": created.__ge__, "lt": created.__lt__, "lte": created.__le__}
        return all(ops[k](int(v)) for k, v in flt.items() if k in ops)
    return created == int(flt)


def _stringify(value: Any) -> Any:
    """Python values -> the strings they would be on the wire (for ``create_account``)."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stringify(v) for v in value]
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return None
    return str(value)
