"""GET /courses and GET /courses/{slug}: what a worker sees, in their language, page by page, with
locks that say what is missing; unpublished courses do not exist for workers."""

from __future__ import annotations

from backend.extensions import db
from backend.skills import services as skills

from .conftest import course_payload, make_course

PROBLEM = "application/problem+json"


def test_titles_come_in_the_worker_s_language_with_fallback(app, client, auth):
    make_course(app, course_payload("ko-only", title={"ko": "한국어만"}, description="Same in both"))
    make_course(app)
    korean, english = auth.register(locale="ko"), auth.register(locale="en")
    ko_items = client.get("/api/v1/courses", headers=korean.headers).get_json()["items"]
    en_items = client.get("/api/v1/courses", headers=english.headers).get_json()["items"]
    assert [i["title"] for i in ko_items] == ["한국어만", "입문 과정"]
    assert [i["title"] for i in en_items] == ["한국어만", "Intro course"]
    detail = client.get("/api/v1/courses/intro-course", headers=english.headers).get_json()
    assert detail["description"] == "About"
    assert [m["title"] for m in detail["modules"]] == ["First module", "Second module"]
    assert [lesson["title"] for lesson in detail["modules"][0]["lessons"]] == ["Basics", "Practice"]


def test_list_items_carry_the_contract_fields(app, client, auth):
    make_course(app)
    worker = auth.register()
    item = client.get("/api/v1/courses", headers=worker.headers).get_json()["items"][0]
    assert {"slug", "title", "skill", "level", "lesson_count", "enrolled", "progress", "locked",
            "locked_reason"} <= set(item)
    assert item == {**item, "slug": "intro-course", "skill": "bbox", "level": 1, "lesson_count": 3,
                    "enrolled": False, "progress": 0.0, "locked": False, "locked_reason": None}


def test_list_is_paginated_with_a_cursor(app, client, auth):
    for n in range(5):
        make_course(app, course_payload(f"course-{n}"))
    worker = auth.register()
    first = client.get("/api/v1/courses?limit=2", headers=worker.headers).get_json()
    assert [i["slug"] for i in first["items"]] == ["course-0", "course-1"] and first["next_cursor"]
    second = client.get(f"/api/v1/courses?limit=2&cursor={first['next_cursor']}", headers=worker.headers).get_json()
    third = client.get(f"/api/v1/courses?limit=2&cursor={second['next_cursor']}", headers=worker.headers).get_json()
    assert [i["slug"] for i in second["items"] + third["items"]] == ["course-2", "course-3", "course-4"]
    assert third["next_cursor"] is None
    assert client.get("/api/v1/courses?limit=101", headers=worker.headers).status_code == 422
    assert client.get("/api/v1/courses?cursor=%%%", headers=worker.headers).status_code == 422


def test_list_filters_by_skill(app, client, auth):
    make_course(app, course_payload("boxes"))
    make_course(app, course_payload("reading", skill="ocr"))
    worker = auth.register()
    items = client.get("/api/v1/courses?skill=ocr", headers=worker.headers).get_json()["items"]
    assert [i["slug"] for i in items] == ["reading"]


def test_unpublished_course_is_invisible_to_workers(app, client, auth):
    make_course(app, course_payload("draft"), published=False)
    worker = auth.register()
    assert client.get("/api/v1/courses", headers=worker.headers).get_json()["items"] == []
    for method, path in (("get", "/api/v1/courses/draft"), ("post", "/api/v1/courses/draft/enrollment"),
                         ("post", "/api/v1/courses/draft/examples/q1/answer")):
        response = getattr(client, method)(path, headers=worker.headers, json={"answer": {"choice": "a"}})
        assert response.status_code == 404 and response.mimetype == PROBLEM


def test_unknown_course_is_404(client, auth):
    worker = auth.register()
    response = client.get("/api/v1/courses/no-such-course", headers=worker.headers)
    assert response.status_code == 404
    assert response.get_json()["type"] == "urn:labelpath:problem:course-not-found"


def test_a_token_is_needed(client):
    assert client.get("/api/v1/courses").status_code == 401


def test_locked_by_skill_level_says_which_level_in_both_languages(app, client, auth):
    make_course(app, course_payload("level-two", level=2, requires={"skill_level": 1}))
    korean, english = auth.register(locale="ko"), auth.register(locale="en")
    ko_item = client.get("/api/v1/courses", headers=korean.headers).get_json()["items"][0]
    en_item = client.get("/api/v1/courses", headers=english.headers).get_json()["items"][0]
    assert ko_item["locked"] is True
    assert ko_item["locked_reason"] == "바운딩 박스 레벨 1 이상이 필요합니다(현재 레벨 0)."
    assert en_item["locked_reason"] == "Requires level 1 in Bounding boxes (you are level 0)."
    with app.app_context():
        skills.set_level(english.id, "bbox", 1, "test", source="override")
        db.session.commit()
    en_item = client.get("/api/v1/courses", headers=english.headers).get_json()["items"][0]
    assert en_item["locked"] is False and en_item["locked_reason"] is None


def test_locked_by_several_courses_and_a_level_names_them_all(app, client, auth):
    make_course(app, course_payload("first-steps", title={"ko": "첫걸음", "en": "First steps"}))
    make_course(app, course_payload("second-steps", title={"ko": "두걸음", "en": "Second steps"}))
    make_course(app, course_payload("capstone", requires={"courses": ["first-steps", "second-steps"],
                                                          "skill_level": 2}))
    english = auth.register(locale="en")
    detail = client.get("/api/v1/courses/capstone", headers=english.headers).get_json()
    assert detail["locked"] is True
    assert detail["locked_reason"] == ("Complete the courses “First steps” and “Second steps” first. "
                                       "Requires level 2 in Bounding boxes (you are level 0).")
    assert detail["requires"] == {"courses": ["first-steps", "second-steps"], "skill_level": 2}


def test_locked_course_cannot_be_enrolled_read_or_practised(app, client, auth):
    make_course(app, course_payload("first-steps", title={"ko": "첫걸음", "en": "First steps"}))
    make_course(app, course_payload("next-steps", requires={"courses": ["first-steps"]}))
    worker = auth.register(locale="ko")
    enroll = client.post("/api/v1/courses/next-steps/enrollment", headers=worker.headers)
    assert enroll.status_code == 409 and enroll.mimetype == PROBLEM
    body = enroll.get_json()
    assert body["type"] == "urn:labelpath:problem:course-locked"
    assert "첫걸음" in body["detail"]
    assert body["missing"] == {"courses": ["first-steps"], "skill_level": None}
    lesson_id = client.get("/api/v1/courses/next-steps", headers=worker.headers).get_json()[
        "modules"][0]["lessons"][0]["id"]
    assert client.get(f"/api/v1/courses/next-steps/lessons/{lesson_id}", headers=worker.headers).status_code == 409
    answer = client.post("/api/v1/courses/next-steps/examples/q1/answer", headers=worker.headers,
                         json={"answer": {"choice": "b"}})
    assert answer.status_code == 409


def test_detail_and_lesson_carry_an_etag_and_answer_304(app, client, auth):
    make_course(app)
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    detail = client.get("/api/v1/courses/intro-course", headers=worker.headers)
    lesson_id = detail.get_json()["modules"][0]["lessons"][0]["id"]
    path = f"/api/v1/courses/intro-course/lessons/{lesson_id}"
    lesson = client.get(path, headers=worker.headers)
    tag = lesson.headers["ETag"]
    assert tag and lesson.headers["Cache-Control"] == "private, no-cache"
    unchanged = client.get(path, headers={**worker.headers, "If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert client.get(path, headers={**worker.headers, "If-None-Match": '"other"'}).status_code == 200

    client.post(f"{path}/completion", headers=worker.headers)
    changed = client.get(path, headers={**worker.headers, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.get_json()["completed"] is True
    detail_again = client.get("/api/v1/courses/intro-course",
                              headers={**worker.headers, "If-None-Match": detail.headers["ETag"]})
    assert detail_again.status_code == 200  # progress changed


def test_etag_differs_by_language(app, client, auth):
    make_course(app)
    korean, english = auth.register(locale="ko"), auth.register(locale="en")
    tags = {client.get("/api/v1/courses/intro-course", headers=a.headers).headers["ETag"] for a in (korean, english)}
    assert len(tags) == 2
