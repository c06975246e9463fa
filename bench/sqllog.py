"""The SQL one lease and one submission send, captured from the app in-process (Flask test client).

Used by the report ("statements per request") and to keep the ceiling honest: bench/ceiling.py
sends the same statements, and this log shows which ones the app adds around them.
"""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa


def capture(url: str, email: str, password: str) -> dict[str, list[str]]:
    """{request name: [statement, …]} for login-free lease and submit requests of one worker: a
    lease and a submission in steady state (the worker's second answer in the project, as the
    ceiling replays), its replay, and the worker's first submission in the project apart."""
    from backend import create_app
    from backend.extensions import db
    from bench.server import SECRET_KEY

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY,
                      "LOGIN_LIMIT_PER_ADDRESS": "100000 per minute"})
    client = app.test_client()
    statements: list[str] = []

    def listener(_conn, _cursor, statement, _params, _context, _executemany):
        statements.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    if response.status_code != 200:
        raise RuntimeError(f"login answered {response.status_code}: {response.get_json()}")
    headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}
    out: dict[str, list[str]] = {}
    answer = json.dumps({"answer": {"label": "positive"}, "duration_ms": 1234})

    def lease() -> list[dict]:
        # A lease draws a gold task now and then (another path); keep the first normal one.
        leased: list[dict] = []
        for _ in range(10):
            statements.clear()
            response = client.post("/api/v1/assignments", json={"count": 1}, headers=headers)
            out["POST /assignments (count 1)"] = list(statements)
            leased = (response.get_json() or {}).get("assignments") or []
            if not any("t.shuffle" in sql for sql in statements):
                break
        return leased

    def submit(assignment_id: int, key: str, name: str) -> None:
        statements.clear()
        client.post(f"/api/v1/assignments/{assignment_id}/submission", data=answer,
                    content_type="application/json", headers={**headers, "Idempotency-Key": key})
        out[name] = list(statements)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        # The worker's first answer in a project creates their balance and project stats, and a
        # fresh process reads the project's pace: captured apart, then the steady state.
        leased = lease()
        if leased:
            submit(leased[0]["id"], uuid.uuid4().hex, "first submission of the worker in the project")
            leased = lease()
        if leased:
            key = uuid.uuid4().hex
            submit(leased[0]["id"], key, "POST /assignments/{id}/submission")
            submit(leased[0]["id"], key, "the same submission retried (replay)")
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
        with app.app_context():
            db.engine.dispose()
    order = ("POST /assignments (count 1)", "POST /assignments/{id}/submission", "the same submission retried (replay)",
             "first submission of the worker in the project")
    return {name: out[name] for name in order if name in out}
