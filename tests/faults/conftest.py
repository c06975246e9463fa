"""Fixtures of the fault tests: the FCM and Stripe stand-ins (driven by the real SDKs), apps
configured for them, and helpers to make workers with money, phones and notifications."""

from __future__ import annotations

import json

import pytest
import stripe

from backend.payouts.gateway import StripeGateway
from tests.standins import FcmStandIn, StripeStandIn, isolate_network_env

STRIPE_KEY = "sk_test_faults"
WEBHOOK_SECRET = "whsec_faults_platform"
CONNECT_SECRET = "whsec_faults_connect"


@pytest.fixture(scope="session")
def fcm_server():
    with isolate_network_env(), FcmStandIn(hang_seconds=30) as server:
        yield server


@pytest.fixture(scope="session")
def service_account_file(fcm_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("firebase") / "service-account.json"
    path.write_text(json.dumps(fcm_server.make_service_account()))
    return str(path)


@pytest.fixture(scope="session")
def stripe_server():
    with isolate_network_env(), StripeStandIn(hang_seconds=30) as server:
        yield server


def outside_config(fcm_server, service_account_file, stripe_server) -> dict:
    """What production sets for FCM and Stripe, pointed at the stand-ins (also for subprocesses)."""
    return {"FIREBASE_CREDENTIALS": service_account_file, "FCM_API_BASE": fcm_server.url, "FCM_HTTP_TIMEOUT_S": 2,
            "STRIPE_API_KEY": STRIPE_KEY, "STRIPE_API_BASE": stripe_server.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_SECRET,
            "PAYOUT_MINIMUM": 100}


def configure(app, fcm_server, service_account_file, stripe_server, *, fast_stripe: bool = True) -> None:
    app.config.update(outside_config(fcm_server, service_account_file, stripe_server))
    app.extensions.pop("labelpath_push_gateway", None)
    app.extensions.pop("labelpath_payout_gateway", None)
    if fast_stripe:
        app.extensions["labelpath_payout_gateway"] = StripeGateway(
            STRIPE_KEY, api_base=stripe_server.url, timeout=2, retry_delays=(0.01, 0.02))


@pytest.fixture
def standins(fcm_server, stripe_server, monkeypatch):
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    fcm_server.reset()
    fcm_server.up()
    stripe_server.reset()
    yield fcm_server, stripe_server
    fcm_server.up()
    fcm_server.reset()
    stripe_server.reset()
