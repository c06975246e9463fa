"""A new labeler's whole journey on the phone API: train, certify, unlock paid work, earn, be told.

Registers in Korean, completes the starter course, passes the real bbox exam, sees the
certificate verified by a stranger, finds the bbox project unlocked, leases and submits tasks,
sees the reward in the earnings and the news in the in-app feed.
"""

import courses.demo
import quizzes.demo
from backend.extensions import db
from backend.microtasks import demo as microtasks_demo
from tests.quizzes.conftest import keys_by_id, right_answer

API = "/api/v1"


def _seed(app):
    with app.app_context():
        courses.demo.seed()
        quizzes.demo.seed()
        microtasks_demo.seed()
        db.session.commit()


def _complete_course(client, worker, slug):
    assert client.post(f"{API}/courses/{slug}/enrollment", headers=worker.headers).status_code == 201
    course = client.get(f"{API}/courses/{slug}", headers=worker.headers).get_json()
    for module in course["modules"]:
        for lesson in module["lessons"]:
            done = client.post(f"{API}/courses/{slug}/lessons/{lesson['id']}/completion", headers=worker.headers)
            assert done.status_code == 200
    assert done.get_json()["course_completed"] is True


def _pass_exam(client, worker, manager, key):
    exam = next(e for e in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if e["key"] == key)
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
    answer_keys = keys_by_id(client.get(f"{API}/manage/exams/{exam['id']}", headers=manager.headers).get_json())
    answers = {str(q["id"]): right_answer(answer_keys[q["id"]]) for q in attempt["questions"]}
    result = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers},
                         headers=worker.headers).get_json()
    assert result["passed"] is True
    return result["certificate"]


def _bbox_project(client, worker):
    return next(p for p in client.get(f"{API}/projects", headers=worker.headers).get_json()["items"]
                if p["skill"] == "bbox")


def test_from_sign_up_to_paid_work(app, client, auth):
    _seed(app)
    manager = auth.create("manager")
    worker = auth.register(display_name="한지우", locale="ko")

    project = _bbox_project(client, worker)
    assert project["locked"] is True and "바운딩 박스" in project["locked_reason"]
    refused = client.post(f"{API}/assignments", json={"project_id": project["id"]}, headers=worker.headers)
    assert refused.status_code == 403 and "바운딩 박스" in refused.get_json()["detail"]

    _complete_course(client, worker, "bbox-basics")
    certificate = _pass_exam(client, worker, manager, "bbox-level-1")
    verified = client.get(f"{API}/certificates/{certificate['code']}").get_json()
    assert (verified["holder"], verified["status"], verified["level"]) == ("한지우", "valid", 1)

    project = _bbox_project(client, worker)
    assert project["locked"] is False
    leased = client.post(f"{API}/assignments", json={"project_id": project["id"], "count": 3},
                         headers={**worker.headers, "Idempotency-Key": "lease-1"}).get_json()["assignments"]
    assert len(leased) == 3
    assert all("gold" not in str(a).lower() for a in leased)
    earned = 0
    for index, assignment in enumerate(leased):
        answer = {"boxes": [{"x": 10, "y": 20, "w": 30, "h": 40, "label": "car"}]}
        response = client.post(f"{API}/assignments/{assignment['id']}/submission",
                               json={"answer": answer, "duration_ms": 9000},
                               headers={**worker.headers, "Idempotency-Key": f"submit-{index}"})
        assert response.status_code == 201, response.get_json()
        earned += response.get_json()["earned"]["amount"]

    earnings = client.get(f"{API}/me/earnings", headers=worker.headers).get_json()
    assert earnings["currency"] == "KRW"
    assert earnings["pending"]["amount"] + earnings["available"]["amount"] == earned > 0

    feed = client.get(f"{API}/me/notifications", headers=worker.headers).get_json()["items"]
    titles = " ".join(item["title"] for item in feed)
    assert any(item["category"] == "certification" for item in feed), titles
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in item["title"]) for item in feed)  # Korean texts
