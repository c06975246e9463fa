"""Every error is flat problem+json; the OpenAPI document is valid and lists every route."""

import re

import pytest
from openapi_spec_validator import validate

PROBLEM = "application/problem+json"


def _assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/register", data="{not json", content_type="application/json")
    _assert_problem(response, 400)


def test_missing_and_wrong_typed_fields_name_the_field(client):
    body = _assert_problem(client.post("/api/v1/auth/register", json={"email": "a@example.com",
                                                                       "password": 12345678}), 422)
    assert set(body["errors"]) == {"password", "display_name"}
    assert "json" not in body["errors"]  # webargs' location nesting is flattened


def test_unknown_field_is_rejected(client):
    body = _assert_problem(client.post("/api/v1/auth/login", json={
        "email": "a@example.com", "password": "x", "role": "admin"}), 422)
    assert "role" in body["errors"]


def test_oversized_body_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/api/v1/auth/register", data="x" * 4096, content_type="application/json")
    _assert_problem(response, 413)


def test_unknown_route_and_wrong_method(client):
    _assert_problem(client.get("/api/v1/nothing-here"), 404)
    body = _assert_problem(client.delete("/api/v1/auth/login"), 405)
    assert body["title"]


def test_error_title_follows_accept_language(client):
    english = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en-US,en;q=0.9"}).get_json()
    korean = client.get("/api/v1/nothing-here").get_json()
    assert english["title"] == "Not found"
    assert korean["title"] == "찾을 수 없습니다"


def test_unexpected_error_is_a_500_without_internals(app, client):
    @app.route("/boom")
    def boom():
        raise KeyError("SELECT secret FROM users")

    response = client.get("/boom")
    body = _assert_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "KeyError" not in text and "SELECT" not in text and "Traceback" not in text
    assert body["detail"]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_security_headers(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_openapi_document_is_valid_and_complete(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item
                  if method in {"get", "post", "put", "patch", "delete"}}
    skip_prefixes = ("/api/v1/openapi.json", "/api/docs", "/static", "/dashboard")
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(skip_prefixes):
            continue
        path = re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"


def test_openapi_errors_are_problem_json(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    content = spec["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert list(content) == [PROBLEM]
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "429" in login and "401" in login


def test_docs_page_serves_local_assets(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/docs/static/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/skills", "/api/v1/me/skills"])
def test_worker_routes_need_a_token(client, path):
    _assert_problem(client.get(path), 401)
