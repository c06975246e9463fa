"""What views share: authentication and roles, the unit of work per request, idempotent POSTs.

Only views (and this module, which they use) touch flask.request.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import secrets
from functools import wraps

from flask import Flask, Response, current_app, g, json, make_response, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.routing import IntegerConverter

from backend import i18n, idempotency
from backend.accounts import services as accounts
from backend.api import document_error_refs
from backend.database import read_only_transactions
from backend.errors import Forbidden, Unauthorized, handle_database_unavailable, problem
from backend.extensions import db

STAFF = ("manager", "admin")
REVIEWERS = ("reviewer", "manager", "admin")
_READ_METHODS = ("GET", "HEAD", "OPTIONS")


ID_MAX = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL (and SQLite)


class IdConverter(IntegerConverter):
    """`<int:…>` up to ID_MAX: a larger number names nothing (404) instead of overflowing the
    database driver (500). The OpenAPI document states the bound."""

    def __init__(self, map, fixed_digits=0, min=None, max=ID_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def install_url_converters(app: Flask) -> None:
    """Before any route is added."""
    app.url_map.converters["int"] = IdConverter


def current_user() -> accounts.Principal:
    """The signed-in worker or staff member: id, role, locale."""
    return g.current_user


def current_account():
    """The signed-in User entity, loaded on demand (views that read or change the profile)."""
    return accounts.user_by_id(g.current_user_id)


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an access token: Authorization: Bearer <token>.",
                           headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def _document_auth(view, roles: tuple[str, ...]) -> None:
    """Let flask-smorest put the bearer scheme and the 401/403 answers in the OpenAPI document."""
    view.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})["security"] = [{"bearerAuth": []}]
    document_error_refs(view, 401, *((403,) if roles else ()))


def auth_required(*roles: str):
    """Require a valid access token, and one of `roles` when given (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = accounts.principal_for_access_token(_bearer_token())
            if roles and user.role not in roles:
                raise Forbidden("Your role may not do this.")
            g.current_user = user
            g.current_user_id = user.id  # read after the commit without reloading the user
            i18n.set_locale(user.locale)
            return view(*args, **kwargs)

        _document_auth(wrapper, roles)
        return wrapper

    return decorator


def _fingerprint() -> str:
    body = request.get_data() or b""
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), sort_keys=True).encode() if body else b""
    return hashlib.sha256(request.method.encode() + request.path.encode() + b"\n" + body).hexdigest()


def _replay(record) -> Response:
    response = make_response(json.dumps(record.response_body), record.status_code)
    response.mimetype = "application/json"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Honour Idempotency-Key: a replay with the same body returns the first answer, and does
    nothing twice; the same key with another body is a 422. Place it under @auth_required."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        key = idempotency.check_key(key)
        user_id = g.current_user_id
        fingerprint = _fingerprint()
        record = idempotency.find(user_id, key)
        if record is not None:
            idempotency.ensure_same_request(record, fingerprint)
            return _replay(record)
        response = make_response(view(*args, **kwargs))
        if response.status_code >= 300:
            return response
        try:
            idempotency.remember(user_id, key, fingerprint, response.status_code, response.get_json())
            db.session.commit()
        except IntegrityError:
            # A concurrent request with the same key committed first: answer what it answered.
            db.session.rollback()
            record = idempotency.find(user_id, key)
            if record is None:
                raise
            idempotency.ensure_same_request(record, fingerprint)
            return _replay(record)
        return response

    manual = wrapper.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})
    manual.setdefault("parameters", []).append({
        "in": "header", "name": "Idempotency-Key", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.KEY_MAX_LENGTH},
        "description": "A retry with the same key and body returns the first answer.",
    })
    return wrapper


def wants_csv() -> bool:
    return request.args.get("format") == "csv" or (
        request.accept_mimetypes.best == "text/csv"
    )


def csv_response(rows: list[dict], columns: list[str], filename: str) -> Response:
    """UTF-8 with a BOM, so spreadsheet programs open Korean names correctly."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _begin_request():
        read_only_transactions(request.method in _READ_METHODS)
        i18n.set_locale(i18n.negotiate(request.headers.get("Accept-Language")))

    @app.after_request
    def _finish_unit_of_work(response: Response):
        """One commit per request, only when the request succeeded (a GET may grade lazily)."""
        if response.status_code >= 400 and not g.get("keep_changes"):
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            current_app.logger.warning("commit conflict on %s", request.path)
            return problem(409, "The request conflicted with a concurrent change; retry it.")
        except OperationalError as error:
            db.session.rollback()
            return handle_database_unavailable(error)
        return response


# Every HTML page: scripts only from this server or inline with this response's nonce (templates
# write `nonce="{{ csp_nonce() }}"`), nothing framed, no plugins, no foreign forms.
HTML_CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# Everything else (JSON, CSV, files) is never a page: nothing may run or load from it.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"


def csp_nonce() -> str:
    """This response's CSP nonce (one per request, made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def install_security_headers(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _security_headers(response: Response):
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", HTML_CSP.format(nonce=csp_nonce()))
        else:
            response.headers.setdefault("Content-Security-Policy", OTHER_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with datetimes as UTC ISO 8601 with a Z (the API's one time format)."""

    @staticmethod
    def default(value):
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return DefaultJSONProvider.default(value)
