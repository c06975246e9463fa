"""Operations basics: request ids, JSON logs without secrets, metrics, SQLite backup, CORS."""

import json
import logging
import sqlite3

import pytest

from backend import create_app
from backend.observability import JsonFormatter, RedactSecrets
from tests.conftest import TEST_DB


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", headers={"X-Request-ID": "phone-abc.123"})
    assert given.headers["X-Request-ID"] == "phone-abc.123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["X-Request-ID"]) == 32


def test_access_log_is_json_and_has_no_token(app, client, auth, caplog):
    account = auth.register()
    app.config["LOG_FORMAT"] = "json"
    with caplog.at_level(logging.INFO, logger="labelpath.access"):
        client.get("/api/v1/me?token=x", headers={**account.headers, "X-Request-ID": "rid-1"})
    record = next(r for r in caplog.records if r.name == "labelpath.access" and r.fields["route"] == "/api/v1/me")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "rid-1" and line["status"] == 200 and line["user_id"] == account.id
    assert line["route"] == "/api/v1/me"
    assert account.access_token not in json.dumps(line)


@pytest.mark.parametrize("message", [
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
    "stripe key sk_live_51Habcdefghijk used",
    '{"refresh_token": "abcdefghijklmnop", "password": "hunter2hunter2"}',
    "configured secret s3cr3t-value-xyz appears",
])
def test_secrets_are_redacted_from_log_lines(message):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, (), None)
    RedactSecrets(["s3cr3t-value-xyz"]).filter(record)
    text = record.getMessage()
    assert "[redacted]" in text
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "sk_live_51H", "abcdefghijklmnop", "hunter2hunter2", "s3cr3t-value-xyz"):
        assert secret not in text


def test_metrics_count_requests_by_route(client):
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'labelpath_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "labelpath_http_request_seconds_bucket" in body


def test_metrics_token_is_enforced_when_set(app, client):
    app.config["METRICS_TOKEN"] = "metrics-secret-1"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1"}).status_code == 200


def test_db_backup_copies_sqlite_and_points_postgresql_to_pg_dump(app, auth, tmp_path):
    auth.register(email="backup@example.com")
    target = tmp_path / "copy.db"
    result = app.test_cli_runner().invoke(args=["db", "backup", str(target)])
    if TEST_DB != "sqlite":
        assert result.exit_code != 0 and "pg_dump" in result.output
        return
    assert result.exit_code == 0, result.output
    with sqlite3.connect(target) as copy:
        emails = [row[0] for row in copy.execute("SELECT email FROM users")]
    assert emails == ["backup@example.com"]


def test_cors_only_for_configured_origins(database_url, tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/cors.db",
                      "CORS_ORIGINS": ["https://console.labelpath.example"]})
    client = app.test_client()
    allowed = client.get("/healthz", headers={"Origin": "https://console.labelpath.example"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://console.labelpath.example"
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
