"""No answer key, no explanation before grading, nothing that tells which option is right: every
worker-facing response of a whole attempt is scanned for the key values."""

import json

from quizzes import scoring
from tests.quizzes.conftest import API, SECRETS, answers_for, keys_by_id

# Field names that would carry grading information; none may appear before an attempt is graded.
GRADING_FIELDS = {"answer_key", "explanation", "correct", "credit", "earned", "is_correct", "score",
                  "tolerance", "alternatives", "iou", "max_cer", "expected"}


class Recorder:
    """The test client, remembering every response a worker got."""

    def __init__(self, client):
        self.client = client
        self.responses = []

    def __getattr__(self, method):
        def call(*args, **kwargs):
            response = getattr(self.client, method)(*args, **kwargs)
            self.responses.append((method.upper(), args[0], response))
            return response

        return call


def _field_names(value, names=None):
    names = set() if names is None else names
    if isinstance(value, dict):
        for name, inner in value.items():
            names.add(name)
            _field_names(inner, names)
    elif isinstance(value, list):
        for inner in value:
            _field_names(inner, names)
    return names


def _scan(responses, *, graded_ok=False):
    for method, path, response in responses:
        text = response.get_data(as_text=True)
        for secret in SECRETS:
            assert secret not in text, f"{method} {path} leaks {secret!r}: {text[:300]}"
        if not graded_ok:
            assert "EXPL-" not in text, f"{method} {path} shows an explanation before grading"
            body = json.loads(text) if text.strip().startswith(("{", "[")) else {}
            leaked = _field_names(body) & GRADING_FIELDS
            assert not leaked, f"{method} {path} carries grading fields {leaked}"


def test_no_worker_response_carries_the_key(client, auth, exam):
    worker = auth.register()
    recorder = Recorder(client)
    headers = worker.headers
    recorder.get(f"{API}/exams", headers=headers)
    attempt = recorder.post(f"{API}/exams/{exam['id']}/attempts", headers=headers).get_json()
    recorder.post(f"{API}/exams/{exam['id']}/attempts", headers=headers)  # 409 naming the open one
    recorder.get(f"{API}/exams", headers=headers)
    recorder.get(f"{API}/attempts/{attempt['id']}", headers=headers)
    wrong = answers_for(attempt, exam, False)  # a worker's own right answers would echo key values
    for qid in wrong:
        recorder.put(f"{API}/attempts/{attempt['id']}/answers/{qid}", json={"answer": {"bad": 1}}, headers=headers)
        recorder.put(f"{API}/attempts/{attempt['id']}/answers/{qid}", json={"answer": wrong[qid]}, headers=headers)
    recorder.get(f"{API}/attempts/{attempt['id']}", headers=headers)
    recorder.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": {"1": {}}}, headers=headers)
    recorder.get(f"{API}/me/certificates", headers=headers)
    assert len(recorder.responses) == 8 + 2 * len(wrong)
    assert [r.status_code for _, _, r in recorder.responses[:3]] == [200, 201, 409]
    _scan(recorder.responses)

    graded = Recorder(client)
    result = graded.post(f"{API}/attempts/{attempt['id']}/submission", headers=headers).get_json()
    graded.get(f"{API}/attempts/{attempt['id']}", headers=headers)
    graded.get(f"{API}/exams", headers=headers)
    assert result["passed"] is False
    assert {q["explanation"] for q in result["questions"]} >= {"EXPL-sc 설명", "EXPL-mc"}  # shown now
    _scan(graded.responses, graded_ok=True)  # explanations now, keys never


def test_option_order_does_not_give_the_right_option_away():
    """Across attempts the right option sits in different places (random.Random(seed) per attempt)."""

    class Q:
        id, pool, kind, position = 1, "default", "single_choice", 0
        options = [{"id": "o1"}, {"id": "o2"}, {"id": "o3"}, {"id": "o4"}]

    places = {scoring.draw(seed, [Q], None)[0].option_order.index("o2") for seed in range(40)}
    assert places == {0, 1, 2, 3}


def test_manager_sees_keys_but_workers_do_not(client, auth, exam, manager):
    detail = client.get(f"/api/v1/manage/exams/{exam['id']}", headers=manager.headers)
    assert detail.status_code == 200
    assert any("Zanzibarite" in json.dumps(q["answer"]) for q in detail.get_json()["questions"])
    worker = auth.register()
    assert client.get(f"/api/v1/manage/exams/{exam['id']}", headers=worker.headers).status_code == 403
    assert keys_by_id(detail.get_json()).keys() == keys_by_id(exam).keys()


def test_the_scan_catches_a_leak():
    import pytest

    class Fake:
        def __init__(self, body):
            self.body = body

        def get_data(self, as_text=True):
            return json.dumps(self.body, ensure_ascii=False)

    for body in ({"questions": [{"id": 1, "options": []}], "hint": "Zanzibarite"},
                 {"questions": [{"id": 1, "explanation": "EXPL-sc"}]},
                 {"questions": [{"id": 1, "correct": True}]}):
        with pytest.raises(AssertionError):
            _scan([("GET", "/x", Fake(body))])
    _scan([("GET", "/x", Fake({"questions": [{"id": 1, "options": [{"id": "o1", "text": "Alpha"}]}]}))])
