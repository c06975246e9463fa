"""Every question kind graded on the server through a real attempt: right, wrong and partly right."""

import pytest

from tests.quizzes.conftest import API, answers_for, keys_by_id

KINDS = ("single_choice", "multi_choice", "true_false", "numeric", "short_text", "bbox", "transcription",
         "rating", "pairwise")


def _submit(client, worker, exam, answers_by_kind):
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
    ids = {q["kind"]: q["id"] for q in attempt["questions"]}
    answers = {str(ids[kind]): answer for kind, answer in answers_by_kind.items()}
    response = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers},
                           headers=worker.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return {kind: next(q for q in body["questions"] if q["id"] == ids[kind]) for kind in KINDS}, body


def test_every_kind_right_and_wrong(client, auth, exam):
    worker = auth.register()
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
    kinds = {q["id"]: q["kind"] for q in attempt["questions"]}
    assert sorted(kinds.values()) == sorted(KINDS)
    right = client.post(f"{API}/attempts/{attempt['id']}/submission",
                        json={"answers": answers_for(attempt, exam, True)}, headers=worker.headers).get_json()
    assert {kinds[q["id"]]: q["correct"] for q in right["questions"]} == dict.fromkeys(KINDS, True)
    assert all(q["earned"] == q["points"] and q["credit"] == 1 for q in right["questions"])

    other = auth.register()
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=other.headers).get_json()
    wrong = client.post(f"{API}/attempts/{attempt['id']}/submission",
                        json={"answers": answers_for(attempt, exam, False)}, headers=other.headers).get_json()
    assert {kinds[q["id"]]: q["correct"] for q in wrong["questions"]} == dict.fromkeys(KINDS, False)
    assert wrong["score"] == 0 and wrong["percent"] == 0


@pytest.mark.parametrize(("kind", "answer", "correct", "credit"), [
    ("numeric", {"value": 7321.25}, True, 1.0),  # exactly at the tolerance
    ("numeric", {"value": 7322.01}, False, 0.0),
    ("short_text", {"text": "  quokkalith "}, True, 1.0),  # an alternative, case and spaces ignored
    ("short_text", {"text": ""}, False, 0.0),
    ("multi_choice", {"choices": ["o1"]}, False, 0.5),  # Jaccard: 1 of 2 chosen, nothing extra
    ("multi_choice", {"choices": ["o1", "o3", "o4"]}, False, 2 / 3),
    ("bbox", {"boxes": [{"x": 114, "y": 48, "w": 61, "h": 29, "label": "kumquat"}]}, True, 1.0),
    ("bbox", {"boxes": [{"x": 114, "y": 48, "w": 61, "h": 29, "label": "kumquat"},
                        {"x": 1, "y": 1, "w": 4, "h": 4, "label": "kumquat"}]}, False, 0.5),
    ("bbox", {"boxes": [{"x": 114, "y": 48, "w": 61, "h": 29, "label": "orange"}]}, False, 0.0),
    ("transcription", {"text": "펭귄이 얼음 위에서 춤춘다 XQ-771"}, True, 1.0),
    ("transcription", {"text": "펭귄이  얼음 위에서 춤춘다 XQ-77"}, True, 1.0),  # 1 error in 21 chars ≤ 5 %
    ("rating", {"scores": {"fluency": 4, "accuracy": 3}}, False, 0.5),  # tolerance 0
    ("rating", {"scores": {"fluency": 4, "accuracy": 2, "style": 1}}, True, 1.0),
    ("true_false", {"value": False}, False, 0.0),
    ("pairwise", {"preferred": "b"}, True, 1.0),
    ("single_choice", {"choice": "o3"}, False, 0.0),
])
def test_partial_and_edge_answers(client, auth, exam, kind, answer, correct, credit):
    worker = auth.register()
    graded, body = _submit(client, worker, exam, {kind: answer})
    assert graded[kind]["correct"] is correct
    assert graded[kind]["credit"] == pytest.approx(credit)
    assert graded[kind]["earned"] == pytest.approx(credit * graded[kind]["points"], abs=1e-4)
    assert body["score"] == pytest.approx(credit * graded[kind]["points"], abs=0.01)


def test_unanswered_questions_score_nothing(client, auth, exam):
    worker = auth.register()
    graded, body = _submit(client, worker, exam, {})
    assert all(q["correct"] is False and q["credit"] == 0 for q in graded.values())
    assert body["max_score"] == sum(q["points"] for q in keys_by_id(exam).values())


def test_pass_mark_counts_partial_credit(client, auth, manager):
    from tests.quizzes.conftest import create_exam

    questions = [
        {"key": "m", "kind": "multi_choice", "prompt": "All?", "points": 4,
         "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"},
                     {"id": "d", "text": "D"}], "answer": {"choices": ["a", "b", "c", "d"][:3]}},
        {"key": "t", "kind": "true_false", "prompt": "T?", "answer": {"value": True}},
    ]
    exam = create_exam(client, manager, questions=questions, pass_percent=60)
    worker = auth.register()
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
    ids = {q["kind"]: str(q["id"]) for q in attempt["questions"]}
    body = client.post(f"{API}/attempts/{attempt['id']}/submission", headers=worker.headers, json={
        "answers": {ids["multi_choice"]: {"choices": ["a", "b"]}, ids["true_false"]: {"value": True}}}).get_json()
    # 2/3 of 4 points + 1 = 3.67 of 5 = 73.33 %: passes 60 %.
    assert body["score"] == pytest.approx(3.67) and body["percent"] == pytest.approx(73.33)
    assert body["passed"] is True
