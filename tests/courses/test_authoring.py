"""Manager endpoints: create and update a course as JSON, publish and unpublish; roles; every
invalid payload is a 422 naming the field; updates keep lesson ids (by key) and everyone's progress."""

from __future__ import annotations

import csv
import io

import pytest

from backend import events

from .conftest import choice_example, course_payload, lesson, lesson_ids

BASE = "/api/v1/manage/courses"


@pytest.fixture
def manager(auth):
    return auth.create("manager")


def _create(client, manager, payload=None):
    response = client.post(BASE, headers=manager.headers, json=payload or course_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_workers_and_reviewers_may_not_author(client, auth):
    for account in (auth.register(), auth.create("reviewer")):
        assert client.post(BASE, headers=account.headers, json=course_payload()).status_code == 403
        assert client.put(f"{BASE}/x", headers=account.headers, json=course_payload()).status_code == 403
        assert client.post(f"{BASE}/x/publication", headers=account.headers).status_code == 403
    assert client.post(BASE, json=course_payload()).status_code == 401


def test_create_publish_unpublish(client, auth, manager):
    created = _create(client, manager)
    assert created["published"] is False and created["version"] == 1 and created["source"] == "api"
    assert created["modules"][0]["lessons"][0]["blocks"][1]["question"]["answer"] == {"choice": "b"}
    worker = auth.register()
    assert client.get("/api/v1/courses/intro-course", headers=worker.headers).status_code == 404

    published = client.post(f"{BASE}/intro-course/publication", headers=manager.headers)
    assert published.status_code == 200 and published.get_json()["published"] is True
    assert published.get_json()["published_at"].endswith("Z")
    assert client.get("/api/v1/courses/intro-course", headers=worker.headers).status_code == 200

    unpublished = client.delete(f"{BASE}/intro-course/publication", headers=manager.headers)
    assert unpublished.status_code == 200 and unpublished.get_json()["published"] is False
    assert client.get("/api/v1/courses/intro-course", headers=worker.headers).status_code == 404
    assert client.post(f"{BASE}/nope/publication", headers=manager.headers).status_code == 404


def test_create_can_publish_at_once_and_slugs_are_unique(client, manager):
    _create(client, manager, {**course_payload(), "published": True})
    again = client.post(BASE, headers=manager.headers, json=course_payload())
    assert again.status_code == 409
    assert again.get_json()["type"] == "urn:labelpath:problem:course-slug-taken"


def test_manager_reads_back_what_put_takes(client, manager):
    created = _create(client, manager)
    fetched = client.get(f"{BASE}/intro-course", headers=manager.headers).get_json()
    assert fetched == created
    payload = {key: fetched[key] for key in ("slug", "title", "description", "skill", "level", "sequential",
                                              "requires")}
    payload["modules"] = [{"title": m["title"], "lessons": [
        {"key": item["key"], "title": item["title"], "blocks": item["blocks"]} for item in m["lessons"]]}
        for m in fetched["modules"]]
    same = client.put(f"{BASE}/intro-course", headers=manager.headers, json=payload)
    assert same.status_code == 200
    assert same.get_json()["version"] == 1  # nothing changed
    assert client.get(f"{BASE}/nope", headers=manager.headers).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.update(skill="juggling"), "skill"),
    (lambda p: p.update(level=9), "level"),
    (lambda p: p.update(slug="Bad Slug"), "slug"),
    (lambda p: p.update(requires={"courses": ["missing-course"]}), "requires.courses.0"),
    (lambda p: p.update(requires={"courses": ["intro-course"]}), "requires.courses.0"),
    (lambda p: p.update(modules=[]), "modules"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"][1]["question"].update(answer={"choice": "z"}),
     "modules.0.lessons.0.blocks.1.question.answer.choice"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"][1]["question"].update(kind="essay"),
     "modules.0.lessons.0.blocks.1.question.kind"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"].append({"kind": "image", "url": "media/x.png", "alt": "x"}),
     "modules.0.lessons.0.blocks.2.url"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"].append({"kind": "video", "url": "https://v.example/1"}),
     "modules.0.lessons.0.blocks.2.duration_s"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"].append({"kind": "markdown", "text": "x", "alt": "y"}),
     "modules.0.lessons.0.blocks.2.alt"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"].append({"kind": "image", "url": "javascript:x", "alt": "y"}),
     "modules.0.lessons.0.blocks.2.url"),
    (lambda p: p["modules"][1]["lessons"].append(lesson("basics", "중복", "Again")),
     "modules.1.lessons.1.key"),
    (lambda p: p["modules"][1]["lessons"].append(lesson("more", "더", "More", choice_example("q1"))),
     "modules.1.lessons.1.blocks.0.question.key"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"][1]["question"].update(
        kind="rating", options=None, answer={"scores": {"x": 7}}), "modules.0.lessons.0.blocks.1.question.answer.scores.x"),
    (lambda p: p["modules"][0]["lessons"][0]["blocks"][1]["question"].update(
        kind="bbox", options=None, answer={"boxes": [{"x": 1, "y": 1, "w": 2, "h": 2, "label": "car"}]}),
     "modules.0.lessons.0.blocks.1.question.media"),
    (lambda p: p.update(title={"fr": "Bonjour"}), "title"),
])
def test_invalid_course_is_422_naming_the_field(client, manager, change, field):
    payload = course_payload()
    change(payload)
    response = client.post(BASE, headers=manager.headers, json=payload)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()["errors"]


def test_requirements_may_not_go_round_in_a_circle(client, manager):
    _create(client, manager, course_payload("alpha"))
    _create(client, manager, course_payload("beta", requires={"courses": ["alpha"]}))
    loop = course_payload("alpha", requires={"courses": ["beta"]})
    response = client.put(f"{BASE}/alpha", headers=manager.headers, json=loop)
    assert response.status_code == 422
    assert "alpha → beta → alpha" in response.get_json()["errors"]["requires.courses.0"][0]


def test_put_keeps_lesson_ids_and_progress_and_retires_what_is_left_out(client, auth, manager):
    _create(client, manager, {**course_payload(), "published": True})
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    basics, practice, wrap_up = lesson_ids(client, worker, "intro-course")
    for lesson_id in (basics, wrap_up):
        client.post(f"/api/v1/courses/intro-course/lessons/{lesson_id}/completion", headers=worker.headers)

    payload = course_payload()
    payload["modules"][0]["lessons"].pop(1)  # "practice" is left out
    payload["modules"][0]["lessons"][0]["title"] = {"ko": "새 기초", "en": "New basics"}
    completed = []
    with events.course_completed.connected_to(lambda _s, **kw: completed.append(kw)):
        updated = client.put(f"{BASE}/intro-course", headers=manager.headers, json=payload)
    assert updated.status_code == 200 and updated.get_json()["version"] == 2
    assert updated.get_json()["published"] is True

    assert lesson_ids(client, worker, "intro-course") == [basics, wrap_up]
    detail = client.get("/api/v1/courses/intro-course", headers=worker.headers).get_json()
    assert detail["modules"][0]["lessons"][0]["title"] == "새 기초"
    # Both remaining lessons were done: leaving one out completed the course for this worker.
    assert detail["completed"] is True and detail["progress"] == 1.0
    assert [c["user_id"] for c in completed] == [worker.id]
    assert client.get(f"/api/v1/courses/intro-course/lessons/{practice}", headers=worker.headers).status_code == 404

    payload["modules"][0]["lessons"].insert(1, lesson("practice", "연습", "Practice"))
    client.put(f"{BASE}/intro-course", headers=manager.headers, json=payload)
    assert lesson_ids(client, worker, "intro-course") == [basics, practice, wrap_up]  # revived with its id


def test_put_checks_the_path_slug_and_unknown_courses(client, manager):
    _create(client, manager)
    assert client.put(f"{BASE}/intro-course", headers=manager.headers,
                      json=course_payload("another")).status_code == 422
    assert client.put(f"{BASE}/nope", headers=manager.headers, json=course_payload("nope")).status_code == 404
    body = course_payload()
    del body["slug"]
    assert client.put(f"{BASE}/intro-course", headers=manager.headers, json=body).status_code == 200


def test_missing_keys_are_generated_and_stable(client, manager):
    payload = course_payload()
    for module in payload["modules"]:
        for item in module["lessons"]:
            del item["key"]
    del payload["modules"][0]["lessons"][0]["blocks"][1]["question"]["key"]
    created = _create(client, manager, payload)
    first = created["modules"][0]["lessons"][0]
    assert [item["key"] for m in created["modules"] for item in m["lessons"]] == ["lesson-1", "lesson-2", "lesson-3"]
    assert first["blocks"][1]["question"]["key"] == "lesson-1-example-1"


def test_pack_media_stay_usable_when_a_manager_edits_a_pack_course(client, auth, manager, starter_packs):
    course = client.get(f"{BASE}/bbox-basics", headers=manager.headers).get_json()
    payload = {key: course[key] for key in ("slug", "title", "description", "skill", "level", "requires")}
    payload["modules"] = [{"title": m["title"], "lessons": [
        {"key": item["key"], "title": item["title"], "blocks": item["blocks"]} for item in m["lessons"]]}
        for m in course["modules"]]
    payload["modules"][0]["lessons"][0]["title"] = {"ko": "박스란?", "en": "Boxes"}
    response = client.put(f"{BASE}/bbox-basics", headers=manager.headers, json=payload)
    assert response.status_code == 200, response.get_json()
    worker = auth.register()
    lesson_id = lesson_ids(client, worker, "bbox-basics")[0]
    blocks = client.get(f"/api/v1/courses/bbox-basics/lessons/{lesson_id}", headers=worker.headers).get_json()["blocks"]
    image = next(block for block in blocks if block["kind"] == "image")
    assert client.get(image["url"]).status_code == 200


def test_manager_list_counts_people_and_answers_csv(client, auth, manager):
    _create(client, manager, {**course_payload(), "published": True})
    _create(client, manager, course_payload("draft-course", title={"ko": "초안", "en": "Draft"}))
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    listing = client.get(BASE, headers=manager.headers).get_json()
    assert [(i["slug"], i["published"], i["enrolled"], i["completed"]) for i in listing["items"]] == [
        ("intro-course", True, 1, 0), ("draft-course", False, 0, 0)]
    exported = client.get(f"{BASE}?format=csv", headers=manager.headers)
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["slug"], r["title_ko"], r["enrolled"]) for r in rows] == [("intro-course", "입문 과정", "1"),
                                                                         ("draft-course", "초안", "0")]
    assert client.get(BASE, headers=worker.headers).status_code == 403
