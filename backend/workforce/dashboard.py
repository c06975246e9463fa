"""The managers' dashboard: server-rendered pages under /dashboard (Korean and English).

Sign-in uses the same accounts as the API (role manager or admin). The session is a cookie of
its own, signed with SECRET_KEY (itsdangerous), HttpOnly, SameSite=Lax, Secure behind HTTPS,
scoped to /dashboard, valid for 8 hours, and bound to the account's password hash (a password
change ends it). Every form carries a CSRF token that must match the one in the session (a new
one at sign-in); sign-in is throttled like the API's. Pages send a Content-Security-Policy that
allows only this origin ('self'): no inline scripts or styles, charts are server-side SVG.
Views call workforce services only; the services flush and the request's hook commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import zoneinfo
from functools import wraps
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from backend import i18n
from backend.accounts import services as accounts
from backend.database import utcnow
from backend.errors import DomainError
from backend.extensions import limiter
from backend.skills import services as skills
from backend.web import STAFF, csv_response
from backend.workforce import charts
from backend.workforce import services as workforce
from backend.workforce.texts import text

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")

COOKIE = "labelpath_dashboard"
SESSION_SECONDS = 8 * 3600
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_SIZE = 25
SHORT_OF_PEOPLE_AFTER = dt.timedelta(days=30)
WORKER_CSV = ["id", "display_name", "email", "created_at", "last_active_at", "answers", "gold_answers",
              "gold_accuracy", "agreement", "levels", "earned", "currency"]


# ----------------------------------------------------------------------------- session and CSRF


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="labelpath-dashboard-session")


def _binding(user) -> str:
    """Ties a session to the account's current password hash and role."""
    return hashlib.sha256(f"{user.password_hash}|{user.role}".encode()).hexdigest()[:24]


def _load_session() -> None:
    g.dash = {}
    g.dash_user = None
    g.dash_dirty = False
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            g.dash = _serializer().loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            g.dash = {}
    if not isinstance(g.dash, dict) or not isinstance(g.dash.get("csrf"), str):
        g.dash = {"csrf": secrets.token_urlsafe(32)}
        g.dash_dirty = True
    user_id = g.dash.get("uid")
    if user_id:
        try:
            user = accounts.get_user(int(user_id))
        except DomainError:
            user = None
        if user is not None and user.role in STAFF and hmac.compare_digest(g.dash.get("bind", ""), _binding(user)):
            g.dash_user = user
        else:
            g.dash = {"csrf": secrets.token_urlsafe(32), "lang": g.dash.get("lang")}
            g.dash_dirty = True


def _locale() -> str:
    chosen = request.args.get("lang")
    if chosen in i18n.LOCALES and chosen != g.dash.get("lang"):
        g.dash["lang"] = chosen
        g.dash_dirty = True
    if g.dash.get("lang") in i18n.LOCALES:
        return g.dash["lang"]
    if g.dash_user is not None:
        return g.dash_user.locale
    return i18n.negotiate(request.headers.get("Accept-Language"))


@bp.before_request
def _before():
    if request.endpoint == "dashboard.static":
        return None
    _load_session()
    g.locale = _locale()
    i18n.set_locale(g.locale)
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not hmac.compare_digest(sent.encode(), g.dash["csrf"].encode()):
            return _page("error.html", 400, message=text("csrf", g.locale))
    return None


@bp.after_request
def _after(response: Response):
    response.headers["Content-Security-Policy"] = CSP
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
        if getattr(g, "dash_dirty", False):
            response.set_cookie(COOKIE, _serializer().dumps(g.dash), max_age=SESSION_SECONDS, path="/dashboard",
                                httponly=True, samesite="Lax", secure=request.is_secure)
    return response


def _login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.dash_user is None:
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Only a path of this dashboard (no scheme, no host): never an open redirect."""
    if target and target.startswith("/dashboard") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("dashboard.overview")


# ----------------------------------------------------------------------------- rendering helpers


def _page(template: str, status: int = 200, **context) -> Response:
    return make_response(render_template(f"workforce/{template}", **context), status)


def _fmt_time(value: dt.datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "—"
    zone = g.dash_user.timezone if g.dash_user is not None else "Asia/Seoul"
    local = value.astimezone(_zone(zone))
    return f"{local:%Y-%m-%d %H:%M}" if with_time else f"{local:%Y-%m-%d}"


def _zone(name: str):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Asia/Seoul")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _money(amount: int, currency: str) -> str:
    return f"₩{amount:,}" if currency == "KRW" else f"{amount / 100:,.2f} {currency}"


def _with_lang(lang: str) -> str:
    args = request.args.to_dict()
    args["lang"] = lang
    return f"{request.path}?{urlencode(args)}"


@bp.app_template_global("dash_t")
def _t(key: str, **values) -> str:
    return text(key, getattr(g, "locale", "ko"), **values)


@bp.context_processor
def _context():
    return {"user": getattr(g, "dash_user", None), "csrf_token": getattr(g, "dash", {}).get("csrf", ""),
            "locale": getattr(g, "locale", "ko"), "fmt_time": _fmt_time, "pct": _pct, "money": _money,
            "localize": i18n.localize, "switch_lang": _with_lang}


# ----------------------------------------------------------------------------- sign-in


def _login_key() -> str:
    return f"dashboard-login:{accounts.normalize_email(request.form.get('email', '') or '-')}"


@bp.route("/login", methods=["GET"])
def login():
    if g.dash_user is not None:
        return redirect(_safe_next(request.args.get("next")))
    return _page("login.html", next=request.args.get("next", ""))


@bp.route("/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_login_key)
def login_submit():
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    target = request.form.get("next")
    user = accounts.find_by_email(email) if email else None
    if user is not None and user.deleted_at is not None:
        user = None
    if not accounts.check_password(user, password):
        return _page("login.html", 401, error=text("bad_credentials", g.locale), email=email, next=target)
    if user.role not in STAFF:
        return _page("login.html", 403, error=text("not_staff", g.locale), email=email, next=target)
    accounts.touch_activity(user)
    # A fresh session and CSRF token at sign-in (no fixation of a token set before).
    g.dash = {"uid": user.id, "bind": _binding(user), "csrf": secrets.token_urlsafe(32), "lang": g.dash.get("lang")}
    g.dash_dirty = True
    return redirect(_safe_next(target), 303)


@bp.route("/logout", methods=["POST"])
def logout():
    g.dash = {"csrf": secrets.token_urlsafe(32), "lang": g.dash.get("lang")}
    g.dash_dirty = True
    return redirect(url_for("dashboard.login", signed_out=1), 303)


@bp.errorhandler(429)
def _throttled(error):
    """The login page again, with how long to wait (the limiter runs before our own hook)."""
    if not hasattr(g, "dash"):
        _load_session()
        g.locale = _locale()
    retry = getattr(getattr(error, "limit", None), "reset_at", None)
    seconds = max(1, int(retry - time.time())) if retry else 60
    response = _page("login.html", 429, error=text("throttled", g.locale, seconds=seconds),
                     email=request.form.get("email", ""), next=request.form.get("next"))
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    message = text("not_found", g.locale) if error.status == 404 else error.detail
    return _page("error.html", error.status, message=message)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    if error.code == 429:
        return _throttled(error)
    return _page("error.html", error.code or 500, message=text("not_found" if error.code == 404 else "error",
                                                                 getattr(g, "locale", "ko")))


# ----------------------------------------------------------------------------- overview


def _skill_rows(summary: dict) -> list[dict]:
    return [{**s, "code": s["skill"], "name": i18n.localize(s["name"])} for s in summary["skills"]]


def _levels_chart(summary: dict):
    skills = []
    names = {}
    for item in summary["skills"]:
        levels = {e["level"]: e["workers"] for e in item["levels"] if e["level"] >= 1}
        for level in levels:
            names[level] = text("level_n", g.locale, level=level)
        uncertified = next(e["workers"] for e in item["levels"] if e["level"] == 0)
        skills.append({"label": i18n.localize(item["name"]), "levels": levels,
                       "uncertified_label": text("uncertified", g.locale, count=f"{uncertified:,}")})
    return charts.stacked_levels(skills, names)


def _stage_label(stage: str) -> str:
    return text(f"stage_{stage}", g.locale)


def _funnel_chart(funnel: dict):
    stages = [{"label": _stage_label(s["stage"]), "count": s["count"],
               "conversion_label": "" if i == 0 else f"({_pct(s['conversion'])})"}
              for i, s in enumerate(funnel["total"])]
    return charts.funnel(stages)


def _project_rows(projects: list[dict]) -> list[dict]:
    rows = []
    now = utcnow()
    for project in projects:
        # Train more people: too few may work on it to give each task its answers, or at the
        # current rate it would take longer than SHORT_OF_PEOPLE_AFTER.
        short = project["remaining_answers"] > 0 and (
            project["eligible_workers"] < project["overlap"]
            or (project["eta"] is not None and project["eta"] - now > SHORT_OF_PEOPLE_AFTER))
        rows.append({**project, "title_text": i18n.localize(project["title"]),
                     "bar": charts.progress(project["tasks_done"], project["tasks_total"]), "short": short})
    return rows


@bp.route("/", methods=["GET"])
@_login_required
def overview():
    summary = workforce.summary()
    funnel = workforce.funnel(8)
    accuracy = workforce.accuracy_histogram()
    hourly = workforce.answers_per_hour()
    zone = g.dash_user.timezone
    return _page(
        "overview.html",
        summary=summary, skills=_skill_rows(summary), levels_chart=_levels_chart(summary),
        funnel=funnel, funnel_chart=_funnel_chart(funnel), stage_label=_stage_label,
        accuracy=accuracy, accuracy_chart=charts.histogram(accuracy["bins"], text("accuracy_axis", g.locale)),
        throughput_chart=charts.hourly(hourly, zone if zone else "Asia/Seoul"),
        throughput_total=sum(item["answers"] for item in hourly),
        projects=_project_rows(workforce.projects_overview()),
        expiring=workforce.expiring_certificates(),
    )


# ----------------------------------------------------------------------------- workers


def _number(value: str | None) -> int | None:
    """A small whole number from a form or query field (ASCII digits only), else None."""
    return int(value) if value and len(value) <= 6 and value.isascii() and value.isdigit() else None


def _worker_filters() -> dict:
    args = request.args
    skill = args.get("skill") or None
    filters = {"skill": skill if skill and workforce.SKILL_CODE.fullmatch(skill) else None,
               "activity": args.get("activity") or None,
               "q": (args.get("q") or "").strip()[:100] or None, "min_level": None, "min_accuracy": None}
    if filters["activity"] not in (None, *workforce.ACTIVITY_FILTERS):
        filters["activity"] = None
    if filters["skill"] is not None and _number(args.get("min_level")) is not None:
        filters["min_level"] = min(5, _number(args["min_level"]))
    if _number(args.get("min_accuracy")) is not None:
        filters["min_accuracy"] = min(100, _number(args["min_accuracy"])) / 100
    sort = args.get("sort", "-last_active")
    filters["sort"] = sort if sort.lstrip("-") in workforce.WORKER_SORTS else "-last_active"
    return filters


@bp.route("/workers", methods=["GET"])
@_login_required
def workers():
    filters = _worker_filters()
    page = _number(request.args.get("page")) or 0
    result = workforce.list_workers(**filters, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    args = {k: v for k, v in request.args.items() if k not in ("page", "lang") and v}
    return _page("workers.html", result=result, filters=filters, skills=skills.list_skills(),
                 activities=workforce.ACTIVITY_FILTERS, sorts=["-last_active", "-answers", "-accuracy", "accuracy",
                                                               "name", "-created_at"],
                 page=page, args=args, page_size=PAGE_SIZE)


@bp.route("/workers.csv", methods=["GET"])
@_login_required
def workers_csv():
    result = workforce.list_workers(**_worker_filters(), limit=None)
    rows = [{**item, "levels": " ".join(f"{skill}:{level}" for skill, level in sorted(item["levels"].items())),
             "earned": item["earned"]["amount"], "currency": item["earned"]["currency"],
             "created_at": item["created_at"].isoformat().replace("+00:00", "Z"),
             "last_active_at": item["last_active_at"].isoformat().replace("+00:00", "Z")
             if item["last_active_at"] else ""} for item in result["items"]]
    return csv_response(rows, WORKER_CSV, "workers.csv")


def _timeline_chart(skill: dict, registered: dt.datetime, now: dt.datetime):
    events = [{"at": e["at"], "level": e["level"], "source": e["source"],
               "title": f"{_fmt_time(e['at'])} · {e['from_level']}→{e['level']} · "
                        f"{text('source_' + e['source'], g.locale)} · {e['reason']}"} for e in skill["timeline"]]
    start = min([registered, *(e["at"] for e in events)])
    return charts.level_steps(events, start, now, skill["max_level"], g.dash_user.timezone)


@bp.route("/workers/<int:worker_id>", methods=["GET"])
@_login_required
def worker(worker_id: int):
    detail = workforce.worker_detail(worker_id)
    now = utcnow()
    skills = [{**s, "name_text": i18n.localize(s["name"]),
               "chart": _timeline_chart(s, detail["created_at"], now)} for s in detail["skills"]]
    gauges = {key: charts.interval(detail[key]["rate"], detail[key]["ci_low"], detail[key]["ci_high"])
              for key in ("gold", "agreement", "first_pass_acceptance")}
    saved = request.args.get("saved")
    saved_name = next((s["name_text"] for s in skills if s["skill"] == saved), None)
    return _page("worker.html", w=detail, skills=skills, gauges=gauges, saved=saved_name)


@bp.route("/workers/<int:worker_id>/skills/<skill>", methods=["POST"])
@_login_required
def override(worker_id: int, skill: str):
    level = _number(request.form.get("level"))
    if level is None:
        return _page("error.html", 422, message=f"{text('level', g.locale)}: 0–5")
    try:
        workforce.override_level(worker_id, skill, level, (request.form.get("reason") or "").strip()[:500],
                                 actor_id=g.dash_user.id)
    except DomainError as error:
        if error.status != 422:
            raise
        return _page("error.html", 422, message=error.detail)
    return redirect(url_for("dashboard.worker", worker_id=worker_id, saved=skill) + "#skills", 303)
