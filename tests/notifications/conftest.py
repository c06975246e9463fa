"""Notification fixtures: the FCM stand-in driven by the real firebase-admin SDK, workers with devices."""

from __future__ import annotations

import json

import pytest

from tests.notifications.helpers import Workers, use_fcm
from tests.standins import FcmStandIn, isolate_network_env


@pytest.fixture(scope="session")
def fcm_server():
    with isolate_network_env(), FcmStandIn() as server:
        yield server


@pytest.fixture(scope="session")
def service_account_file(fcm_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("firebase") / "service-account.json"
    path.write_text(json.dumps(fcm_server.make_service_account()))
    return str(path)


@pytest.fixture
def fcm(app, fcm_server, service_account_file):
    """The stand-in, clean, with `app` configured to push through it."""
    fcm_server.reset()
    use_fcm(app, fcm_server, service_account_file)
    yield fcm_server
    fcm_server.reset()


@pytest.fixture
def workers(app, client, auth):
    return Workers(app, client, auth)
