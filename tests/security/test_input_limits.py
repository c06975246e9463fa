"""Limits everywhere a phone can send something: body size, string lengths, list lengths, numbers
(NaN, infinity, negatives, huge), Unicode (NFC/NFD Korean, zero-width characters, bidi marks).
Each is refused with a clear 4xx problem naming the field, or normalised — never a 500, never
stored as sent."""

from __future__ import annotations

import secrets
import unicodedata

import pytest

from backend.extensions import db
from backend.skills import services as skills

API = "/api/v1"
PROBLEM = "application/problem+json"
HANGUL = "김민지 작업자"
NFD = unicodedata.normalize("NFD", HANGUL)
ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"
BIDI = "\u202e\u200f\u2066"


def _refused(response, status: int = 422, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:400])
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert any(name == field or name.startswith(field + ".") for name in body.get("errors", {})), body
    return body


def _raw(client, method, path, text: str, headers=None):
    """A JSON body exactly as written (Python's json would refuse to write NaN for us)."""
    return client.open(path, method=method, data=text, content_type="application/json", headers=headers or {})


# ---------------------------------------------------------------- registration and profile

def test_register_refuses_overlong_fields(client):
    base = {"email": "limits@example.com", "password": "correct horse 1", "display_name": "이름"}
    for name, value in (("email", "a" * 250 + "@example.com"), ("password", "p" * 129), ("password", "short"),
                        ("display_name", "가" * 101), ("timezone", "Z" * 65), ("locale", "fr")):
        _refused(client.post(f"{API}/auth/register", json={**base, name: value}), field=name)


def test_display_names_are_nfc_without_invisible_characters(client, auth):
    account = auth.register(display_name=f"{BIDI}{NFD}{ZERO_WIDTH}")
    me = client.get(f"{API}/me", headers=account.headers).get_json()
    assert me["display_name"] == HANGUL
    changed = client.patch(f"{API}/me", json={"display_name": f" {ZERO_WIDTH}{NFD} "}, headers=account.headers)
    assert changed.status_code == 200 and changed.get_json()["display_name"] == HANGUL


def test_a_name_of_only_invisible_characters_is_refused(client, auth):
    account = auth.register()
    _refused(client.patch(f"{API}/me", json={"display_name": ZERO_WIDTH + BIDI}, headers=account.headers),
             field="display_name")
    _refused(client.post(f"{API}/auth/register", json={"email": "inv@example.com", "password": "correct horse 1",
                                                        "display_name": ZERO_WIDTH}), field="display_name")


def test_emails_are_normalised_and_invisible_tricks_refused(client, auth):
    account = auth.register(email="  Mixed.Case@Example.COM ")
    assert client.get(f"{API}/me", headers=account.headers).get_json()["email"] == "mixed.case@example.com"
    # The same address with a zero-width space must not become a second, look-alike account.
    response = client.post(f"{API}/auth/register", json={"email": f"mixed.case{ZERO_WIDTH[0]}@example.com",
                                                          "password": "correct horse 1", "display_name": "x"})
    assert response.status_code in (409, 422), response.get_json()


def test_an_unknown_timezone_is_refused(client, auth):
    account = auth.register()
    _refused(client.patch(f"{API}/me", json={"timezone": "Mars/Olympus_Mons"}, headers=account.headers),
             field="timezone")


def test_bodies_over_the_limit_are_413_everywhere(app, client, auth):
    account = auth.register()
    big = '{"display_name": "' + "가" * (app.config["MAX_CONTENT_LENGTH"] // 3 + 10) + '"}'
    for method, path in (("POST", f"{API}/auth/register"), ("PATCH", f"{API}/me"), ("POST", f"{API}/me/devices"),
                         ("POST", f"{API}/me/payouts"), ("POST", f"{API}/assignments/1/submission")):
        _refused(_raw(client, method, path, big, account.headers), 413)


def test_malformed_and_non_object_bodies_are_4xx(client, auth):
    account = auth.register()
    for text in ("{", "[]", '"text"', "null", "1e999999"):
        response = _raw(client, "PATCH", f"{API}/me", text, account.headers)
        assert response.status_code in (400, 422), (text, response.status_code)
        assert response.mimetype == PROBLEM


# ---------------------------------------------------------------- exam answers

EXAM = {
    "title": "Limits", "skill": "bbox", "grants_level": 1, "time_limit_s": 600, "pass_percent": 50,
    "attempts_allowed": 3, "retake_cooldown_s": 60, "validity_days": 30,
    "questions": [
        {"key": "num", "kind": "numeric", "prompt": "How much?", "answer": {"value": 3.5}, "explanation": "x"},
        {"key": "st", "kind": "short_text", "prompt": "Name it.", "answer": {"text": HANGUL}, "explanation": "x"},
        {"key": "bb", "kind": "bbox", "prompt": "Box it.", "media": [{"kind": "image", "url": "https://e.x/i.png"}],
         "answer": {"boxes": [{"x": 10, "y": 10, "w": 20, "h": 20, "label": "car"}]}, "explanation": "x"},
        {"key": "mc", "kind": "multi_choice", "prompt": "Pick.", "answer": {"choices": ["a"]}, "explanation": "x",
         "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]},
    ],
}


@pytest.fixture
def attempt(client, auth):
    manager = auth.create("manager")
    exam = client.post(f"{API}/manage/exams", json={**EXAM, "key": f"limits-{secrets.token_hex(3)}"},
                       headers=manager.headers)
    assert exam.status_code == 201, exam.get_json()
    worker = auth.register()
    started = client.post(f"{API}/exams/{exam.get_json()['id']}/attempts", headers=worker.headers).get_json()
    questions = {q["kind"]: q["id"] for q in started["questions"]}
    return worker, started["id"], questions


def _answer(client, worker, attempt_id, question_id, answer_json: str):
    return _raw(client, "PUT", f"{API}/attempts/{attempt_id}/answers/{question_id}", '{"answer": ' + answer_json + "}",
                worker.headers)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e309", "1e300", '"3.5"', "true", "null"])
def test_numeric_answers_refuse_nan_infinity_huge_and_wrong_types(client, attempt, value):
    worker, attempt_id, questions = attempt
    _refused(_answer(client, worker, attempt_id, questions["numeric"], '{"value": ' + value + "}"),
             field="answer.value")


@pytest.mark.parametrize("box", ['{"x": -5, "y": 0, "w": 10, "h": 10, "label": "car"}',
                                 '{"x": 0, "y": 0, "w": 0, "h": 10, "label": "car"}',
                                 '{"x": NaN, "y": 0, "w": 10, "h": 10, "label": "car"}',
                                 '{"x": 0, "y": 0, "w": 1e308, "h": 10, "label": "car"}',
                                 '{"x": 0, "y": 0, "w": 10, "h": 10, "label": ""}',
                                 '{"x": 0, "y": 0, "w": 10, "h": 10}'])
def test_boxes_refuse_negative_zero_nan_huge_and_missing_values(client, attempt, box):
    worker, attempt_id, questions = attempt
    _refused(_answer(client, worker, attempt_id, questions["bbox"], '{"boxes": [' + box + "]}"),
             field="answer.boxes")


def test_answers_have_bounded_lists_and_strings(client, attempt):
    worker, attempt_id, questions = attempt
    box = '{"x": 1, "y": 1, "w": 2, "h": 2, "label": "car"}'
    _refused(_answer(client, worker, attempt_id, questions["bbox"], '{"boxes": [' + ",".join([box] * 5000) + "]}"),
             field="answer.boxes")
    _refused(_answer(client, worker, attempt_id, questions["multi_choice"],
                     '{"choices": [' + ",".join(['"a"'] * 5000) + "]}"), field="answer.choices")
    _refused(_answer(client, worker, attempt_id, questions["short_text"], '{"text": "' + "가" * 20_000 + '"}'),
             field="answer.text")
    _refused(_answer(client, worker, attempt_id, questions["short_text"], '{"text": "a\\u0000b"}'),
             field="answer.text")


def test_a_submission_with_too_many_answers_is_refused(client, attempt):
    worker, attempt_id, _ = attempt
    answers = ",".join(f'"{i}": {{"value": 1}}' for i in range(1, 5000))
    response = _raw(client, "POST", f"{API}/attempts/{attempt_id}/submission", '{"answers": {' + answers + "}}",
                    worker.headers)
    assert response.status_code == 422 and response.mimetype == PROBLEM, response.get_data(as_text=True)[:300]


def test_decomposed_korean_and_invisible_characters_grade_like_the_key(client, attempt):
    worker, attempt_id, questions = attempt
    answer = f'{{"text": "{BIDI}{NFD}{ZERO_WIDTH}"}}'
    assert _answer(client, worker, attempt_id, questions["short_text"], answer).status_code == 200
    result = client.post(f"{API}/attempts/{attempt_id}/submission", json={}, headers=worker.headers).get_json()
    graded = {q["id"]: q for q in result["questions"]}
    assert graded[questions["short_text"]]["correct"] is True, graded


# ---------------------------------------------------------------- task submissions

@pytest.fixture
def leased(app, client, auth):
    """A certified worker holding one bbox task and one transcription task whose gold key is NFC Korean."""
    manager = auth.create("manager")
    worker = auth.register()
    with app.app_context():
        skills.ensure_starter_skills()
        skills.set_level(worker.id, "bbox", 1, "test", source="override")
        db.session.commit()
    held = {}
    for task_type, config, payload, gold in (
            ("bbox", {"labels": ["car"]}, {"image_url": "https://img.example.com/i.png", "width": 640, "height": 480}, None),
            ("transcription", {}, {"image_url": "https://img.example.com/r.png"}, {"text": HANGUL, "max_cer": 0})):
        project = client.post(f"{API}/manage/projects", headers=manager.headers, json={
            "title": task_type, "skill": "bbox", "task_type": task_type, "config": config, "difficulty": 1,
            "reward": {"amount": 10}, "gold_ratio": 0.5 if gold else 0.0})
        assert project.status_code == 201, project.get_json()
        project = project.get_json()
        tasks = [{"payload": payload}] * 8 + ([{"payload": payload, "gold_answer": gold}] * 2 if gold else [])
        imported = client.post(f"{API}/manage/projects/{project['id']}/tasks", json=tasks, headers=manager.headers)
        assert imported.get_json()["created"] == len(tasks), imported.get_json()
        held[task_type] = project["id"]
    return worker, held


def _lease(client, worker, project_id: int, count: int = 1) -> list[dict]:
    items = client.post(f"{API}/assignments", json={"project_id": project_id, "count": count},
                        headers=worker.headers).get_json()["assignments"]
    assert items
    return items


def _submit(client, worker, assignment_id, text: str):
    return _raw(client, "POST", f"{API}/assignments/{assignment_id}/submission", text, worker.headers)


@pytest.mark.parametrize("body", [
    '{"answer": {"boxes": [{"x": NaN, "y": 1, "w": 5, "h": 5, "label": "car"}]}}',
    '{"answer": {"boxes": [{"x": 1, "y": 1, "w": Infinity, "h": 5, "label": "car"}]}}',
    '{"answer": {"boxes": [{"x": -1, "y": 1, "w": 5, "h": 5, "label": "car"}]}}',
    '{"answer": {"boxes": [{"x": 630, "y": 1, "w": 50, "h": 5, "label": "car"}]}}',
    '{"answer": {"boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "truck"}]}}',
    '{"answer": {"boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "car"}]}, "duration_ms": -1}',
    '{"answer": {"boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "car"}]}, "duration_ms": 1e30}',
    '{"answer": {"boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "car"}]}, "duration_ms": 99999999999999999999}',
    '{"answer": {"boxes": []}, "extra": 1}',
    '{"answer": "boxes"}',
])
def test_bbox_submissions_refuse_bad_numbers_labels_and_shapes(client, leased, body):
    worker, held = leased
    _refused(_submit(client, worker, _lease(client, worker, held["bbox"])[0]["id"], body))


def test_too_many_boxes_in_one_answer_are_refused(client, leased):
    worker, held = leased
    box = '{"x": 1, "y": 1, "w": 5, "h": 5, "label": "car"}'
    _refused(_submit(client, worker, _lease(client, worker, held["bbox"])[0]["id"], '{"answer": {"boxes": [' + ",".join([box] * 3000) + "]}}"),
             field="answer.boxes")


def test_transcriptions_are_bounded_and_normalised(client, leased):
    worker, held = leased
    first = _lease(client, worker, held["transcription"])[0]["id"]
    _refused(_submit(client, worker, first, '{"answer": {"text": "' + "가" * 60_000 + '"}}'), field="answer.text")
    _refused(_submit(client, worker, first, '{"answer": {"text": "a\\u0000"}}'), field="answer.text")
    # Gold tasks (NFC key) answered in NFD with invisible characters around them are right.
    feedback = []
    for _ in range(5):  # gold rides along with real work at the project's ratio
        for item in _lease(client, worker, held["transcription"], 3):
            response = _submit(client, worker, item["id"], f'{{"answer": {{"text": "{ZERO_WIDTH}{NFD}{BIDI}"}}}}')
            assert response.status_code == 201, response.get_json()
            feedback += [response.get_json()["feedback"]] if response.get_json().get("feedback") else []
        if feedback:
            break
    assert feedback and all(item["correct"] is True for item in feedback), feedback


@pytest.mark.parametrize("body", ['{"count": 0}', '{"count": 21}', '{"count": -1}', '{"count": 1e9}',
                                  '{"count": NaN}', '{"count": "5"}', '{"project_id": 99999999999999999999}',
                                  '{"project_id": -4}'])
def test_lease_requests_refuse_bad_numbers(client, auth, body):
    worker = auth.register()
    response = _raw(client, "POST", f"{API}/assignments", body, worker.headers)
    assert response.status_code in (404, 422) and response.mimetype == PROBLEM, response.get_data(as_text=True)


# ---------------------------------------------------------------- devices

@pytest.mark.parametrize("token", ["t" * 1025, "has space", "zero\u200bwidth", "rtl\u202emark", "", "tab\there",
                                   "nul\u0000"])
def test_device_tokens_are_bounded_and_printable(client, auth, token):
    worker = auth.register()
    _refused(client.post(f"{API}/me/devices", json={"token": token, "platform": "android"}, headers=worker.headers),
             field="token")


def test_device_platform_and_unknown_fields(client, auth):
    worker = auth.register()
    _refused(client.post(f"{API}/me/devices", json={"token": "abc", "platform": "symbian"}, headers=worker.headers),
             field="platform")
    _refused(client.post(f"{API}/me/devices", json={"token": "abc", "platform": "ios", "user_id": 1},
                         headers=worker.headers), field="user_id")


def test_overlong_device_token_in_the_path_is_404_not_500(client, auth):
    worker = auth.register()
    response = client.delete(f"{API}/me/devices/{'x' * 5000}", headers=worker.headers)
    assert response.status_code == 404 and response.mimetype == PROBLEM


# ---------------------------------------------------------------- payouts

@pytest.mark.parametrize("amount", ["-100", "0", "1.5", "1e20", "NaN", "Infinity", '"10000"', "true", "null",
                                    "99999999999999999999999999"])
def test_payout_amounts_refuse_negative_fractional_huge_and_wrong_types(client, auth, amount):
    worker = auth.register()
    _refused(_raw(client, "POST", f"{API}/me/payouts", '{"amount": ' + amount + "}", worker.headers), field="amount")


def test_payout_idempotency_keys_are_bounded(client, auth):
    worker = auth.register()
    for key in ("k" * 201, "bad\u200bkey", ""):
        response = client.post(f"{API}/me/payouts", json={"amount": 10000},
                               headers={**worker.headers, "Idempotency-Key": key})
        assert response.status_code == 422 and response.mimetype == PROBLEM, (key, response.get_json())


def test_query_numbers_are_bounded(client, auth):
    worker = auth.register()
    for query in ("limit=0", "limit=101", "limit=-1", "limit=NaN", "limit=1e3", "cursor=" + "x" * 500,
                  "cursor=%00%01"):
        for path in (f"{API}/me/payouts", f"{API}/me/earnings", f"{API}/me/notifications", f"{API}/me/assignments"):
            response = client.get(f"{path}?{query}", headers=worker.headers)
            assert response.status_code == 422 and response.mimetype == PROBLEM, (path, query, response.status_code)


# ---------------------------------------------------------------- ids beyond what an id column holds

HUGE = "99999999999999999999"


def test_ids_beyond_an_id_column_are_404_or_422_never_500(client, auth):
    worker, manager, admin = auth.register(), auth.create("manager"), auth.create("admin")
    for path in (f"{API}/attempts/{HUGE}", f"{API}/attempts/2147483648", f"{API}/uploads/{HUGE}",
                 f"{API}/assignments/2147483648/collection"):
        response = client.get(path, headers=worker.headers)
        assert response.status_code == 404 and response.mimetype == PROBLEM, (path, response.status_code)
    for account, path in ((manager, f"{API}/manage/payouts?user_id=2147483648"),
                          (manager, f"{API}/manage/payouts?user_id=-{HUGE}"),
                          (admin, f"{API}/manage/audit?actor_id={HUGE}")):
        _refused(client.get(path, headers=account.headers))
    _refused(_raw(client, "POST", f"{API}/assignments", '{"project_id": 2147483648}', worker.headers),
             field="project_id")
