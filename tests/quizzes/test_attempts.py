"""Attempts through the phone API: start, autosave, submit, results, retakes, one open attempt."""

import datetime as dt

import sqlalchemy as sa
import time_machine

from backend.extensions import db
from quizzes.models import Attempt, AttemptItem
from tests.quizzes.conftest import API, answers_for, create_exam, keys_by_id, right_answer

PROBLEM = "application/problem+json"


def _start(client, worker, exam_id):
    return client.post(f"{API}/exams/{exam_id}/attempts", headers=worker.headers)


def test_exam_list_shows_what_the_worker_can_do(client, auth, exam):
    worker = auth.register()
    items = client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
    item = next(i for i in items if i["id"] == exam["id"])
    assert item["title"] == "모든 유형 시험"
    assert item["question_count"] == 9 and item["skill"] == "bbox" and item["grants_level"] == 1
    assert (item["available"], item["unavailable_reason"], item["retake_at"]) == (True, None, None)
    assert (item["attempts_used"], item["attempts_allowed"]) == (0, 3)
    english = auth.register(locale="en")
    items = client.get(f"{API}/exams", headers=english.headers).get_json()["items"]
    assert next(i for i in items if i["id"] == exam["id"])["title"] == "Every kind exam"


def test_unpublished_exam_is_hidden(client, auth, manager):
    draft = create_exam(client, manager, published=False)
    worker = auth.register()
    assert all(i["id"] != draft["id"] for i in client.get(f"{API}/exams", headers=worker.headers)
               .get_json()["items"])
    assert _start(client, worker, draft["id"]).status_code == 404


def test_pass_autosave_submit_and_certificate(client, auth, exam):
    worker = auth.register(display_name="김합격")
    started = _start(client, worker, exam["id"])
    assert started.status_code == 201
    attempt = started.get_json()
    assert attempt["status"] == "open" and attempt["result"] is None
    assert len(attempt["questions"]) == 9
    deadline = dt.datetime.fromisoformat(attempt["deadline"].replace("Z", "+00:00"))
    started_at = dt.datetime.fromisoformat(attempt["started_at"].replace("Z", "+00:00"))
    assert deadline - started_at == dt.timedelta(seconds=600)

    answers = answers_for(attempt, exam, True)
    first_id = next(iter(answers))
    saved = client.put(f"{API}/attempts/{attempt['id']}/answers/{first_id}", json={"answer": answers[first_id]},
                       headers=worker.headers)
    assert saved.status_code == 200 and saved.get_json()["answer"] == answers[first_id]
    again = client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()
    assert next(q for q in again["questions"] if str(q["id"]) == first_id)["answer"] == answers[first_id]

    rest = {qid: answer for qid, answer in answers.items() if qid != first_id}
    result = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": rest},
                         headers=worker.headers)
    assert result.status_code == 200, result.get_json()
    body = result.get_json()
    assert body["passed"] is True and body["score"] == body["max_score"] == 12 and body["percent"] == 100
    assert "retake_at" not in body
    assert all(q["correct"] for q in body["questions"])
    certificate = body["certificate"]
    assert certificate["skill"] == "bbox" and certificate["level"] == 1 and certificate["status"] == "valid"

    mine = client.get(f"{API}/me/certificates", headers=worker.headers).get_json()["items"]
    assert [c["code"] for c in mine] == [certificate["code"]]
    skills = client.get(f"{API}/me/skills", headers=worker.headers).get_json()["items"]
    assert next(s for s in skills if s["skill"] == "bbox")["level"] == 1

    public = client.get(f"{API}/certificates/{certificate['code']}")  # a stranger, no token
    assert public.status_code == 200
    assert public.get_json()["holder"] == "김합격" and public.get_json()["status"] == "valid"

    graded = client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()
    assert graded["status"] == "graded" and graded["result"]["passed"] is True
    assert graded["result"]["certificate"]["code"] == certificate["code"]
    listed = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                  if i["id"] == exam["id"])
    assert listed["unavailable_reason"] == "already_certified"
    assert listed["certificate"]["code"] == certificate["code"]


def test_fail_shows_retake_time_and_cooldown_then_retake(client, auth, exam):
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with time_machine.travel(start, tick=False) as traveller:
        worker = auth.register()
        attempt = _start(client, worker, exam["id"]).get_json()
        result = client.post(f"{API}/attempts/{attempt['id']}/submission",
                             json={"answers": answers_for(attempt, exam, False)}, headers=worker.headers)
        body = result.get_json()
        assert result.status_code == 200 and body["passed"] is False and body["score"] == 0
        assert "certificate" not in body
        assert body["retake_at"] == (start + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        assert body["attempts_left"] == 2
        item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                    if i["id"] == exam["id"])
        assert (item["available"], item["unavailable_reason"], item["retake_at"]) == (
            False, "cooldown", body["retake_at"])
        assert item["attempts_used"] == 1
        refused = _start(client, worker, exam["id"])
        assert refused.status_code == 409 and refused.mimetype == PROBLEM
        assert refused.get_json()["reason"] == "cooldown" and int(refused.headers["Retry-After"]) == 3600

        traveller.shift(3601)
        worker = auth.login(worker.email, worker.password)
        item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                    if i["id"] == exam["id"])
        assert item["available"] is True and item["retake_at"] is None
        assert _start(client, worker, exam["id"]).status_code == 201


def test_attempts_run_out(client, auth, manager):
    exam = create_exam(client, manager, attempts_allowed=2, retake_cooldown_s=0)
    worker = auth.register()
    results = []
    for _ in range(2):
        attempt = _start(client, worker, exam["id"]).get_json()
        results.append(client.post(f"{API}/attempts/{attempt['id']}/submission",
                                   json={"answers": answers_for(attempt, exam, False)},
                                   headers=worker.headers).get_json())
    assert results[0]["retake_at"] is not None and results[0]["attempts_left"] == 1
    assert results[1]["retake_at"] is None and results[1]["attempts_left"] == 0
    item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if i["id"] == exam["id"])
    assert (item["available"], item["unavailable_reason"], item["attempts_used"]) == (False, "no_attempts_left", 2)
    refused = _start(client, worker, exam["id"])
    assert refused.status_code == 409 and refused.get_json()["reason"] == "no_attempts_left"


def test_one_open_attempt_per_exam(client, auth, exam):
    worker = auth.register()
    first = _start(client, worker, exam["id"]).get_json()
    second = _start(client, worker, exam["id"])
    assert second.status_code == 409 and second.mimetype == PROBLEM
    assert second.get_json()["attempt_id"] == first["id"]
    assert str(first["id"]) in second.get_json()["detail"]
    item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if i["id"] == exam["id"])
    assert (item["unavailable_reason"], item["open_attempt_id"]) == ("attempt_open", first["id"])
    # Another worker is not affected.
    assert _start(client, auth.register(), exam["id"]).status_code == 201


def test_idempotency_key_replays_the_started_attempt(client, auth, exam):
    worker = auth.register()
    headers = {**worker.headers, "Idempotency-Key": "start-1"}
    first = client.post(f"{API}/exams/{exam['id']}/attempts", headers=headers)
    replay = client.post(f"{API}/exams/{exam['id']}/attempts", headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] == first.get_json()["id"]


def test_someone_elses_attempt_is_404(client, auth, exam):
    owner, stranger = auth.register(), auth.register()
    attempt = _start(client, owner, exam["id"]).get_json()
    question_id = attempt["questions"][0]["id"]
    for response in (
        client.get(f"{API}/attempts/{attempt['id']}", headers=stranger.headers),
        client.put(f"{API}/attempts/{attempt['id']}/answers/{question_id}", json={"answer": {"value": True}},
                   headers=stranger.headers),
        client.post(f"{API}/attempts/{attempt['id']}/submission", json={}, headers=stranger.headers),
        client.get(f"{API}/attempts/999999", headers=owner.headers),
    ):
        assert response.status_code == 404 and response.mimetype == PROBLEM
    assert client.put(f"{API}/attempts/{attempt['id']}/answers/999999", json={"answer": {"value": True}},
                      headers=owner.headers).status_code == 404


def test_wrong_answer_shapes_are_422_naming_the_field(client, auth, exam):
    worker = auth.register()
    attempt = _start(client, worker, exam["id"]).get_json()
    by_kind = {q["kind"]: q["id"] for q in attempt["questions"]}
    url = f"{API}/attempts/{attempt['id']}/answers"
    cases = [
        ("single_choice", {"choice": "nope"}, "answer.choice"),
        ("single_choice", {"pick": "o1"}, "answer.pick"),
        ("multi_choice", {"choices": ["o1", "zz"]}, "answer.choices.1"),
        ("true_false", {"value": "yes"}, "answer.value"),
        ("numeric", {"value": "3.5"}, "answer.value"),
        ("bbox", {"boxes": [{"x": 1, "y": 1, "w": 0, "h": 3, "label": "a"}]}, "answer.boxes.0.w"),
        ("rating", {"scores": {"fluency": 4.5}}, "answer.scores.fluency.value"),
        ("pairwise", {"preferred": "c"}, "answer.preferred"),
        ("short_text", "just a string", "answer"),
    ]
    for kind, answer, field in cases:
        response = client.put(f"{url}/{by_kind[kind]}", json={"answer": answer}, headers=worker.headers)
        assert response.status_code == 422, (kind, response.get_json())
        assert field in response.get_json()["errors"], (kind, response.get_json()["errors"])
    missing = client.put(f"{url}/{by_kind['numeric']}", json={}, headers=worker.headers)
    assert missing.status_code == 422 and "answer" in missing.get_json()["errors"]
    bad_submission = client.post(f"{API}/attempts/{attempt['id']}/submission",
                                 json={"answers": {str(by_kind["numeric"]): {"value": "x"}, "424242": {}}},
                                 headers=worker.headers)
    assert bad_submission.status_code == 422
    errors = bad_submission.get_json()["errors"]
    assert f"answers.{by_kind['numeric']}.value" in errors and "answers.424242" in errors
    # Nothing was graded: the attempt is still open.
    assert client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()["status"] == "open"


def test_second_submission_returns_the_same_result_and_answers_are_frozen(app, client, auth, exam):
    worker = auth.register()
    attempt = _start(client, worker, exam["id"]).get_json()
    answers = answers_for(attempt, exam, {"sc": True, "tf": True, "num": True})
    first = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers},
                        headers=worker.headers)
    better = answers_for(attempt, exam, True)
    second = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": better},
                         headers=worker.headers)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    question_id = attempt["questions"][0]["id"]
    late = client.put(f"{API}/attempts/{attempt['id']}/answers/{question_id}",
                      json={"answer": better[str(question_id)]}, headers=worker.headers)
    assert late.status_code == 409 and late.get_json()["type"].endswith("attempt-submitted")
    with app.app_context():
        graded_at = db.session.execute(sa.select(Attempt.graded_at).where(Attempt.id == attempt["id"])).scalar()
    assert graded_at is not None


def test_submission_without_body_grades_the_saved_answers(client, auth, exam):
    worker = auth.register()
    attempt = _start(client, worker, exam["id"]).get_json()
    by_id = keys_by_id(exam)
    tf = next(q for q in attempt["questions"] if q["kind"] == "true_false")
    client.put(f"{API}/attempts/{attempt['id']}/answers/{tf['id']}", json={"answer": right_answer(by_id[tf["id"]])},
               headers=worker.headers)
    result = client.post(f"{API}/attempts/{attempt['id']}/submission", headers=worker.headers)
    assert result.status_code == 200, result.get_json()
    body = result.get_json()
    assert body["score"] == 1 and body["max_score"] == 12 and body["passed"] is False
    flags = {q["id"]: q["correct"] for q in body["questions"]}
    assert flags[tf["id"]] is True and sum(flags.values()) == 1


def test_draw_follows_pools_and_is_stored_with_its_seed(app, client, auth, manager):
    questions = [{"key": f"a{i}", "kind": "true_false", "prompt": f"A{i}?", "answer": {"value": True},
                  "pool": "alpha"} for i in range(6)]
    questions += [{"key": f"b{i}", "kind": "single_choice", "prompt": f"B{i}?", "pool": "beta",
                   "options": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}, {"id": "z", "text": "Z"}],
                   "answer": {"choice": "y"}} for i in range(4)]
    exam = create_exam(client, manager, questions=questions,
                       draw=[{"pool": "alpha", "count": 3}, {"pool": "beta", "count": 2}])
    by_id = keys_by_id(exam)
    listed = next(i for i in client.get(f"{API}/exams", headers=auth.register().headers).get_json()["items"]
                  if i["id"] == exam["id"])
    assert listed["question_count"] == 5
    worker = auth.register()
    attempt = _start(client, worker, exam["id"]).get_json()
    keys = [by_id[q["id"]]["key"] for q in attempt["questions"]]
    assert [k[0] for k in keys] == ["a", "a", "a", "b", "b"] and len(set(keys)) == 5

    from quizzes import scoring
    from quizzes.models import Question

    with app.app_context():
        stored = db.session.get(Attempt, attempt["id"])
        items = db.session.execute(sa.select(AttemptItem).where(AttemptItem.attempt_id == attempt["id"])
                                   .order_by(AttemptItem.position)).scalars().all()
        questions = db.session.execute(sa.select(Question).where(Question.exam_id == exam["id"])).scalars().all()
        redrawn = scoring.draw(stored.seed, questions, [{"pool": "alpha", "count": 3}, {"pool": "beta", "count": 2}])
    assert [d.question_id for d in redrawn] == [i.question_id for i in items]
    assert [d.option_order for d in redrawn] == [i.option_order for i in items]
    shown = {q["id"]: [o["id"] for o in q["options"]] for q in attempt["questions"]}
    assert all(shown[i.question_id] == (i.option_order or []) for i in items)


def test_exam_requirements_level_and_course(app, client, auth, manager):
    exam = create_exam(client, manager, grants_level=2, requires={"skill_level": 1})
    worker = auth.register()
    item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if i["id"] == exam["id"])
    assert (item["available"], item["unavailable_reason"]) == (False, "level_required")
    refused = _start(client, worker, exam["id"])
    assert refused.status_code == 409 and refused.get_json()["reason"] == "level_required"
    from backend.skills import services as skills

    with app.app_context():
        skills.set_level(worker.id, "bbox", 1, "manager's override")
        db.session.commit()
    assert _start(client, worker, exam["id"]).status_code == 201

    gated = create_exam(client, manager, requires={"course": "no-such-course"})
    item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if i["id"] == gated["id"])
    assert (item["available"], item["unavailable_reason"]) == (False, "course_required")
    assert _start(client, worker, gated["id"]).get_json()["reason"] == "course_required"
