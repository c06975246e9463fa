"""As a new user would: a worker completes the starter course, takes the real bbox exam on the phone
API, autosaves, submits, passes and sees the certificate; a stranger verifies its code; another
worker fails and sees when a retake opens."""

import datetime as dt

import courses.demo
import quizzes.demo
from backend.extensions import db
from tests.quizzes.conftest import API, MANAGE, keys_by_id, right_answer, wrong_answer


def _complete_course(client, worker, slug):
    assert client.post(f"{API}/courses/{slug}/enrollment", headers=worker.headers).status_code == 201
    course = client.get(f"{API}/courses/{slug}", headers=worker.headers).get_json()
    lessons = [lesson["id"] for module in course["modules"] for lesson in module["lessons"]]
    for lesson_id in lessons:
        done = client.post(f"{API}/courses/{slug}/lessons/{lesson_id}/completion", headers=worker.headers)
        assert done.status_code == 200, done.get_json()
    assert done.get_json()["course_completed"] is True


def _bbox_exam(client, worker):
    return next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if i["key"] == "bbox-level-1")


def test_new_workers_certify_on_the_phone(app, client, auth):
    with app.app_context():
        courses.demo.seed()
        quizzes.demo.seed()
        db.session.commit()
    manager = auth.create("manager")

    worker = auth.register(display_name="이서준", locale="ko")
    exam = _bbox_exam(client, worker)
    assert exam["title"] == "바운딩 박스 1레벨 인증 시험"
    assert (exam["available"], exam["unavailable_reason"]) == (False, "course_required")
    assert client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).status_code == 409

    _complete_course(client, worker, "bbox-basics")
    exam = _bbox_exam(client, worker)
    assert exam["available"] is True and exam["question_count"] == 15 and exam["time_limit_s"] == 1500

    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers)
    assert attempt.status_code == 201
    attempt = attempt.get_json()
    assert len(attempt["questions"]) == 15
    assert [q["kind"] == "bbox" for q in attempt["questions"]].count(True) == 5  # the practical pool
    practical = next(q for q in attempt["questions"] if q["kind"] == "bbox")
    image = client.get(practical["media"][0]["url"])
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert all(q["prompt"] and any("\uac00" <= ch <= "\ud7a3" for ch in q["prompt"]) for q in attempt["questions"])

    keys = keys_by_id(client.get(f"{MANAGE}/exams/{exam['id']}", headers=manager.headers).get_json())
    for question in attempt["questions"]:  # autosave, one by one, as the phone does
        saved = client.put(f"{API}/attempts/{attempt['id']}/answers/{question['id']}",
                           json={"answer": right_answer(keys[question["id"]])}, headers=worker.headers)
        assert saved.status_code == 200, saved.get_json()
    result = client.post(f"{API}/attempts/{attempt['id']}/submission", headers=worker.headers)
    assert result.status_code == 200
    result = result.get_json()
    assert result["passed"] is True and result["percent"] == 100 and result["max_score"] == 20
    assert all(q["explanation"] for q in result["questions"])
    certificate = result["certificate"]
    assert (certificate["skill"], certificate["level"], certificate["status"]) == ("bbox", 1, "valid")

    mine = client.get(f"{API}/me/certificates", headers=worker.headers).get_json()["items"]
    assert [(c["code"], c["exam_title"]) for c in mine] == [(certificate["code"], "바운딩 박스 1레벨 인증 시험")]
    me = client.get(f"{API}/me", headers=worker.headers).get_json()
    assert next(s for s in me["skills"] if s["skill"] == "bbox")["level"] == 1

    stranger = client.get(f"{API}/certificates/{certificate['code']}", headers={"Accept-Language": "en"})
    assert stranger.status_code == 200
    body = stranger.get_json()
    assert (body["holder"], body["skill"], body["level"], body["status"]) == ("이서준", "bbox", 1, "valid")
    issued = dt.datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires - issued == dt.timedelta(days=365)

    other = auth.register(display_name="최다은")
    _complete_course(client, other, "bbox-basics")
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=other.headers).get_json()
    answers = {str(q["id"]): wrong_answer(keys[q["id"]]) for q in attempt["questions"]}
    failed = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers},
                         headers=other.headers).get_json()
    assert failed["passed"] is False and "certificate" not in failed
    retake_at = dt.datetime.fromisoformat(failed["retake_at"].replace("Z", "+00:00"))
    graded_at = dt.datetime.fromisoformat(failed["graded_at"].replace("Z", "+00:00"))
    assert retake_at - graded_at == dt.timedelta(days=1)
    listed = _bbox_exam(client, other)
    assert (listed["unavailable_reason"], listed["retake_at"], listed["attempts_used"]) == (
        "cooldown", failed["retake_at"], 1)
    assert client.get(f"{API}/me/certificates", headers=other.headers).get_json()["items"] == []
