"""Operations: JSON request logs with a request id, secrets kept out of logs, Prometheus metrics.

Metrics are per process; with several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (an empty
directory) so /metrics adds up every worker's counters (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("labelpath_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("labelpath_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
JOB_RUNS = Counter("labelpath_job_runs_total", "Scheduled job runs", ["job", "outcome"])
LEASES = Counter("labelpath_task_leases_total", "Task slots leased")
SUBMISSIONS = Counter("labelpath_submissions_total", "Submissions accepted", ["gold"])


class RedactSecrets(logging.Filter):
    """Blank out bearer tokens, Stripe keys, refresh tokens and configured secrets in any log line."""

    PATTERNS = (
        re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
        re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]+"),
        re.compile(r"\bwhsec_[A-Za-z0-9]+"),
        re.compile(r'(?i)("?(?:password|refresh_token|access_token|secret|api_key)"?\s*[:=]\s*"?)[^",\s}]+'),
    )

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[redacted]")
        for pattern in self.PATTERNS:
            redacted = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "[redacted]", redacted)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(app: Flask) -> None:
    """One handler on the root logger: JSON lines (LOG_FORMAT=json) or plain text, secrets redacted."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_labelpath", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._labelpath = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    if app.config.get("LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [app.config.get(k, "") for k in ("SECRET_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET",
                                               "STRIPE_CONNECT_WEBHOOK_SECRET")]
    handler.filters = [f for f in handler.filters if not isinstance(f, RedactSecrets)]
    handler.addFilter(RedactSecrets(secrets))


access_log = logging.getLogger("labelpath.access")


def install_request_logging(app: Flask) -> None:
    @app.before_request
    def _start():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "unmatched"
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        access_log.info("%s %s %s", request.method, route, response.status_code, extra={"fields": {
            "request_id": g.get("request_id"), "method": request.method, "route": route,
            "path": request.path, "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2), "user_id": g.get("current_user_id"),
        }})
        return response


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    extra = current_app.extensions.get("labelpath_gauges", ())
    lines = [f"# TYPE {name} gauge\n{name} {read()}\n" for name, read in extra]
    return Response(payload + "".join(lines).encode(), mimetype=CONTENT_TYPE_LATEST)
