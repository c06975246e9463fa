"""A new worker's way through training, as the phone app walks it: list courses in Korean, enroll,
read lessons, answer practice examples, complete the course, see the next course unlock."""

from __future__ import annotations

from backend import events
from tests.courses.conftest import course_payload, lesson_ids, make_course


def test_new_worker_journey_through_a_real_pack_unlocks_the_next_course(app, client, auth, starter_packs):
    follow_up = course_payload("bbox-advanced", title={"ko": "바운딩 박스 심화", "en": "Advanced boxes"},
                               requires={"courses": ["bbox-basics"]})
    make_course(app, follow_up)
    worker = auth.register(locale="ko")

    listing = client.get("/api/v1/courses?limit=100", headers=worker.headers).get_json()
    by_slug = {item["slug"]: item for item in listing["items"]}
    assert by_slug["bbox-basics"]["title"] == "바운딩 박스 기초"
    assert by_slug["bbox-basics"]["locked"] is False and by_slug["bbox-basics"]["lesson_count"] == 6
    assert by_slug["bbox-advanced"]["locked"] is True
    assert by_slug["bbox-advanced"]["locked_reason"] == "먼저 「바운딩 박스 기초」 과정을 수료해야 합니다."

    assert client.post("/api/v1/courses/bbox-advanced/enrollment", headers=worker.headers).status_code == 409
    assert client.post("/api/v1/courses/bbox-basics/enrollment", headers=worker.headers).status_code == 201

    completed = []
    with events.course_completed.connected_to(lambda _s, **kw: completed.append(kw)):
        for lesson_id in lesson_ids(client, worker, "bbox-basics"):
            lesson = client.get(f"/api/v1/courses/bbox-basics/lessons/{lesson_id}", headers=worker.headers)
            assert lesson.status_code == 200
            for block in lesson.get_json()["blocks"]:
                if block["kind"] == "example":
                    _answer_wrong_then_see_feedback(client, worker, block["question"])
            done = client.post(f"/api/v1/courses/bbox-basics/lessons/{lesson_id}/completion",
                               headers=worker.headers).get_json()
    assert done == {"lesson_id": lesson_id, "completed_lessons": 6, "total_lessons": 6, "course_completed": True}
    assert len(completed) == 1
    assert completed[0]["slug"] == "bbox-basics" and completed[0]["skill"] == "bbox" and completed[0]["level"] == 1
    assert completed[0]["user_id"] == worker.id

    listing = client.get("/api/v1/courses?limit=100", headers=worker.headers).get_json()
    by_slug = {item["slug"]: item for item in listing["items"]}
    assert by_slug["bbox-basics"]["completed"] is True and by_slug["bbox-basics"]["progress"] == 1.0
    assert by_slug["bbox-advanced"]["locked"] is False and by_slug["bbox-advanced"]["locked_reason"] is None
    assert client.post("/api/v1/courses/bbox-advanced/enrollment", headers=worker.headers).status_code == 201


def _answer_wrong_then_see_feedback(client, worker, question):
    assert "answer" not in question and "explanation" not in question
    wrong = {"single_choice": {"choice": "zz"}, "multi_choice": {"choices": []}, "true_false": None,
             "numeric": {"value": -12345}, "bbox": {"boxes": []}}[question["kind"]]
    if wrong is None:  # true_false: one of the two answers is wrong; find it through the feedback
        first = _answer(client, worker, question["key"], {"value": True})
        wrong = {"value": True} if not first["correct"] else {"value": False}
    feedback = _answer(client, worker, question["key"], wrong)
    assert feedback["correct"] is False and feedback["credit"] < 1
    assert feedback["explanation"] and any("\uac00" <= ch <= "\ud7a3" for ch in feedback["explanation"])
    # `expected` is the key; without its grading parameters it is a right answer
    reply = {name: value for name, value in feedback["expected"].items()
             if name not in ("iou", "tolerance", "alternatives", "max_cer")}
    right = _answer(client, worker, question["key"], reply)
    assert right["correct"] is True and right["credit"] == 1.0


def _answer(client, worker, key, answer):
    response = client.post(f"/api/v1/courses/bbox-basics/examples/{key}/answer", headers=worker.headers,
                           json={"answer": answer})
    assert response.status_code == 200, response.get_json()
    return response.get_json()
