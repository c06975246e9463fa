"""Practice examples: a lesson shows the question without its key; an answer gets instant feedback
(right or wrong, credit, explanation, the key) from the same comparison as exams. Pack media are
served at absolute paths with cache headers."""

from __future__ import annotations

import pytest

from .conftest import course_payload, lesson_ids, make_course


def _answer(client, account, slug, key, answer):
    return client.post(f"/api/v1/courses/{slug}/examples/{key}/answer", headers=account.headers,
                       json={"answer": answer})


def test_a_lesson_shows_examples_without_their_keys(app, client, auth, starter_packs):
    worker = auth.register()
    for slug in ("bbox-basics", "llm-eval-basics", "korean-ocr-basics"):
        for lesson_id in lesson_ids(client, worker, slug):
            lesson = client.get(f"/api/v1/courses/{slug}/lessons/{lesson_id}", headers=worker.headers)
            text = lesson.get_data(as_text=True)
            assert '"answer"' not in text and '"explanation"' not in text
            for block in lesson.get_json()["blocks"]:
                assert block["kind"] in ("markdown", "image", "video", "example")
                if block["kind"] == "example":
                    assert set(block["question"]) == {"key", "kind", "prompt", "media", "options", "points"}


@pytest.mark.parametrize(("slug", "key", "wrong", "right", "partial"), [
    ("llm-eval-basics", "llm-rating-1", {"scores": {"correctness": 5, "helpfulness": 5}},
     {"scores": {"correctness": 4, "helpfulness": 3}}, 0.5),
    ("llm-eval-basics", "llm-pairwise-2", {"preferred": "b"}, {"preferred": "a"}, 0.0),
    ("korean-ocr-basics", "ocr-price-1", {"text": "두부"}, {"text": "국산콩 두부 300g\n2,480원\n(100g당 827원)"}, None),
    ("korean-ocr-basics", "ocr-mixed-1", {"text": "GS 25"}, {"text": "GS25  역삼점"}, 0.0),
    ("korean-ocr-basics", "ocr-numbers-1", {"choices": ["a", "b"]}, {"choices": ["c", "b", "a"]}, 0.6667),
    ("bbox-basics", "bbox-tight-2", {"boxes": [{"x": 52, "y": 167, "w": 141, "h": 49, "label": "car"}]},
     {"boxes": [{"x": 53, "y": 168, "w": 140, "h": 48, "label": "car"},
                {"x": 246, "y": 110, "w": 22, "h": 62, "label": "person"}]}, 0.5),
])
def test_answers_get_instant_feedback_like_an_audit(client, auth, starter_packs, slug, key, wrong, right,
                                                    partial):
    worker = auth.register(locale="en")
    bad = _answer(client, worker, slug, key, wrong)
    assert bad.status_code == 200, bad.get_json()
    bad = bad.get_json()
    assert bad["correct"] is False
    if partial is not None:
        assert bad["credit"] == partial
    assert bad["explanation"] and not any("\uac00" <= ch <= "\ud7a3" for ch in bad["explanation"][:20])
    assert bad["expected"]
    good = _answer(client, worker, slug, key, right).get_json()
    assert good["correct"] is True and good["credit"] == 1.0


def test_transcription_feedback_reports_the_character_error_rate(client, auth, starter_packs):
    worker = auth.register()
    result = _answer(client, worker, "korean-ocr-basics", "ocr-price-1",
                     {"text": "국산콩 두부 300g\n2,480원\n(100g당 872원)"}).get_json()
    assert result["correct"] is False and 0 < result["detail"]["cer"] <= 0.1
    assert result["expected"]["max_cer"] == 0.05


def test_malformed_answers_are_422_naming_the_field(app, client, auth):
    make_course(app)
    worker = auth.register()
    wrong_shape = _answer(client, worker, "intro-course", "q1", {"choices": ["a"]})
    assert wrong_shape.status_code == 422
    assert set(wrong_shape.get_json()["errors"]) == {"answer.choice", "answer.choices"}
    not_an_object = client.post("/api/v1/courses/intro-course/examples/q1/answer", headers=worker.headers,
                                json={"answer": "b"})
    assert not_an_object.status_code == 422 and "answer" in not_an_object.get_json()["errors"]
    missing = client.post("/api/v1/courses/intro-course/examples/q1/answer", headers=worker.headers, json={})
    assert missing.status_code == 422


def test_unknown_example_is_404(app, client, auth):
    make_course(app)
    worker = auth.register()
    response = _answer(client, worker, "intro-course", "nope", {"choice": "a"})
    assert response.status_code == 404
    assert response.get_json()["type"] == "urn:labelpath:problem:example-not-found"


def test_practice_needs_no_enrollment_when_the_course_is_open(app, client, auth):
    make_course(app, course_payload(title={"ko": "열린 과정"}))
    worker = auth.register()
    result = _answer(client, worker, "intro-course", "q1", {"choice": "b"})
    assert result.status_code == 200 and result.get_json()["explanation"] == "나가 딱 맞습니다."


def test_media_urls_are_absolute_and_served_with_cache_headers(client, auth, starter_packs):
    worker = auth.register()
    lesson_id = lesson_ids(client, worker, "bbox-basics")[0]
    blocks = client.get(f"/api/v1/courses/bbox-basics/lessons/{lesson_id}", headers=worker.headers).get_json()["blocks"]
    image = next(block for block in blocks if block["kind"] == "image")
    assert image["url"].startswith("/api/v1/media/courses/bbox-basics/coordinates.png?v=")
    assert image["alt"].startswith("왼쪽 위가 (0, 0)")

    served = client.get(image["url"])  # no token: image tags load it
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data.startswith(b"\x89PNG")
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    unversioned = client.get("/api/v1/media/courses/bbox-basics/coordinates.png")
    assert unversioned.headers["Cache-Control"] == "public, max-age=86400"
    again = client.get(image["url"], headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("path", [
    "/api/v1/media/courses/bbox-basics/nothing.png",
    "/api/v1/media/courses/bbox-basics/../../../../etc/passwd",
    "/api/v1/media/courses/bbox-basics/..%2f..%2fcourse.yaml",
    "/api/v1/media/courses/bbox-basics/media/coordinates.png",
    "/api/v1/media/courses/no-course/coordinates.png",
])
def test_media_outside_a_published_course_s_files_is_404(client, starter_packs, path):
    assert client.get(path).status_code == 404


def test_media_of_an_unpublished_course_is_404(app, client, starter_packs):
    from backend.extensions import db
    from courses import services

    with app.app_context():
        services.set_published("bbox-basics", False)
        db.session.commit()
    assert client.get("/api/v1/media/courses/bbox-basics/coordinates.png").status_code == 404
