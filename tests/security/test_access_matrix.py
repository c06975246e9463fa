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


def test_each_caller_gets_the_status_of_their_cell(world):
    wrong = []
    for row in ROWS:
        for role in ORDER:
            response = _request(world, row, role)
            if response.status_code != row.expect[role]:
                detail = response.get_data(as_text=True)[:160].replace("\n", " ")
                wrong.append(f"{row.method} {row.rule} as {role}: {response.status_code}, "
                             f"expected {row.expect[role]} — {detail}")
            if response.status_code in (401, 403, 404) and response.mimetype != "text/html":
                assert response.mimetype == "application/problem+json", (row.rule, role, response.mimetype)
    assert not wrong, f"{len(wrong)} cell(s) differ:\n" + "\n".join(wrong)
