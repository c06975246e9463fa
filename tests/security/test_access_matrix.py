"""The access-control matrix (access_matrix.py) against the app: every route of the URL map has a
row, and every caller gets exactly the status of their cell, on real objects (world.py)."""

from __future__ import annotations

import re

from tests.security.access_matrix import ORDER, ROWS, Row

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods - IGNORED_METHODS}


def test_every_route_has_a_row(app):
    rows = {row.key for row in ROWS}
    missing = sorted(_routes(app) - rows, key=lambda item: item[1])
    assert not missing, (
        "These routes have no row in tests/security/access_matrix.py. Add one per route: "
        "Row(METHOD, RULE, expected statuses for anonymous/owner/other/reviewer/manager/admin, "
        "path={param: World.ids key}) — see the module's docstring.\n  "
        + "\n  ".join(f"{method} {rule}" for method, rule in missing))


def test_no_row_names_a_route_that_is_gone(app):
    stale = sorted({row.key for row in ROWS} - _routes(app), key=lambda item: item[1])
    assert not stale, "Rows for routes that no longer exist (remove them): " + ", ".join(
        f"{m} {r}" for m, r in stale)
    assert len({row.key for row in ROWS}) == len(ROWS), "a route has two rows"


def _url(row: Row, world) -> str:
    def value(match):
        name = match.group(1)
        source = row.path[name]
        return source[1:] if source.startswith("=") else str(world.ids[source])

    return re.sub(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>", value, row.rule)


def _request(world, row: Row, role: str):
    kwargs = {}
    body = row.json(world, role) if callable(row.json) else row.json
    if body is not None:
        kwargs["json"] = body
    if row.data is not None:
        kwargs["data"] = row.data
    headers = row.headers(world, role) if callable(row.headers) else dict(row.headers or {})
    return world.call(role, row.method, _url(row, world), headers=headers, **kwargs)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class DashboardBrowser:
    """One browser per caller: its own cookie jar, signed in to the dashboard when it may be."""

    def __init__(self, world, role: str):
        self.client = world.app.test_client()
        self.headers = world.people[role].headers  # a bearer token must not open the dashboard
        self.csrf = ""
        self.get("/dashboard/login")
        person = world.people[role]
        if person.email:
            self.client.post("/dashboard/login", headers=self.headers,
                             data={"email": person.email, "password": person.password, "csrf_token": self.csrf})
            self.get("/dashboard/")  # a fresh token comes with the signed-in session (in every page)

    def get(self, path: str):
        response = self.client.get(path, headers=self.headers)
        found = CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def open(self, method: str, path: str, form: dict | None):
        if method == "GET":
            return self.get(path)
        return self.client.open(path, method=method, headers=self.headers,
                                data={**(form or {}), "csrf_token": self.csrf})


def _dashboard_request(world, browsers: dict, row: Row, role: str):
    if role not in browsers:
        browsers[role] = DashboardBrowser(world, role)
    form = row.form(world, role) if callable(row.form) else row.form
    return browsers[role].open(row.method, _url(row, world), form)


def test_each_caller_gets_the_status_of_their_cell(world):
    wrong = []
    browsers: dict[str, DashboardBrowser] = {}
    for row in ROWS:
        for role in ORDER:
            response = (_dashboard_request(world, browsers, row, role) if row.dashboard
                        else _request(world, row, role))
            if response.status_code != row.expect[role]:
                detail = response.get_data(as_text=True)[:160].replace("\n", " ")
                wrong.append(f"{row.method} {row.rule} as {role}: {response.status_code}, "
                             f"expected {row.expect[role]} — {detail}")
            if response.status_code in (401, 403, 404) and not row.dashboard:
                assert response.mimetype == "application/problem+json", (row.rule, role, response.mimetype)
    assert not wrong, f"{len(wrong)} cell(s) differ:\n" + "\n".join(wrong)


def test_dashboard_posts_without_the_sessions_csrf_token_are_refused(world):
    browser = DashboardBrowser(world, "manager")
    path = f"/dashboard/workers/{world.ids['owner_id']}/skills/audio_transcription"
    for token in ("", "forged-token"):
        response = browser.client.post(path, data={"level": "2", "reason": "csrf", "csrf_token": token})
        assert response.status_code == 400 and response.mimetype == "text/html", response.status_code
    assert browser.open("POST", path, {"level": "2", "reason": "csrf"}).status_code == 303
