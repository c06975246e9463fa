"""Enrollment and lesson completion: idempotent, only for enrolled workers, in order when the course
says so; the last lesson completes the course exactly once (course_completed event)."""

from __future__ import annotations

import sqlalchemy as sa

from backend import events
from backend.extensions import db
from courses import services
from courses.models import Enrollment, LessonCompletion
from tests.support.concurrency import run_together

from .conftest import course_payload, lesson_ids, make_course


def test_enrollment_is_idempotent(app, client, auth):
    make_course(app)
    worker = auth.register()
    first = client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    again = client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["enrolled_at"].endswith("Z")
    assert again.get_json() == {**first.get_json(), "total_lessons": 3, "completed_lessons": 0,
                                "course_completed": False}
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Enrollment)).scalar() == 1
    listed = client.get("/api/v1/courses", headers=worker.headers).get_json()["items"][0]
    assert listed["enrolled"] is True


def test_completing_a_lesson_needs_an_enrollment(app, client, auth):
    make_course(app)
    worker = auth.register(locale="en")
    lesson_id = lesson_ids(client, worker, "intro-course")[0]
    response = client.post(f"/api/v1/courses/intro-course/lessons/{lesson_id}/completion", headers=worker.headers)
    assert response.status_code == 409
    body = response.get_json()
    assert body["type"] == "urn:labelpath:problem:not-enrolled"
    assert body["detail"].startswith("Enroll in “Intro course” first")


def test_completion_is_idempotent_and_counts_progress(app, client, auth):
    make_course(app)
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    first, *_ = lesson_ids(client, worker, "intro-course")
    path = f"/api/v1/courses/intro-course/lessons/{first}/completion"
    one = client.post(path, headers=worker.headers).get_json()
    two = client.post(path, headers=worker.headers).get_json()
    assert one == two == {"lesson_id": first, "completed_lessons": 1, "total_lessons": 3, "course_completed": False}
    item = client.get("/api/v1/courses", headers=worker.headers).get_json()["items"][0]
    assert item["completed_lessons"] == 1 and item["progress"] == 0.3333
    detail = client.get("/api/v1/courses/intro-course", headers=worker.headers).get_json()
    assert [lesson["completed"] for m in detail["modules"] for lesson in m["lessons"]] == [True, False, False]


def test_lessons_complete_in_any_order_and_the_course_completes_once(app, client, auth):
    make_course(app)
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    ids = lesson_ids(client, worker, "intro-course")
    seen = []
    with events.course_completed.connected_to(lambda _s, **kw: seen.append(kw)):
        for lesson_id in reversed(ids):
            result = client.post(f"/api/v1/courses/intro-course/lessons/{lesson_id}/completion",
                                 headers=worker.headers).get_json()
        client.post(f"/api/v1/courses/intro-course/lessons/{ids[0]}/completion", headers=worker.headers)
    assert result["course_completed"] is True
    assert len(seen) == 1
    with app.app_context():
        course_id = services._find("intro-course").id
    assert seen[0] == {"user_id": worker.id, "course_id": course_id, "slug": "intro-course", "skill": "bbox",
                       "level": 1}


def test_sequential_course_completes_in_order(app, client, auth):
    make_course(app, course_payload(sequential=True))
    worker = auth.register(locale="en")
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    first, second, third = lesson_ids(client, worker, "intro-course")
    early = client.post(f"/api/v1/courses/intro-course/lessons/{third}/completion", headers=worker.headers)
    assert early.status_code == 409
    body = early.get_json()
    assert body["type"] == "urn:labelpath:problem:lesson-out-of-order"
    assert body["next_lesson_id"] == first and "“Basics”" in body["detail"]
    for lesson_id in (first, second, third):
        response = client.post(f"/api/v1/courses/intro-course/lessons/{lesson_id}/completion", headers=worker.headers)
        assert response.status_code == 200
    assert response.get_json()["course_completed"] is True


def test_unknown_and_foreign_lessons_are_404(app, client, auth):
    make_course(app)
    make_course(app, course_payload("other-course"))
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    foreign = lesson_ids(client, worker, "other-course")[0]
    for path in (f"/api/v1/courses/intro-course/lessons/{foreign}", "/api/v1/courses/intro-course/lessons/999999",
                 "/api/v1/courses/intro-course/lessons/abc", "/api/v1/courses/nope/lessons/1"):
        assert client.get(path, headers=worker.headers).status_code == 404, path
        assert client.post(f"{path}/completion", headers=worker.headers).status_code == 404, path


def test_unpublishing_keeps_progress_and_completion_counts(app, client, auth):
    make_course(app)
    worker = auth.register()
    client.post("/api/v1/courses/intro-course/enrollment", headers=worker.headers)
    for lesson_id in lesson_ids(client, worker, "intro-course"):
        client.post(f"/api/v1/courses/intro-course/lessons/{lesson_id}/completion", headers=worker.headers)
    with app.app_context():
        services.set_published("intro-course", False)
        db.session.commit()
        assert services.is_completed(worker.id, "intro-course") is True
    assert client.get("/api/v1/courses/intro-course", headers=worker.headers).status_code == 404


def test_service_api_for_other_domains(app, client, auth):
    make_course(app)
    make_course(app, course_payload("second", title="Second"), published=False)
    worker, other = auth.register(), auth.register()
    for account in (worker, other):
        client.post("/api/v1/courses/intro-course/enrollment", headers=account.headers)
    for lesson_id in lesson_ids(client, worker, "intro-course"):
        client.post(f"/api/v1/courses/intro-course/lessons/{lesson_id}/completion", headers=worker.headers)
    with app.app_context():
        assert services.is_completed(worker.id, "intro-course") is True
        assert services.is_completed(other.id, "intro-course") is False
        assert services.is_completed(worker.id, "nope") is False
        assert services.completed_slugs(worker.id) == {"intro-course"}
        assert services.completed_slugs(other.id) == set()
        assert services.get_course_summary("intro-course") == {
            "slug": "intro-course", "title": {"ko": "입문 과정", "en": "Intro course"}, "skill": "bbox",
            "level": 1, "published": True}
        assert services.get_course_summary("second")["title"] == {"ko": "Second", "en": "Second"}
        assert services.get_course_summary("second")["published"] is False
        assert services.get_course_summary("nope") is None
        assert services.enrollment_counts() == {"intro-course": {"enrolled": 2, "completed": 1}}


def _post_all(app, paths, headers) -> list[int]:
    clients = [app.test_client() for _ in paths]
    return sorted(run_together(len(paths), lambda i: clients[i].post(paths[i], headers=headers).status_code))


def test_racing_enrollments_and_last_completions_count_once(committing_app):
    from tests.conftest import AuthActions

    app = committing_app
    make_course(app, course_payload(modules=[{"title": "Only", "lessons": [
        {"key": f"l{n}", "title": f"L{n}", "blocks": [{"kind": "markdown", "text": "x"}]} for n in range(4)]}]))
    auth = AuthActions(app, app.test_client())
    worker = auth.register()
    statuses = _post_all(app, ["/api/v1/courses/intro-course/enrollment"] * 4, worker.headers)
    assert statuses.count(201) == 1 and statuses.count(200) == 3
    ids = lesson_ids(app.test_client(), worker, "intro-course")
    seen = []
    with events.course_completed.connected_to(lambda _s, **kw: seen.append(kw)):
        statuses = _post_all(app, [f"/api/v1/courses/intro-course/lessons/{i}/completion" for i in ids * 2],
                             worker.headers)
    assert statuses == [200] * 8
    assert len(seen) == 1
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(LessonCompletion)).scalar() == 4
        assert services.is_completed(worker.id, "intro-course")
