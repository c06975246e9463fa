"""Loopback stand-ins for the outside services LabelPath talks to.

Two small HTTP servers, standard library only, that speak the same wire format as the real
services -- including their error answers -- so that tests drive the REAL ``stripe`` and
``firebase-admin`` SDKs against them:

* :class:`StripeStandIn` (``stripe_server.py``): Stripe API v1 for Connect payouts
  (accounts, account links, transfers, reversals, balance), Stripe idempotency semantics,
  failure injection, webhook signing helpers.
* :class:`FcmStandIn` (``fcm_server.py``): Google OAuth2 token endpoint + FCM HTTP v1
  ``messages:send``, Google error format, failure injection, service-account generator and a
  helper that binds a named ``firebase_admin`` app to the stand-in.

Both servers share this module's :class:`StandInServer` base: ``ThreadingHTTPServer`` on
127.0.0.1, port 0 (a free port is picked), served from a daemon thread::

    with StripeStandIn() as stripe_api:          # or s = StripeStandIn().start(); s.stop()
        stripe_api.url                           # "http://127.0.0.1:<port>"
        stripe_api.requests                      # [RecordedRequest, ...]

Import path: ``tests`` is a package and pytest runs with ``pythonpath = ["."]``, so app tests
write ``from tests.standins import StripeStandIn, FcmStandIn, fcm_app`` (inside this package,
relative imports).

Network hygiene (see ``isolate_network_env``): ``requests`` honours ``HTTP(S)_PROXY``/``ALL_PROXY``
from the environment, which would send loopback traffic to a proxy; ``start()`` therefore adds
``127.0.0.1,localhost`` to ``NO_PROXY``/``no_proxy`` whenever a proxy variable is set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "StandInServer",
    "RecordedRequest",
    "isolate_network_env",
    "StripeStandIn",
    "sign_stripe_payload",
    "make_event",
    "build_webhook_request",
    "FcmStandIn",
    "make_service_account",
    "fcm_app",
    "fcm_app_context",
    "bind_messaging",
    "sdk_like_fast_retry",
]

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_LOOPBACK = ("127.0.0.1", "localhost")

# Environment variables that make google-auth / requests reach beyond the loopback stand-ins.
_GOOGLE_NETWORK_VARS = (
    # google-auth >= 2.4x: opt-in Regional Access Boundary lookup -> iamcredentials.googleapis.com
    "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED",
    # mTLS endpoint switching / client certificates
    "GOOGLE_API_USE_CLIENT_CERTIFICATE",
    "GOOGLE_API_USE_MTLS_ENDPOINT",
    # only read by firebase_admin.initialize_app() when no options are passed
    "FIREBASE_CONFIG",
    # only used by Application Default Credentials (never by a Certificate credential)
    "GOOGLE_APPLICATION_CREDENTIALS",
)


def _ensure_loopback_no_proxy() -> None:
    """Make sure proxies from the environment are bypassed for 127.0.0.1/localhost."""
    if not any(os.environ.get(v) for v in _PROXY_VARS):
        return
    for var in ("NO_PROXY", "no_proxy"):
        current = [p.strip() for p in os.environ.get(var, "").split(",") if p.strip()]
        missing = [h for h in _LOOPBACK if h not in current]
        if missing:
            os.environ[var] = ",".join(current + missing)


@contextlib.contextmanager
def isolate_network_env() -> Iterator[None]:
    """Context manager for tests: bypass proxies for loopback and drop the environment
    variables that would make google-auth/firebase-admin reach the internet (Regional Access
    Boundary lookups, mTLS endpoints, ADC/FIREBASE_CONFIG). Restores the environment on exit."""
    saved = {k: os.environ.get(k) for k in (*_GOOGLE_NETWORK_VARS, "NO_PROXY", "no_proxy")}
    try:
        for k in _GOOGLE_NETWORK_VARS:
            os.environ.pop(k, None)
        for var in ("NO_PROXY", "no_proxy"):
            current = [p.strip() for p in os.environ.get(var, "").split(",") if p.strip()]
            os.environ[var] = ",".join(current + [h for h in _LOOPBACK if h not in current])
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclasses.dataclass
class RecordedRequest:
    """One request as the stand-in received it.

    ``headers`` keys are lower-cased. ``params`` is the decoded payload: for the Stripe stand-in
    the nested form/query parameters (``metadata[k]=v`` -> ``{"metadata": {"k": "v"}}``), for
    the FCM stand-in the JSON body (send) or the form fields (token). ``status`` is the HTTP
    status answered, or ``"dropped"`` / ``"hung"``; ``injected`` names the injected failure.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    params: Any = None
    status: Any = None
    injected: str | None = None
    time: float = dataclasses.field(default_factory=time.time)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server_version = "StandIn/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.standin._track(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.standin._untrack(self.connection)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    def _dispatch(self) -> None:
        self.server.standin._handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # clients hanging up (timeouts, dropped connections) are part of the game
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class StandInServer:
    """Base class: lifecycle, connection tracking and response/drop/hang primitives.

    Subclasses implement ``_handle(handler)``.
    """

    #: how long ``hang`` failures sleep (interrupted by ``stop()``/``down()``)
    hang_seconds: float = 60.0

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, hang_seconds: float | None = None):
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        if hang_seconds is not None:
            self.hang_seconds = hang_seconds
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._conns: set = set()
        self._wake = threading.Event()  # set to interrupt hanging handlers
        self.requests: list[RecordedRequest] = []

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self):
        if self._server is not None:
            return self
        _ensure_loopback_no_proxy()
        self._bind(self._requested_port if self.port is None else self.port)
        return self

    def _bind(self, port: int) -> None:
        server = _QuietServer((self.host, port), _Handler)
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _unbind(self) -> None:
        server, self._server = self._server, None
        self._wake.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_all_connections()

    def stop(self) -> None:
        """Stop listening, wake hanging handlers and close every open connection."""
        self._unbind()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ connections
    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _close_all_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------------------ primitives
    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = handler.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until blank line
                    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            return b"".join(chunks)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes, params: Any = None) -> RecordedRequest:
        path, _, query = handler.path.partition("?")
        rec = RecordedRequest(
            method=handler.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            params=params,
        )
        with self._lock:
            self.requests.append(rec)
        return rec

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: Any = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if isinstance(payload, (dict, list)):
            body = json.dumps(payload, indent=2).encode("utf-8")
        elif isinstance(payload, str):
            body = payload.encode("utf-8")
        else:
            body = payload
        handler.send_response(status)
        if body or status not in (204, 304):
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        if body and handler.command != "HEAD":
            handler.wfile.write(body)
        handler.wfile.flush()

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        """Close the connection without writing a single byte of response."""
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _hang(self, handler: BaseHTTPRequestHandler, seconds: float | None = None) -> None:
        """Answer nothing for ``seconds`` (default ``hang_seconds``), then drop the connection.
        ``stop()``/``down()`` interrupt the wait."""
        self._wake.wait(self.hang_seconds if seconds is None else seconds)
        self._drop(handler)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request; each stand-in speaks its own service's wire format."""
        self._drop(handler)  # a bare stand-in knows no service: it answers nothing

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
            ]


class _FailureQueue:
    """Queue of injected failures: each entry is consumed by the next matching request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []

    def add(
        self, kind: str, times: int | None, match: Callable[[RecordedRequest], bool], **extra: Any
    ) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for 'until cleared')")
        with self._lock:
            self._items.append({"kind": kind, "times": times, "match": match, **extra})

    def take(self, rec: RecordedRequest) -> dict[str, Any] | None:
        with self._lock:
            for item in self._items:
                if item["match"](rec):
                    if item["times"] is not None:
                        item["times"] -= 1
                        if item["times"] == 0:
                            self._items.remove(item)
                    return item
        return None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def pending(self) -> list[tuple[str, int | None]]:
        with self._lock:
            return [(i["kind"], i["times"]) for i in self._items]


# Re-exports. Defined after the base classes on purpose: the submodules import them from here.
from .fcm_server import (  # noqa: E402
    FcmStandIn,
    bind_messaging,
    fcm_app,
    fcm_app_context,
    make_service_account,
    sdk_like_fast_retry,
)
from .stripe_server import StripeStandIn, build_webhook_request, make_event, sign_stripe_payload  # noqa: E402
