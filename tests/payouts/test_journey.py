"""A new worker's money journey through the HTTP API: work accepted by the micro-task engine,
Stripe onboarding through the stand-in, a payout request, the scheduler's transfer, and the
bank payout webhook that marks it paid."""

import time

from backend.extensions import db
from backend.payouts import services as payouts
from backend.skills import services as skills

from .conftest import bank_payout_event, deliver, job, onboard

PROJECT = {
    "title": {"ko": "감정 분류", "en": "Sentiment"}, "skill": "llm_eval", "task_type": "classification",
    "config": {"labels": ["pos", "neg"]}, "difficulty": 1, "reward": {"amount": 2500, "currency": "KRW"},
    "overlap": 1, "lease_seconds": 600, "gold_ratio": 0.0,
}


def test_work_earn_onboard_request_and_get_paid(app, client, auth, live, payout_events):
    manager = auth.create("manager")
    created = client.post("/api/v1/manage/projects", json=PROJECT, headers=manager.headers)
    assert created.status_code == 201, created.get_json()
    project_id = created.get_json()["id"]
    tasks = [{"payload": {"text": f"문장 {i}"}} for i in range(4)]
    imported = client.post(f"/api/v1/manage/projects/{project_id}/tasks", json=tasks, headers=manager.headers)
    assert imported.status_code in (200, 201), imported.get_json()

    worker = auth.register(locale="en")
    with app.app_context():  # certified (the quizzes domain would do this through an exam)
        skills.set_level(worker.id, "llm_eval", 1, "passed the exam", source="certificate")
        db.session.commit()

    for n in range(4):
        leased = client.post("/api/v1/assignments", json={"project_id": project_id, "count": 1},
                             headers={**worker.headers, "Idempotency-Key": f"lease-{n}"})
        assert leased.status_code == 200, leased.get_json()
        (assignment,) = leased.get_json()["assignments"]
        submitted = client.post(f"/api/v1/assignments/{assignment['id']}/submission",
                                json={"answer": {"label": "pos"}},
                                headers={**worker.headers, "Idempotency-Key": f"submit-{n}"})
        assert submitted.status_code == 201, submitted.get_json()
        assert submitted.get_json()["earned"] == {"amount": 2500, "currency": "KRW"}

    earnings = client.get("/api/v1/me/earnings", headers=worker.headers).get_json()
    assert earnings["available"] == {"amount": 10000, "currency": "KRW"}
    assert [e["kind"] for e in earnings["entries"]["items"]] == ["reward"] * 4
    assert {e["status"] for e in earnings["entries"]["items"]} == {"available"}
    assert len({e["submission_id"] for e in earnings["entries"]["items"]}) == 4

    account_id = onboard(client, worker, live)
    requested = client.post("/api/v1/me/payouts", json={"amount": 10000},
                            headers={**worker.headers, "Idempotency-Key": "cash-out"})
    assert requested.status_code == 201
    payout_id = requested.get_json()["id"]
    assert requested.get_json()["status"] == "queued"

    job(app, "payouts.send_queued")
    (transfer,) = live.transfers
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (10000, "krw", account_id)
    assert deliver(client, bank_payout_event(account_id, paid=True, created=int(time.time()) + 1)).status_code == 200

    (shown,) = client.get("/api/v1/me/payouts", headers=worker.headers).get_json()["items"]
    assert (shown["id"], shown["status"]) == (payout_id, "paid")
    assert shown["status_detail"] == "paid to your bank account"
    final = client.get("/api/v1/me/earnings", headers=worker.headers).get_json()
    assert final["available"]["amount"] == 0 and final["paid_out"]["amount"] == 10000
    assert [e["status"] for e in payout_events] == ["queued", "sending", "transferred", "paid"]
    with app.app_context():
        assert payouts.balance_of(worker.id) == payouts.balance_from_entries(worker.id)
