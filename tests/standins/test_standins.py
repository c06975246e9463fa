"""The stand-ins, driven by the REAL stripe (16.x) and firebase-admin (7.x) SDKs.

No database, no Flask app. Run: .venv/bin/pytest --noconftest -q tests/standins
"""

from __future__ import annotations

import json
import threading
import time

import firebase_admin
import google.auth.exceptions
import pytest
import requests
import stripe
from firebase_admin import _http_client, exceptions, messaging

from . import (
    FcmStandIn,
    StripeStandIn,
    bind_messaging,
    build_webhook_request,
    fcm_app,
    fcm_app_context,
    isolate_network_env,
    make_event,
    make_service_account,
    sign_stripe_payload,
)
from .stripe_server import decode_form

# ============================================================================ Stripe


@pytest.fixture(scope="module")
def stripe_api():
    with isolate_network_env(), StripeStandIn(hang_seconds=10) as server:
        yield server


@pytest.fixture
def api(stripe_api, monkeypatch):
    monkeypatch.setattr(stripe, "enable_telemetry", False)  # no ~/.config/stripe/telemetry_id
    stripe_api.reset()
    yield stripe_api
    stripe_api.reset()


def make_client(
    api: StripeStandIn, *, retries: int = 0, timeout: float = 2.0, key: str = "sk_test_labelpath"
) -> stripe.StripeClient:
    """The wiring the app's Stripe gateway must use."""
    return stripe.StripeClient(
        key,
        base_addresses={"api": api.url, "connect": api.url, "files": api.url, "meter_events": api.url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@pytest.fixture
def client(api):
    return make_client(api)


@pytest.fixture
def worker_account(api):
    return api.create_account(email="worker@example.com", onboarded=True)


def transfer_params(destination: str, amount: int = 1250, group: str = "payout_7") -> dict:
    return {
        "amount": amount,
        "currency": "usd",
        "destination": destination,
        "transfer_group": group,
        "metadata": {"payout_id": "7"},
    }


def test_form_decoding_matches_stripe_encoding():
    assert decode_form(
        "metadata[worker_id]=42&capabilities[transfers][requested]=true&expand[0]=a&expand[1]=b&amount=5"
    ) == {
        "metadata": {"worker_id": "42"},
        "capabilities": {"transfers": {"requested": "true"}},
        "expand": ["a", "b"],
        "amount": "5",
    }


def test_express_account_link_and_onboarding(api, client):
    acct = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "w@example.com",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"worker_id": "42"},
        }
    )
    assert acct.id.startswith("acct_") and acct.object == "account" and acct.type == "express"
    assert acct.capabilities["transfers"] == "inactive"
    assert (acct.details_submitted, acct.charges_enabled, acct.payouts_enabled) == (False, False, False)
    sent = api.requests[-1]
    assert sent.method == "POST" and sent.path == "/v1/accounts"
    assert sent.params["capabilities"] == {"transfers": {"requested": "true"}}
    assert sent.params["metadata"] == {"worker_id": "42"}
    assert sent.header("authorization") == "Bearer sk_test_labelpath"
    assert sent.header("idempotency-key")  # the SDK sends one on every POST

    link = client.v1.account_links.create(
        params={
            "account": acct.id,
            "refresh_url": "https://app.test/refresh",
            "return_url": "https://app.test/done",
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link" and link.url.startswith(api.url)
    assert link.expires_at > time.time()

    # following the link (as a browser would) completes onboarding and returns to the app
    answer = requests.get(link.url, allow_redirects=False, timeout=2)
    assert answer.status_code == 302 and answer.headers["Location"] == "https://app.test/done"
    again = requests.get(link.url, allow_redirects=False, timeout=2)
    assert again.headers["Location"] == "https://app.test/refresh"  # links are single-use

    fetched = client.v1.accounts.retrieve(acct.id)
    assert fetched.details_submitted and fetched.payouts_enabled and fetched.charges_enabled
    assert fetched.capabilities["transfers"] == "active"
    event = api.events[-1]
    assert event["type"] == "account.updated" and event["account"] == acct.id

    api.set_account(acct.id, payouts_enabled=False)
    assert client.v1.accounts.retrieve(acct.id).payouts_enabled is False


def test_transfer_idempotent_replay(api, client, worker_account):
    params = transfer_params(worker_account["id"])
    first = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-7"})
    assert first.id.startswith("tr_") and first.object == "transfer"
    assert (first.amount, first.currency, first.destination) == (1250, "usd", worker_account["id"])
    assert first.metadata["payout_id"] == "7" and first.transfer_group == "payout_7"
    assert first.last_response.headers.get("Idempotent-Replayed") is None

    replay = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-7"})
    assert replay.id == first.id
    assert replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(api.transfers) == 1
    assert client.v1.transfers.retrieve(first.id).amount == 1250


def test_same_key_different_params_is_idempotency_error(api, client, worker_account):
    client.v1.transfers.create(
        params=transfer_params(worker_account["id"]), options={"idempotency_key": "payout-8"}
    )
    with pytest.raises(stripe.IdempotencyError) as info:
        client.v1.transfers.create(
            params=transfer_params(worker_account["id"], amount=999), options={"idempotency_key": "payout-8"}
        )
    assert info.value.http_status == 400
    assert info.value.json_body["error"]["type"] == "idempotency_error"
    assert len(api.transfers) == 1


def test_balance_insufficient_is_stored_under_the_key(api, client, worker_account):
    api.fail_next("balance_insufficient", "/v1/transfers")
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.transfers.create(
            params=transfer_params(worker_account["id"]), options={"idempotency_key": "payout-9"}
        )
    assert info.value.code == "balance_insufficient" and info.value.http_status == 400
    # Stripe stores the result of an executed request, errors included: same key, same answer
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.transfers.create(
            params=transfer_params(worker_account["id"]), options={"idempotency_key": "payout-9"}
        )
    assert again.value.code == "balance_insufficient"
    assert again.value.headers["Idempotent-Replayed"] == "true"
    assert api.transfers == []
    # a real balance limit behaves the same way
    api.set_balance(1000)
    with pytest.raises(stripe.InvalidRequestError, match="insufficient available funds"):
        client.v1.transfers.create(params=transfer_params(worker_account["id"], amount=1001))
    client.v1.transfers.create(params=transfer_params(worker_account["id"], amount=1000))
    assert api.balance() == 0


def test_rate_limit_is_not_stored(api, client, worker_account):
    api.fail_next("rate_limit")
    with pytest.raises(stripe.RateLimitError) as info:
        client.v1.transfers.create(
            params=transfer_params(worker_account["id"]), options={"idempotency_key": "payout-10"}
        )
    assert info.value.http_status == 429
    assert info.value.json_body["error"]["code"] == "rate_limit"
    assert not isinstance(info.value, stripe.InvalidRequestError)
    # safe to retry with the same key
    done = client.v1.transfers.create(
        params=transfer_params(worker_account["id"]), options={"idempotency_key": "payout-10"}
    )
    assert [t["id"] for t in api.transfers] == [done.id]


def test_server_error_is_api_error(api, client, worker_account):
    api.fail_next("server_error")
    with pytest.raises(stripe.APIError) as info:
        client.v1.transfers.create(params=transfer_params(worker_account["id"]))
    assert info.value.http_status == 500
    assert info.value.json_body["error"]["type"] == "api_error"
    assert api.transfers == []


def test_authentication_error(api):
    with pytest.raises(stripe.AuthenticationError) as info:
        make_client(api, key="sk_live_notallowed1234").v1.transfers.list()
    assert info.value.http_status == 401
    assert "sk_live_" in info.value.user_message and "notallowed" not in info.value.user_message


def test_validation_errors(api, client, worker_account):
    with pytest.raises(stripe.InvalidRequestError) as unknown:  # options belong in `options`
        client.v1.transfers.create(params={**transfer_params(worker_account["id"]), "idempotency_key": "k"})
    assert unknown.value.param == "idempotency_key"
    fresh = api.create_account()  # not onboarded: transfers capability inactive
    with pytest.raises(stripe.InvalidRequestError) as caps:
        client.v1.transfers.create(params=transfer_params(fresh["id"]))
    assert caps.value.code == "insufficient_capabilities_for_transfer"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.transfers.retrieve("tr_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"


def test_drop_is_connection_error_and_nothing_happened(api, client, worker_account):
    api.fail_next("drop")
    with pytest.raises(stripe.APIConnectionError) as info:
        client.v1.transfers.create(
            params=transfer_params(worker_account["id"]), options={"idempotency_key": "payout-11"}
        )
    assert info.value.should_retry is True
    assert api.transfers == [] and api.requests[-1].status == "dropped"


def test_drop_after_commit_then_replay_finds_the_transfer(api, client, worker_account):
    params = transfer_params(worker_account["id"])
    api.fail_next("drop_after_commit", "/v1/transfers")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.transfers.create(params=params, options={"idempotency_key": "payout-12"})
    assert len(api.transfers) == 1  # Stripe did it although the client saw a network error
    replay = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-12"})
    assert replay.id == api.transfers[0]["id"]
    assert replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(api.transfers) == 1
    # a replay whose answer is lost too is still harmless
    api.fail_next("drop_after_commit", "/v1/transfers")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.transfers.create(params=params, options={"idempotency_key": "payout-12"})
    assert client.v1.transfers.create(params=params, options={"idempotency_key": "payout-12"}).id == replay.id
    assert len(api.transfers) == 1


def test_sdk_retry_reuses_its_idempotency_key(api, worker_account):
    client = make_client(api, retries=1)
    api.fail_next("drop_after_commit", "/v1/transfers")
    tr = client.v1.transfers.create(params=transfer_params(worker_account["id"]))
    attempts = api.requests_to("/v1/transfers", "POST")
    assert len(attempts) == 2
    assert attempts[0].header("idempotency-key") == attempts[1].header("idempotency-key")
    assert [t["id"] for t in api.transfers] == [tr.id]


def test_expired_idempotency_key_creates_a_second_transfer(api, client, worker_account):
    params = transfer_params(worker_account["id"], group="payout_13")
    client.v1.transfers.create(params=params, options={"idempotency_key": "payout-13"})
    api.expire_idempotency_keys()  # ~24 h later: replay is no longer safe, reconcile by group
    client.v1.transfers.create(params=params, options={"idempotency_key": "payout-13"})
    assert len(client.v1.transfers.list(params={"transfer_group": "payout_13"}).data) == 2


def test_concurrent_duplicate_gets_409(api, client, worker_account):
    params = transfer_params(worker_account["id"])
    api.fail_next("slow", "/v1/transfers", seconds=0.5)
    results = {}
    first = threading.Thread(
        target=lambda: results.setdefault(
            "first", client.v1.transfers.create(params=params, options={"idempotency_key": "payout-14"})
        )
    )
    first.start()
    time.sleep(0.2)
    with pytest.raises(stripe.APIError) as info:
        make_client(api).v1.transfers.create(params=params, options={"idempotency_key": "payout-14"})
    first.join()
    assert info.value.http_status == 409
    assert info.value.json_body["error"]["code"] == "idempotency_key_in_use"
    assert len(api.transfers) == 1 and results["first"].id == api.transfers[0]["id"]


def test_hang_times_out_as_connection_error(api, worker_account):
    api.fail_next("hang")
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError, match="Timeout"):
        make_client(api, timeout=0.5).v1.transfers.create(params=transfer_params(worker_account["id"]))
    assert time.monotonic() - started < 3


def test_list_transfers_by_group_and_destination(api, client, worker_account):
    other = api.create_account(onboarded=True)
    for i in range(3):
        client.v1.transfers.create(
            params=transfer_params(worker_account["id"], amount=100 + i, group="batch_1")
        )
    client.v1.transfers.create(params=transfer_params(other["id"], group="batch_1"))
    client.v1.transfers.create(params=transfer_params(worker_account["id"], group="batch_2"))

    page = client.v1.transfers.list(params={"transfer_group": "batch_1", "limit": 2})
    assert page.object == "list" and page.url == "/v1/transfers"
    assert len(page.data) == 2 and page.has_more is True
    assert len(list(page.auto_paging_iter())) == 4
    mine = client.v1.transfers.list(params={"transfer_group": "batch_1", "destination": worker_account["id"]})
    assert [t.amount for t in mine.data] == [102, 101, 100]  # newest first
    assert api.requests[-1].params == {"transfer_group": "batch_1", "destination": worker_account["id"]}


def test_reversal(api, client, worker_account):
    tr = client.v1.transfers.create(params=transfer_params(worker_account["id"]))
    rev = client.v1.transfers.reversals.create(tr.id, params={"amount": 250})
    assert rev.id.startswith("trr_") and rev.object == "transfer_reversal" and rev.transfer == tr.id
    assert client.v1.transfers.retrieve(tr.id).amount_reversed == 250
    client.v1.transfers.reversals.create(tr.id)
    assert client.v1.transfers.retrieve(tr.id).reversed is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(tr.id)


def test_webhook_signature_round_trip(api, client, worker_account):
    secret = "whsec_standin_connect"
    event = make_event("account.updated", api.account(worker_account["id"]), account=worker_account["id"])
    assert event["id"].startswith("evt_") and event["object"] == "event" and event["livemode"] is False
    body, headers = build_webhook_request(event, secret)

    verified = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
    assert verified.id == event["id"] and verified.type == "account.updated"
    assert verified.account == worker_account["id"]
    assert verified.data.object.id == worker_account["id"]
    # the StripeClient flavour verifies the same header
    assert client.construct_event(body, headers["Stripe-Signature"], secret).id == event["id"]

    tampered = body.replace(b"account.updated", b"account.deleted")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, headers["Stripe-Signature"], secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")
    stale = sign_stripe_payload(body, secret, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, stale, secret)  # default tolerance 300 s

    # the stand-in records the events Stripe would send
    client.v1.transfers.create(params=transfer_params(worker_account["id"]))
    created = api.events[-1]
    assert created["type"] == "transfer.created" and "account" not in created


# ============================================================================ FCM


@pytest.fixture(scope="module")
def fcm_server():
    with isolate_network_env(), FcmStandIn(hang_seconds=10) as server:
        yield server


@pytest.fixture(scope="module")
def fcm_app_module(fcm_server):
    app = fcm_app(fcm_server, "standin-tests", http_timeout=2)
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
def fcm(fcm_server):
    fcm_server.reset()
    yield fcm_server
    fcm_server.reset()


@pytest.fixture
def app(fcm, fcm_app_module):
    return fcm_app_module


def note(fid: str, **data: str) -> messaging.Message:
    return messaging.Message(
        fid=fid, notification=messaging.Notification(title="New task", body="Go"), data=data or None
    )


def test_guard_private_fcm_url_attribute():
    """Fails when firebase-admin moves the names our FCM wiring relies on."""
    url = messaging._MessagingService.FCM_URL
    assert isinstance(url, str)
    assert url.format("proj") == "https://fcm.googleapis.com/v1/projects/proj/messages:send"
    assert callable(messaging._get_messaging_service)
    retry = _http_client.DEFAULT_RETRY_CONFIG  # the documented retry behaviour
    assert (retry.status, list(retry.status_forcelist), retry.read) == (4, [500, 503], 1)
    assert _http_client.DEFAULT_TIMEOUT_SECONDS == 120


def test_bound_service_uses_standin_and_restores_class_attribute(fcm, app):
    service = messaging._get_messaging_service(app)
    assert service._fcm_url == f"{fcm.url}/v1/projects/labelpath-test/messages:send"
    assert messaging._MessagingService.FCM_URL.startswith("https://fcm.googleapis.com/")
    assert app.options.get("httpTimeout") == 2


def test_send_authenticates_with_verified_jwt(fcm, app):
    name = messaging.send(note("fid-1", task="7"), app=app)
    assert name.startswith("projects/labelpath-test/messages/")
    assert fcm.messages == [
        {"fid": "fid-1", "data": {"task": "7"}, "notification": {"title": "New task", "body": "Go"}}
    ]
    send = fcm.send_attempts()[-1]
    assert send.header("authorization").startswith("Bearer ya29.standin.")
    assert send.params == {"message": fcm.messages[0]}


def test_token_endpoint_checks_signature(fcm):
    sa = fcm.make_service_account()
    with fcm_app_context(fcm, service_account=sa) as fresh:
        messaging.send(note("fid-2"), app=fresh)
    grant = fcm.token_grants[-1]
    assert grant["header"]["alg"] == "RS256" and grant["header"]["kid"] == sa["private_key_id"]
    assert grant["claims"]["iss"] == sa["client_email"]
    assert "https://www.googleapis.com/auth/cloud-platform" in grant["claims"]["scope"]
    forged = requests.post(
        fcm.token_uri,
        timeout=2,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
        },
    )
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_grant"
    no_token = requests.post(
        f"{fcm.url}/v1/projects/labelpath-test/messages:send", timeout=2, json={"message": {"fid": "x"}}
    )
    assert no_token.status_code == 401 and no_token.json()["error"]["status"] == "UNAUTHENTICATED"


def test_legacy_token_field_and_dry_run(fcm, app):
    with pytest.warns(DeprecationWarning):  # firebase-admin 7.7 deprecates Message.token for fid
        legacy = messaging.Message(token="reg-token-1", data={"k": "v"})
    messaging.send(legacy, app=app)
    assert fcm.messages_to("reg-token-1") == [{"token": "reg-token-1", "data": {"k": "v"}}]
    name = messaging.send(note("fid-3"), dry_run=True, app=app)
    assert name.endswith("/messages/fake_message_id")
    assert fcm.messages_to("fid-3") == [] and fcm.deliveries[-1]["validate_only"] is True


def test_send_each_with_one_unregistered_token(fcm, app):
    fcm.fail_token("fid-gone", "unregistered")
    batch = messaging.send_each([note("fid-a"), note("fid-gone"), note("fid-b")], app=app)
    assert (batch.success_count, batch.failure_count) == (2, 1)
    failed = batch.responses[1]
    assert not failed.success and isinstance(failed.exception, messaging.UnregisteredError)
    assert isinstance(failed.exception, exceptions.NotFoundError)
    assert failed.exception.http_response.status_code == 404
    assert failed.exception.http_response.json()["error"]["details"][0]["errorCode"] == "UNREGISTERED"
    assert sorted(m["fid"] for m in fcm.messages) == ["fid-a", "fid-b"]


def test_quota_exceeded(fcm, app):
    fcm.fail_token("fid-q", "quota_exceeded")
    with pytest.raises(messaging.QuotaExceededError) as info:
        messaging.send(note("fid-q"), app=app)
    assert isinstance(info.value, exceptions.ResourceExhaustedError)
    assert info.value.http_response.headers["Retry-After"] == "1"
    assert len(fcm.send_attempts("fid-q")) == 5  # urllib3 retries 429 + Retry-After 4 times


def test_sdk_honours_retry_after_on_429(fcm):
    with fcm_app_context(fcm, retry="sdk", http_timeout=2) as sdk_app:  # the SDK's own policy
        fcm.fail_next("quota_exceeded", times=1, retry_after=1)
        started = time.monotonic()
        messaging.send(note("fid-r"), app=sdk_app)  # succeeds on the retry
        assert time.monotonic() - started >= 1.0
    assert [r.status for r in fcm.send_attempts("fid-r")] == [429, 200]


def test_invalid_argument(fcm, app):
    fcm.fail_token("fid-bad", "invalid_argument")
    with pytest.raises(exceptions.InvalidArgumentError) as info:
        messaging.send(note("fid-bad"), app=app)
    assert info.value.code == exceptions.INVALID_ARGUMENT


def test_500_and_503_are_retried_by_the_sdk(fcm, app):
    fcm.fail_next("unavailable", times=1)
    messaging.send(note("fid-u"), app=app)  # transparently retried
    assert [r.status for r in fcm.send_attempts("fid-u")] == [503, 200]

    fcm.fail_token("fid-i", "internal")
    with pytest.raises(exceptions.InternalError):
        messaging.send(note("fid-i"), app=app)
    assert len(fcm.send_attempts("fid-i")) == 5  # 1 + status=4 retries

    fcm.fail_token("fid-v", "unavailable")
    with pytest.raises(exceptions.UnavailableError):
        messaging.send(note("fid-v"), app=app)


def test_drop_is_an_error_not_a_hang(fcm, app):
    fcm.fail_next("drop", times=None)
    started = time.monotonic()
    with pytest.raises(exceptions.UnavailableError):
        messaging.send(note("fid-d"), app=app)
    assert time.monotonic() - started < 2
    assert len(fcm.send_attempts("fid-d")) == 2  # a dropped POST is retried once (read=1)


def test_hang_is_bounded_by_http_timeout(fcm):
    fcm.fail_next("hang", times=None)
    with fcm_app_context(fcm, http_timeout=0.5, retry=None) as quick:
        started = time.monotonic()
        with pytest.raises(exceptions.DeadlineExceededError):  # no retries: a plain timeout
            messaging.send(note("fid-h"), app=quick)
    assert time.monotonic() - started < 3


def test_down_and_up(fcm, app):
    messaging.send(note("fid-warm"), app=app)
    for mode in ("refuse", "drop"):
        fcm.down(mode)
        with pytest.raises(exceptions.UnavailableError):
            messaging.send(note("fid-down"), app=app)
        fcm.up()
        messaging.send(note("fid-up"), app=app)
    assert [m["fid"] for m in fcm.messages] == ["fid-warm", "fid-up", "fid-up"]


def test_token_endpoint_failures_escape_firebase_errors(fcm):
    with fcm_app_context(fcm) as fresh:  # no cached access token yet
        fcm.fail_next("invalid_grant", endpoint="token")
        with pytest.raises(google.auth.exceptions.RefreshError):
            messaging.send(note("fid-t"), app=fresh)
        fcm.fail_next("invalid_grant", endpoint="token")
        with pytest.raises(exceptions.UnknownError):  # send_each wraps it, whole batch fails
            messaging.send_each([note("fid-t")], app=fresh)
        fcm.down()
        with pytest.raises(google.auth.exceptions.TransportError):
            messaging.send(note("fid-t"), app=fresh)
        fcm.up()
        messaging.send(note("fid-t"), app=fresh)


def test_revoked_access_token_is_refreshed_by_the_sdk(fcm, app):
    messaging.send(note("fid-1"), app=app)
    fcm.revoke_access_tokens()
    messaging.send(note("fid-2"), app=app)
    assert [(r.path.rsplit("/", 1)[-1], r.status) for r in fcm.requests[-3:]] == [
        ("messages:send", 401),
        ("token", 200),
        ("messages:send", 200),
    ]


def test_bind_refuses_an_already_created_service(fcm):
    sa = make_service_account(fcm.token_uri)
    other = firebase_admin.initialize_app(
        firebase_admin.credentials.Certificate(sa), {"projectId": sa["project_id"]}, name="prebound"
    )
    try:
        messaging._get_messaging_service(other)  # created against the real URL
        with pytest.raises(RuntimeError, match="already existed"):
            bind_messaging(other, fcm)
    finally:
        firebase_admin.delete_app(other)


def test_send_each_empty_list_raises_unknown_error(app):
    with pytest.raises(exceptions.UnknownError):
        messaging.send_each([], app=app)


def test_google_error_body_format(fcm, app):
    fcm.fail_token("fid-q2", "quota_exceeded")
    with pytest.raises(messaging.QuotaExceededError) as info:
        messaging.send(note("fid-q2"), app=app)
    body = json.loads(info.value.http_response.content)
    assert body["error"]["code"] == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["details"] == [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED"}
    ]
