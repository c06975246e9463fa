"""Stripe behind an interface: plain values in, plain values out.

`StripeGateway` talks to Stripe with the real SDK (a `StripeClient` with an explicit key, never
the module-global one); `LedgerOnlyGateway` is what runs without credentials: nothing is sent and
nothing pretends to have been paid. `gateway_for(config)` picks one.

Transfers are retried here on network errors, 429 and 5xx with a short backoff and the SAME
idempotency key, so Stripe makes one transfer however often we ask. When the retries run out the
outcome is "uncertain": the caller leaves the payout for the reconciliation job, which looks the
transfer up by its transfer_group before it ever asks again.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import stripe

# `stripe` (with httpx and the rest it pulls in: about 10-12 MB) is imported inside the functions
# that talk to Stripe, so a web worker that never pays out or verifies a webhook never loads it.

log = logging.getLogger(__name__)

# Stripe's zero-decimal currencies: the API amount is in whole units.
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                          "VND", "VUV", "XAF", "XOF", "XPF"})
# Zero-decimal in ISO 4217 but two-decimal in Stripe's API (amounts × 100, whole units only).
ZERO_DECIMAL_SENT_AS_TWO = frozenset({"ISK", "UGX"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Two-decimal currencies whose payouts must be whole units (Stripe: divisible by 100).
WHOLE_UNIT_PAYOUTS = frozenset({"HUF", "TWD"})

TIMEOUT_S = 5.0
RETRY_DELAYS_S = (0.25, 0.5, 1.0)


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point of our amounts (ISO 4217 minor unit)."""
    currency = currency.upper()
    if currency in ZERO_DECIMAL or currency in ZERO_DECIMAL_SENT_AS_TWO:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def payable_step(currency: str) -> int:
    """A payout amount (in our minor units) must be a multiple of this."""
    currency = currency.upper()
    if currency in WHOLE_UNIT_PAYOUTS:
        return 100
    if currency in THREE_DECIMAL:
        return 10  # Stripe: three-decimal amounts must end in 0
    return 1


def to_stripe_amount(amount: int, currency: str) -> int:
    """Our minor units → the integer Stripe's API expects for `currency`."""
    if currency.upper() in ZERO_DECIMAL_SENT_AS_TWO:
        return amount * 100
    return amount


def from_stripe_amount(amount: int, currency: str) -> int:
    if currency.upper() in ZERO_DECIMAL_SENT_AS_TWO:
        return amount // 100
    return amount


@dataclass(frozen=True)
class AccountInfo:
    id: str
    payouts_enabled: bool
    details_submitted: bool
    transfers_active: bool


@dataclass(frozen=True)
class OnboardingLink:
    url: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class TransferRequest:
    payout_id: int
    user_id: int
    amount: int  # our minor units
    currency: str
    destination: str
    idempotency_key: str
    transfer_group: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TransferOutcome:
    """created: Stripe holds the transfer · refused: Stripe said no for good (nothing was made) ·
    uncertain: we could not learn what happened · not_sent: nothing was attempted."""

    status: str
    transfer_id: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class FoundTransfer:
    id: str
    amount: int  # our minor units
    currency: str
    destination: str | None


class GatewayUnavailable(Exception):
    """Stripe could not be reached or answered with an error the worker cannot fix."""


class GatewayNotConfigured(GatewayUnavailable):
    """No Stripe credentials on this server."""


class PayoutGateway:
    """The interface. `live` is False when nothing can reach a payment provider."""

    live = False

    def create_account(self, *, user_id: int, email: str, idempotency_key: str) -> AccountInfo:
        raise GatewayNotConfigured("payouts are not configured")

    def retrieve_account(self, account_id: str) -> AccountInfo:
        raise GatewayNotConfigured("payouts are not configured")

    def create_onboarding_link(self, account_id: str, *, return_url: str, refresh_url: str) -> OnboardingLink:
        raise GatewayNotConfigured("payouts are not configured")

    def create_transfer(self, request: TransferRequest) -> TransferOutcome:
        return TransferOutcome("not_sent", message="payouts are not configured")

    def find_transfer(self, *, transfer_group: str, payout_id: int) -> FoundTransfer | None:
        raise GatewayNotConfigured("payouts are not configured")


class LedgerOnlyGateway(PayoutGateway):
    """No credentials: payouts stay queued in the ledger, nothing is sent."""


def _account_info(account) -> AccountInfo:
    account = account.to_dict()  # stripe 16 objects are not dicts: plain values out
    capabilities = account.get("capabilities") or {}
    return AccountInfo(
        id=account["id"],
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        transfers_active=capabilities.get("transfers") == "active",
    )


def _describe(error: stripe.StripeError) -> str:
    code = getattr(error, "code", None)
    status = getattr(error, "http_status", None)
    message = (getattr(error, "user_message", None) or str(error) or type(error).__name__)[:300]
    return f"{type(error).__name__} {status or ''} {code or ''}: {message}".replace("  ", " ")


class StripeGateway(PayoutGateway):
    live = True

    def __init__(self, api_key: str, *, api_base: str = "", timeout: float = TIMEOUT_S,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS_S):
        self._api_key, self._api_base, self._timeout = api_key, api_base, timeout
        self.retry_delays = retry_delays

    @functools.cached_property
    def client(self) -> stripe.StripeClient:
        """Built on first use: views that only ask `live` (GET /me/payouts, …) never load stripe.
        Two threads may both build one at first; either is as good (no shared state)."""
        import stripe

        options = {}
        if self._api_base:  # tests: every base address, so nothing leaks to stripe.com
            options["base_addresses"] = {"api": self._api_base, "connect": self._api_base,
                                         "files": self._api_base, "meter_events": self._api_base}
        return stripe.StripeClient(self._api_key, max_network_retries=0,
                                   http_client=stripe.RequestsClient(timeout=self._timeout), **options)

    # -- accounts (the worker waits for these: one short attempt, then GatewayUnavailable)
    def create_account(self, *, user_id: int, email: str, idempotency_key: str) -> AccountInfo:
        import stripe

        try:
            account = self.client.v1.accounts.create(params={
                "type": "express", "email": email,
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"user_id": str(user_id)},
            }, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as error:
            log.warning("stripe account create failed: %s", _describe(error))
            raise GatewayUnavailable(_describe(error)) from None
        return _account_info(account)

    def retrieve_account(self, account_id: str) -> AccountInfo:
        import stripe

        try:
            return _account_info(self.client.v1.accounts.retrieve(account_id))
        except stripe.StripeError as error:
            log.warning("stripe account retrieve failed: %s", _describe(error))
            raise GatewayUnavailable(_describe(error)) from None

    def create_onboarding_link(self, account_id: str, *, return_url: str, refresh_url: str) -> OnboardingLink:
        import stripe

        try:
            link = self.client.v1.account_links.create(params={
                "account": account_id, "type": "account_onboarding",
                "return_url": return_url, "refresh_url": refresh_url,
            })
        except stripe.StripeError as error:
            log.warning("stripe account link failed: %s", _describe(error))
            raise GatewayUnavailable(_describe(error)) from None
        return OnboardingLink(link.url, dt.datetime.fromtimestamp(link.expires_at, dt.UTC))

    # -- transfers (run by scheduler jobs: bounded retries with the same key)
    def create_transfer(self, request: TransferRequest) -> TransferOutcome:
        import stripe

        params = {
            "amount": to_stripe_amount(request.amount, request.currency),
            "currency": request.currency.lower(),
            "destination": request.destination,
            "transfer_group": request.transfer_group,
            "metadata": {"payout_id": str(request.payout_id), "user_id": str(request.user_id),
                         **request.metadata},
            "description": f"LabelPath payout {request.payout_id}",
        }
        last_error = "no attempt"
        for attempt in range(len(self.retry_delays) + 1):
            if attempt:
                time.sleep(self.retry_delays[attempt - 1])
            try:
                transfer = self.client.v1.transfers.create(
                    params=params, options={"idempotency_key": request.idempotency_key})
                return TransferOutcome("created", transfer_id=transfer.id)
            except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
                # Network trouble, 429, 5xx or 409 key-in-use: ask again with the same key.
                last_error = _describe(error)
                log.info("transfer for payout %s: retryable error %s", request.payout_id, last_error)
            except stripe.IdempotencyError as error:
                # The key was used with other parameters: never guess, let reconciliation look.
                return TransferOutcome("uncertain", code="idempotency_error", message=_describe(error))
            except (stripe.AuthenticationError, stripe.PermissionError) as error:
                # Our credentials are wrong: nothing was made; keep the payout for later.
                log.error("stripe refused our credentials: %s", _describe(error))
                return TransferOutcome("not_sent", code="authentication", message=_describe(error))
            except stripe.StripeError as error:
                # 4xx invalid request (balance_insufficient, capabilities, …): Stripe made nothing.
                return TransferOutcome("refused", code=getattr(error, "code", None) or "invalid_request",
                                       message=_describe(error))
        return TransferOutcome("uncertain", code="retries_exhausted", message=last_error)

    def find_transfer(self, *, transfer_group: str, payout_id: int) -> FoundTransfer | None:
        """The transfer made for a payout, looked up by transfer_group and metadata."""
        import stripe

        last_error = "no attempt"
        for attempt in range(len(self.retry_delays) + 1):
            if attempt:
                time.sleep(self.retry_delays[attempt - 1])
            try:
                page = self.client.v1.transfers.list(params={"transfer_group": transfer_group, "limit": 100})
                for item in page.auto_paging_iter():
                    transfer = item.to_dict()
                    metadata = transfer.get("metadata") or {}
                    if metadata.get("payout_id") == str(payout_id) and transfer.get("transfer_group") == transfer_group:
                        return FoundTransfer(transfer["id"],
                                             from_stripe_amount(transfer["amount"], transfer["currency"]),
                                             transfer["currency"].upper(), transfer.get("destination"))
                return None
            except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
                last_error = _describe(error)
            except stripe.StripeError as error:
                raise GatewayUnavailable(_describe(error)) from None
        raise GatewayUnavailable(last_error)


def verify_webhook(payload: bytes, signature: str | None, secrets: list[str]) -> dict:
    """The event as a plain dict if `signature` was made with one of `secrets` (platform and
    Connect endpoints have different secrets); ValueError otherwise."""
    import stripe

    for secret in secrets:
        if not secret:
            continue
        try:
            stripe.Webhook.construct_event(payload, signature or "", secret)
        except stripe.SignatureVerificationError:
            continue
        except ValueError:
            raise ValueError("the payload is not a JSON event") from None
        return json.loads(payload)
    raise ValueError("no configured secret verifies the signature")


def gateway_for(config) -> PayoutGateway:
    if not config.get("STRIPE_API_KEY"):
        return LedgerOnlyGateway()
    return StripeGateway(config["STRIPE_API_KEY"], api_base=config.get("STRIPE_API_BASE") or "")
