"""Fixtures of the security tests: the Stripe stand-in wired as production would be, and `world`,
one of every object a route can name, built through the public API (tests/security/world.py)."""

from __future__ import annotations

import pytest
import stripe

from backend.payouts.gateway import StripeGateway
from tests.security.world import World
from tests.standins import StripeStandIn, isolate_network_env

STRIPE_KEY = "sk_test_security"
WEBHOOK_SECRET = "whsec_security_platform"
CONNECT_SECRET = "whsec_security_connect"


@pytest.fixture(scope="session")
def stripe_server():
    with isolate_network_env(), StripeStandIn(hang_seconds=5) as server:
        yield server


def use_stripe(app, server) -> None:
    """Stripe configured (credentials, webhook secrets), talking to the stand-in."""
    app.config.update(STRIPE_API_KEY=STRIPE_KEY, STRIPE_API_BASE=server.url,
                      STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_SECRET)
    app.extensions["labelpath_payout_gateway"] = StripeGateway(STRIPE_KEY, api_base=server.url, timeout=2,
                                                               retry_delays=(0.01,))


@pytest.fixture
def stripe_api(app, stripe_server, monkeypatch):
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    stripe_server.reset()
    use_stripe(app, stripe_server)
    yield stripe_server
    stripe_server.reset()


@pytest.fixture
def world(app, client, auth, tmp_path, stripe_api):
    app.config["STORAGE_LOCAL_DIR"] = str(tmp_path / "media")
    return World.build(app, client, auth, stripe_api)
