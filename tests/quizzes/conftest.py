"""Helpers of the certification tests: an exam with one question of every kind, built through the
manager API, and answers that are right or wrong for each kind."""

from __future__ import annotations

import copy
import secrets

import pytest

MANAGE = "/api/v1/manage"
API = "/api/v1"

# Distinctive key values: none of them may ever reach a worker (tests/quizzes/test_leaks.py).
SECRETS = ("Zanzibarite", "Quokkalith", "7321.625", "0.375", "113.25", "61.75", "kumquat",
           "XQ-771", "펭귄이 얼음", "0.55", "0.05")

QUESTIONS = [
    {"key": "sc", "kind": "single_choice", "prompt": {"ko": "하나를 고르세요.", "en": "Pick one."},
     "options": [{"id": "o1", "text": "Alpha"}, {"id": "o2", "text": "Beta"}, {"id": "o3", "text": "Gamma"}],
     "answer": {"choice": "o2"}, "explanation": {"ko": "EXPL-sc 설명", "en": "EXPL-sc explained"}},
    {"key": "mc", "kind": "multi_choice", "prompt": "Pick all that apply.",
     "options": [{"id": "o1", "text": "One"}, {"id": "o2", "text": "Two"}, {"id": "o3", "text": "Three"},
                 {"id": "o4", "text": "Four"}],
     "answer": {"choices": ["o1", "o3"]}, "points": 2, "explanation": "EXPL-mc"},
    {"key": "tf", "kind": "true_false", "prompt": "True or false?", "answer": {"value": True},
     "explanation": "EXPL-tf"},
    {"key": "num", "kind": "numeric", "prompt": "How much?", "answer": {"value": 7321.625, "tolerance": 0.375},
     "explanation": "EXPL-num"},
    {"key": "st", "kind": "short_text", "prompt": "Name it.",
     "answer": {"text": "Zanzibarite", "alternatives": ["Quokkalith"]}, "explanation": "EXPL-st"},
    {"key": "bb", "kind": "bbox", "prompt": "Box the fruit.",
     "media": [{"kind": "image", "url": "https://cdn.example.com/fruit.png"}],
     "answer": {"boxes": [{"x": 113.25, "y": 47.5, "w": 61.75, "h": 29.5, "label": "kumquat"}], "iou": 0.55},
     "points": 2, "explanation": "EXPL-bb"},
    {"key": "tr", "kind": "transcription", "prompt": "Transcribe.",
     "media": [{"kind": "audio", "url": "https://cdn.example.com/clip.ogg"}],
     "answer": {"text": "펭귄이 얼음 위에서 춤춘다 XQ-771", "max_cer": 0.05}, "points": 2,
     "explanation": "EXPL-tr"},
    {"key": "ra", "kind": "rating", "prompt": {"ko": "fluency와 accuracy를 1~5로 평가하세요.",
                                              "en": "Rate fluency and accuracy from 1 to 5."},
     "answer": {"scores": {"fluency": 4, "accuracy": 2}, "tolerance": 0}, "explanation": "EXPL-ra"},
    {"key": "pw", "kind": "pairwise", "prompt": "Which response is better? [A] … [B] …",
     "answer": {"preferred": "b"}, "explanation": "EXPL-pw"},
]

EXAM = {
    "title": {"ko": "모든 유형 시험", "en": "Every kind exam"},
    "skill": "bbox", "grants_level": 1, "time_limit_s": 600, "pass_percent": 80,
    "attempts_allowed": 3, "retake_cooldown_s": 3600, "validity_days": 365,
    "questions": QUESTIONS,
}


def exam_payload(**overrides) -> dict:
    payload = copy.deepcopy(EXAM)
    payload["key"] = f"test-{secrets.token_hex(3)}"
    payload.update(overrides)
    return payload


def create_exam(client, manager, **overrides) -> dict:
    response = client.post(f"{MANAGE}/exams", json=exam_payload(**overrides), headers=manager.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def keys_by_id(exam: dict) -> dict[int, dict]:
    """Question id → the manager's view of the question (with its answer key)."""
    return {q["id"]: q for q in exam["questions"]}


def right_answer(question: dict) -> dict:
    key = question["answer"]
    return {name: value for name, value in key.items() if name not in ("tolerance", "alternatives", "iou",
                                                                          "max_cer")}


def wrong_answer(question: dict) -> dict:
    key, kind = question["answer"], question["kind"]
    ids = [o["id"] for o in question["options"]]
    if kind == "single_choice":
        return {"choice": next(i for i in ids if i != key["choice"])}
    if kind == "multi_choice":
        return {"choices": [next(i for i in ids if i not in key["choices"])]}
    if kind == "true_false":
        return {"value": not key["value"]}
    if kind == "numeric":
        return {"value": key["value"] + 1000}
    if kind in ("short_text", "transcription"):
        return {"text": "something else entirely"}
    if kind == "bbox":
        return {"boxes": [{"x": 0, "y": 0, "w": 5, "h": 5, "label": "nothing"}]}
    if kind == "rating":
        return {"scores": {dim: 1 if score >= 3 else 5 for dim, score in key["scores"].items()}}
    if kind == "pairwise":
        return {"preferred": "a" if key["preferred"] == "b" else "b"}
    raise AssertionError(kind)


def answers_for(attempt: dict, exam: dict, right: bool | dict) -> dict[str, dict]:
    """Answers for every question of an attempt; `right` is a bool or {question key: bool}."""
    by_id = keys_by_id(exam)
    answers = {}
    for question in attempt["questions"]:
        full = by_id[question["id"]]
        ok = right if isinstance(right, bool) else right.get(full["key"], False)
        answers[str(question["id"])] = right_answer(full) if ok else wrong_answer(full)
    return answers


@pytest.fixture
def manager(auth):
    return auth.create("manager")


@pytest.fixture
def exam(client, manager):
    return create_exam(client, manager)
