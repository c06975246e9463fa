"""Two copies of one request with the same Idempotency-Key, racing with real commits: one does the
work, the other answers what the first answered (never a 500, never the work twice)."""

import sqlalchemy as sa

from backend.extensions import db
from backend.idempotency import IdempotencyRecord
from backend.microtasks.models import Assignment
from tests.quality.review_support import certify, make_project
from tests.support.concurrency import race


def test_a_lease_retried_while_the_first_is_running_leases_once(committing_app):
    app = committing_app
    project_id = make_project(app, normal=10)
    client = app.test_client()
    worker = client.post("/api/v1/auth/register", json={
        "email": "twice@example.com", "password": "correct horse 1", "display_name": "twice"}).get_json()
    certify(app, worker["user"]["id"])
    headers = {"Authorization": f"Bearer {worker['access_token']}", "Idempotency-Key": "lease-once"}

    def lease():
        response = app.test_client().post("/api/v1/assignments", json={"project_id": project_id, "count": 2},
                                          headers=headers)
        return response.status_code, response.get_json()

    for _ in range(3):  # a few rounds: the interleaving differs run to run
        first, second = race(lease, lease)
        assert first[0] == second[0] == 200
        assert first[1] == second[1] and len(first[1]["assignments"]) == 2
    with app.app_context():
        leases = db.session.execute(sa.select(sa.func.count()).select_from(Assignment)).scalar()
        records = db.session.execute(sa.select(sa.func.count()).select_from(IdempotencyRecord)).scalar()
    assert (leases, records) == (2, 1)
