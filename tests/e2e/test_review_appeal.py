"""Review and appeal, end to end through the HTTP API and the scheduler's jobs.

A worker submits; a reviewer rejects with a catalogue reason; the worker reads it in their earnings
and their feed, appeals; the reviewer who rejected cannot decide the appeal, a different one
overturns it and the ledger releases the reward. A sampled submission nobody reviews is approved by
the job when the window closes. With no review window (rewards available at once), a rejection
that is never appealed takes the reward back when the appeal window closes.
"""

import datetime as dt

import time_machine

from backend.extensions import db
from backend.scheduler import run_job
from backend.skills import services as skills

API = "/api/v1"
START = dt.datetime(2031, 6, 1, 0, 0, tzinfo=dt.UTC)
PROJECT = {
    "title": {"ko": "감정 분류", "en": "Sentiment"}, "skill": "llm_eval", "task_type": "classification",
    "config": {"labels": ["pos", "neg"]}, "difficulty": 1, "reward": {"amount": 3000, "currency": "KRW"},
    "overlap": 1, "lease_seconds": 600, "gold_ratio": 0.0,
}


def at(seconds: float):
    return time_machine.travel(START + dt.timedelta(seconds=seconds), tick=False)


def job(app, job_id: str) -> None:
    run_job(app, next(j for j in app.extensions["labelpath_jobs"] if j.id == job_id))


def setup(app, client, auth, *, review_window_s: int):
    app.config.update(REVIEW_WINDOW_S=review_window_s, REVIEW_SAMPLE_RATE=1.0, APPEAL_WINDOW_S=86_400)
    manager = auth.create("manager")
    project = client.post(f"{API}/manage/projects", json=PROJECT, headers=manager.headers)
    assert project.status_code == 201, project.get_json()
    project_id = project.get_json()["id"]
    tasks = [{"payload": {"text": f"배송이 빨라요 {i}"}} for i in range(4)]
    assert client.post(f"{API}/manage/projects/{project_id}/tasks", json=tasks,
                       headers=manager.headers).status_code == 200
    worker = auth.register(locale="en")
    with app.app_context():  # certified (tests/e2e/test_worker_journey.py takes the real exam)
        skills.set_level(worker.id, "llm_eval", 1, "passed the exam", source="certificate")
        db.session.commit()
    return manager, worker, project_id


def submit(client, worker, project_id, n):
    leased = client.post(f"{API}/assignments", json={"project_id": project_id},
                         headers={**worker.headers, "Idempotency-Key": f"lease-{n}"})
    (assignment,) = leased.get_json()["assignments"]
    done = client.post(f"{API}/assignments/{assignment['id']}/submission",
                       json={"answer": {"label": "neg"}, "duration_ms": 12_000},
                       headers={**worker.headers, "Idempotency-Key": f"submit-{n}"})
    assert done.status_code == 201, done.get_json()
    return done.get_json()["id"]


def reward_entry(client, worker, submission_id):
    entries = client.get(f"{API}/me/earnings", headers=worker.headers).get_json()["entries"]["items"]
    return next(e for e in entries if e["kind"] == "reward" and e["submission_id"] == submission_id)


def test_reject_appeal_overturn_and_auto_approval(app, client, auth):
    with at(0):
        _, worker, project_id = setup(app, client, auth, review_window_s=3600)
        rejected_id = submit(client, worker, project_id, 1)
        untouched_id = submit(client, worker, project_id, 2)
        assert client.get(f"{API}/me/earnings", headers=worker.headers).get_json()["pending"]["amount"] == 6000

        reviewer = auth.create("reviewer")
        queue = client.get(f"{API}/manage/reviews", headers=reviewer.headers).get_json()["items"]
        assert [item["submission_id"] for item in queue] == [rejected_id, untouched_id]
        reasons = [r["code"] for r in client.get(f"{API}/manage/review-reasons",
                                                 headers=reviewer.headers).get_json()["items"]]
        assert "wrong_label" in reasons
        rejected = client.post(f"{API}/manage/submissions/{rejected_id}/review",
                               json={"decision": "reject", "reason_code": "wrong_label",
                                     "note": "The customer praises the delivery."},
                               headers={**reviewer.headers, "Idempotency-Key": "review-1"})
        assert rejected.status_code == 201, rejected.get_json()

        # the worker reads the reason in the earnings, the feed and their reviews
        entry = reward_entry(client, worker, rejected_id)
        assert entry["status"] == "rejected"
        assert entry["description"] == (f"Task reward (task #{entry['task_id']}) — rejected: Wrong label — The customer "
                                        "praises the delivery. — appeal until 2031-06-02 09:00 KST")
        feed = client.get(f"{API}/me/notifications", headers=worker.headers).get_json()["items"]
        assert feed[0]["kind"] == "tasks.rejected"
        assert feed[0]["body"] == "Reason: Wrong label — The customer praises the delivery."
        assert feed[0]["data"] == {"screen": "submission", "id": str(rejected_id)}
        (mine,) = client.get(f"{API}/me/reviews", headers=worker.headers).get_json()["items"]
        assert (mine["submission_id"], mine["can_appeal"], mine["appeal_until"]) == (
            rejected_id, True, "2031-06-02T00:00:00Z")

        appeal = client.post(f"{API}/submissions/{rejected_id}/appeal",
                             json={"message": "“배송이 빨라요” means the delivery was fast: positive? No — I "
                                              "was asked about the product, which the text does not praise."},
                             headers={**worker.headers, "Idempotency-Key": "appeal-1"})
        assert appeal.status_code == 201, appeal.get_json()
        appeal_id = appeal.get_json()["id"]

        own = client.post(f"{API}/manage/appeals/{appeal_id}/decision", json={"decision": "uphold"},
                          headers=reviewer.headers)
        assert own.status_code == 403 and own.get_json()["type"] == "urn:labelpath:problem:appeal-own-review"

        second = auth.create("reviewer")
        (listed,) = client.get(f"{API}/manage/appeals", headers=second.headers).get_json()["items"]
        assert listed["id"] == appeal_id and listed["can_decide"] is True
        overturned = client.post(f"{API}/manage/appeals/{appeal_id}/decision",
                                 json={"decision": "overturn", "note": "The label fits the instructions."},
                                 headers={**second.headers, "Idempotency-Key": "decide-1"})
        assert overturned.status_code == 200 and overturned.get_json()["status"] == "overturned"

        earnings = client.get(f"{API}/me/earnings", headers=worker.headers).get_json()
        assert earnings["available"]["amount"] == 3000 and earnings["pending"]["amount"] == 3000
        assert reward_entry(client, worker, rejected_id)["status"] == "available"
        (mine,) = client.get(f"{API}/me/reviews", headers=worker.headers).get_json()["items"]
        assert (mine["outcome"], mine["final"], mine["appeal"]["status"]) == ("approved", True, "overturned")

    with at(3599):  # the other submission: nobody reviewed it yet
        job(app, "quality.auto_approve_reviews")
        reviewer = auth.login(reviewer.email, reviewer.password)
        assert [i["submission_id"] for i in client.get(f"{API}/manage/reviews",
                                                      headers=reviewer.headers).get_json()["items"]] == [untouched_id]
    with at(3600):
        job(app, "quality.auto_approve_reviews")
        job(app, "payouts.approve_due_rewards")
        reviewer = auth.login(reviewer.email, reviewer.password)
        assert client.get(f"{API}/manage/reviews", headers=reviewer.headers).get_json()["items"] == []
        late = client.post(f"{API}/manage/submissions/{untouched_id}/review",
                           json={"decision": "reject", "reason_code": "careless"}, headers=reviewer.headers)
        assert late.status_code == 409
        worker = auth.login(worker.email, worker.password)
        earnings = client.get(f"{API}/me/earnings", headers=worker.headers).get_json()
        assert earnings["available"]["amount"] == 6000 and earnings["pending"]["amount"] == 0
        # the rejection, then the appeal's answer (newest first); approvals say nothing
        feed = client.get(f"{API}/me/notifications", headers=worker.headers).get_json()["items"]
        assert [n["kind"] for n in feed] == ["tasks.appeal_overturned", "tasks.rejected"]
        assert feed[0]["body"] == "The rejection was reversed: the work counts and its reward is yours."
        assert feed[0]["data"] == {"screen": "submission", "id": str(rejected_id)}


def test_without_a_review_window_an_unappealed_rejection_takes_the_reward_back(app, client, auth):
    with at(0):
        _, worker, project_id = setup(app, client, auth, review_window_s=0)
        submission_id = submit(client, worker, project_id, 1)
        assert client.get(f"{API}/me/earnings", headers=worker.headers).get_json()["available"]["amount"] == 3000
        reviewer = auth.create("reviewer")
        assert [i["submission_id"] for i in client.get(f"{API}/manage/reviews",
                                                      headers=reviewer.headers).get_json()["items"]] == [submission_id]
        assert client.post(f"{API}/manage/submissions/{submission_id}/review",
                           json={"decision": "reject", "reason": "careless"},
                           headers=reviewer.headers).status_code == 201
        # appealable for a day: the money stays where it is
        assert client.get(f"{API}/me/earnings", headers=worker.headers).get_json()["available"]["amount"] == 3000
    with at(86_400):
        job(app, "quality.finalize_rejections")
        worker = auth.login(worker.email, worker.password)
        earnings = client.get(f"{API}/me/earnings", headers=worker.headers).get_json()
        assert earnings["available"]["amount"] == 0
        reversed_entry = earnings["entries"]["items"][0]
        assert reversed_entry["kind"] == "reward_reversed"
        assert reversed_entry["description"] == "rejected: A random or careless answer — reward withdrawn"
        late = client.post(f"{API}/submissions/{submission_id}/appeal", json={"message": "wait"},
                           headers=worker.headers)
        assert late.status_code == 409
        (mine,) = client.get(f"{API}/me/reviews", headers=worker.headers).get_json()["items"]
        assert (mine["final"], mine["outcome"], mine["can_appeal"]) == (True, "rejected", False)
