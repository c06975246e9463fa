"""Helpers for the course tests: a small course payload, making courses, importing the real packs."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from backend.extensions import db
from courses import services

PACKS = services.PACKS_DIR


def lesson(key: str, title_ko: str, title_en: str, *blocks) -> dict:
    return {"key": key, "title": {"ko": title_ko, "en": title_en},
            "blocks": list(blocks) or [{"kind": "markdown", "text": {"ko": f"{title_ko} 본문", "en": f"{title_en} body"}}]}


def choice_example(key: str) -> dict:
    return {"kind": "example", "question": {
        "key": key, "kind": "single_choice",
        "prompt": {"ko": "어느 박스가 맞나요?", "en": "Which box is right?"},
        "options": [{"id": "a", "text": {"ko": "가", "en": "A"}}, {"id": "b", "text": {"ko": "나", "en": "B"}}],
        "answer": {"choice": "b"},
        "explanation": {"ko": "나가 딱 맞습니다.", "en": "B is tight."}}}


def course_payload(slug: str = "intro-course", **overrides) -> dict:
    payload = {
        "slug": slug,
        "title": {"ko": "입문 과정", "en": "Intro course"},
        "description": {"ko": "설명", "en": "About"},
        "skill": "bbox", "level": 1,
        "modules": [
            {"title": {"ko": "첫 모듈", "en": "First module"}, "lessons": [
                lesson("basics", "기초", "Basics", {"kind": "markdown", "text": "# Hello"}, choice_example("q1")),
                lesson("practice", "연습", "Practice"),
            ]},
            {"title": {"ko": "둘째 모듈", "en": "Second module"}, "lessons": [lesson("wrap-up", "정리", "Wrap-up")]},
        ],
    }
    payload.update(overrides)
    return copy.deepcopy(payload)


def make_course(app, payload: dict | None = None, *, published: bool = True) -> dict:
    with app.app_context():
        course = services.create_course({**_loaded(payload or course_payload()), "published": published})
        db.session.commit()
    return course


def _loaded(payload: dict) -> dict:
    from courses.schemas import CourseIn

    return CourseIn().load(payload)


def lesson_ids(client, account, slug: str) -> list[int]:
    detail = client.get(f"/api/v1/courses/{slug}", headers=account.headers).get_json()
    return [item["id"] for module in detail["modules"] for item in module["lessons"]]


@pytest.fixture
def starter_packs(app):
    """The four real packs of courses/packs, imported and published."""
    with app.app_context():
        results = services.import_packs(PACKS)
        db.session.commit()
    return results


@pytest.fixture
def pack_copy(tmp_path) -> Path:
    """A writable copy of the bbox-basics pack, in a folder of its own."""
    target = tmp_path / "packs" / "bbox-basics"
    shutil.copytree(PACKS / "bbox-basics", target)
    return target
