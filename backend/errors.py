"""Errors as RFC 9457 problem details (application/problem+json).

Services raise DomainError subclasses; views never build error bodies by hand. Every other error
(werkzeug HTTP errors, webargs/marshmallow validation, rate limits, unexpected exceptions) is
turned into the same flat shape here. A 500 never shows a class name, a stack or SQL.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, json
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from backend import i18n

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"

# Titles a person reads, by status, in Korean and English.
STATUS_TITLES = {
    400: {"ko": "잘못된 요청입니다", "en": "Bad request"},
    401: {"ko": "로그인이 필요합니다", "en": "Authentication required"},
    403: {"ko": "권한이 없습니다", "en": "Forbidden"},
    404: {"ko": "찾을 수 없습니다", "en": "Not found"},
    405: {"ko": "허용되지 않는 메서드입니다", "en": "Method not allowed"},
    409: {"ko": "요청이 현재 상태와 충돌합니다", "en": "Conflict"},
    413: {"ko": "요청 본문이 너무 큽니다", "en": "Payload too large"},
    415: {"ko": "지원하지 않는 형식입니다", "en": "Unsupported media type"},
    422: {"ko": "입력값이 올바르지 않습니다", "en": "Validation failed"},
    429: {"ko": "요청이 너무 많습니다", "en": "Too many requests"},
    500: {"ko": "서버 오류가 발생했습니다", "en": "Internal server error"},
    503: {"ko": "잠시 후 다시 시도해 주세요", "en": "Service unavailable"},
}


class DomainError(Exception):
    """A failure a client can act on. Subclasses fix the status."""

    status = 400
    slug = "bad-request"

    def __init__(self, detail: str, *, errors: dict | None = None, headers: dict | None = None,
                 slug: str | None = None, keep_changes: bool = False, **extra):
        super().__init__(detail)
        # True when what the service wrote before refusing must still be committed
        # (e.g. revoking a token family on refresh-token reuse).
        self.keep_changes = keep_changes
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra
        if slug:
            self.slug = slug


class Unauthorized(DomainError):
    status, slug = 401, "unauthorized"


class Forbidden(DomainError):
    status, slug = 403, "forbidden"


class NotFound(DomainError):
    status, slug = 404, "not-found"


class Conflict(DomainError):
    status, slug = 409, "conflict"


class Invalid(DomainError):
    """422 with field → messages; build it from the field that is wrong."""

    status, slug = 422, "validation-failed"

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(f"{name}: {message}", errors={name: [message]})


class TooManyRequests(DomainError):
    status, slug = 429, "too-many-requests"


class ServiceUnavailable(DomainError):
    status, slug = 503, "service-unavailable"


def problem(status: int, detail: str | None = None, *, slug: str | None = None,
            errors: dict | None = None, headers: dict | None = None, **extra) -> Response:
    title = i18n.localize(STATUS_TITLES.get(status, {"en": "Error"}))
    body = {
        "type": f"urn:labelpath:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """{"json": {"boxes": {0: {"w": ["…"]}}}} → {"boxes.0.w": ["…"]} (webargs nests by location)."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


_LOCATIONS = {"json", "query", "querystring", "form", "headers", "files", "view_args", "path"}


def _strip_location(messages: dict) -> dict:
    if isinstance(messages, dict) and messages and set(messages) <= _LOCATIONS:
        merged: dict = {}
        for location_messages in messages.values():
            if isinstance(location_messages, dict):
                merged.update(location_messages)
        return merged
    return messages


def _validation_detail(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(errors.items()))[:1000]


def handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if error.code == 422 and messages:
        errors = flatten_messages(_strip_location(messages))
        return problem(422, _validation_detail(errors), slug="validation-failed", errors=errors)
    if error.code == 400 and messages:
        return problem(400, "The request body is not valid JSON.", slug="malformed-json")
    if error.code == 413:
        return problem(413, "The request body is larger than this server accepts.")
    if error.code == 429:
        seconds = _retry_after(error)
        return problem(429, i18n.localize(_TOO_MANY).format(seconds=seconds), slug="rate-limited",
                       headers={"Retry-After": str(seconds)}, retry_after=seconds)
    headers = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after")}
    detail = error.description if error.code and error.code < 500 else None
    return problem(error.code or 500, detail, headers=headers)


_TOO_MANY = {"ko": "요청이 너무 많습니다. {seconds}초 후에 다시 시도해 주세요.",
             "en": "Too many requests; try again in {seconds} seconds."}


def _retry_after(error) -> int:
    """Seconds until the limit that was hit lets a request through again."""
    from backend.extensions import limiter

    current = limiter.current_limit if getattr(error, "limit", None) is not None else None
    if current is not None and current.reset_at:
        return max(1, int(current.reset_at - time.time()))  # as flask-limiter writes Retry-After
    return 60


def handle_domain_error(error: DomainError):
    if error.keep_changes:
        g.keep_changes = True
    return problem(error.status, error.detail, slug=error.slug, errors=error.errors,
                   headers=error.headers, **error.extra)


def handle_validation_error(error: ValidationError):
    errors = flatten_messages(error.messages)
    return problem(422, _validation_detail(errors), slug="validation-failed", errors=errors)


def handle_database_unavailable(error: DBAPIError):
    log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else "unknown")
    return problem(503, "The database is not reachable right now; try again shortly.",
                   slug="database-unavailable", headers={"Retry-After": "5"})


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error")
    return problem(500, "Something went wrong on our side; it has been logged.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
