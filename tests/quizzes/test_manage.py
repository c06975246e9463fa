"""The manager console: author exams (validated like bank files), update them in place, item statistics."""

import pytest

from quizzes import scoring
from tests.quizzes.conftest import API, MANAGE, create_exam, exam_payload


def test_only_staff_author_exams(client, auth):
    worker = auth.register()
    assert client.post(f"{MANAGE}/exams", json=exam_payload(), headers=worker.headers).status_code == 403
    assert client.post(f"{MANAGE}/exams", json=exam_payload()).status_code == 401
    assert client.get(f"{MANAGE}/exams", headers=worker.headers).status_code == 403


def test_create_returns_the_exam_with_keys_and_lists_it(client, manager):
    exam = create_exam(client, manager)
    assert exam["published"] is True and exam["source"] == "api"
    assert [q["key"] for q in exam["questions"]] == ["sc", "mc", "tf", "num", "st", "bb", "tr", "ra", "pw"]
    assert exam["questions"][0]["answer"] == {"choice": "o2"}
    listed = client.get(f"{MANAGE}/exams", headers=manager.headers).get_json()["items"]
    assert [e["id"] for e in listed] == [exam["id"]] and listed[0]["question_count"] == 9
    csv = client.get(f"{MANAGE}/exams?format=csv", headers=manager.headers)
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("\ufeffid,key,")
    taken = client.post(f"{MANAGE}/exams", json=exam_payload(key=exam["key"]), headers=manager.headers)
    assert taken.status_code == 409


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.update(skill="knitting"), "skill"),
    (lambda p: p.update(grants_level=9), "grants_level"),
    (lambda p: p.update(pass_percent=120), "pass_percent"),
    (lambda p: p.update(time_limit_s="600"), "time_limit_s"),
    (lambda p: p.update(requires={"skill_level": 1}), "requires.skill_level"),
    (lambda p: p.update(draw=[{"pool": "nowhere", "count": 1}]), "draw.0.pool"),
    (lambda p: p.update(draw=[{"pool": "default", "count": 10}]), "draw.0.count"),
    (lambda p: p.update(questions=[]), "questions"),
    (lambda p: p.update(surprise=True), "surprise"),
    (lambda p: p["questions"][0].update(answer={"choice": "o9"}), "questions.0.answer.choice"),
    (lambda p: p["questions"][0].update(options=[{"id": "o2", "text": "Only"}]), "questions.0.options"),
    (lambda p: p["questions"][1].update(answer={"choices": ["o1", "o2", "o3", "o4"]}), "questions.1.answer.choices"),
    (lambda p: p["questions"][2].update(options=[{"id": "x", "text": "X"}]), "questions.2.options"),
    (lambda p: p["questions"][3].update(answer={"value": "7"}), "questions.3.answer.value"),
    (lambda p: p["questions"][4].update(answer={"text": "   "}), "questions.4.answer.text"),
    (lambda p: p["questions"][5].update(media=[]), "questions.5.media"),
    (lambda p: p["questions"][5]["answer"].update(iou=0.99), "questions.5.answer.iou"),
    (lambda p: p["questions"][5].update(media=[{"kind": "image", "url": "file:///etc/passwd"}]),
     "questions.5.media.0.url"),
    (lambda p: p["questions"][6].update(kind="essay"), "questions.6.kind"),
    (lambda p: p["questions"][7]["answer"]["scores"].update(style=3), "questions.7.answer.scores.style"),
    (lambda p: p["questions"][8].update(key="sc"), "questions.8.key"),
    (lambda p: p["questions"][0].update(explanation="It is (o2), obviously."), "questions.0.explanation.ko"),
])
def test_invalid_exams_are_422_naming_the_field(client, manager, change, field):
    payload = exam_payload()
    change(payload)
    response = client.post(f"{MANAGE}/exams", json=payload, headers=manager.headers)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()["errors"]


def test_update_in_place_keeps_question_ids_and_deactivates_dropped_ones(client, auth, manager):
    exam = create_exam(client, manager)
    worker = auth.register()
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
    payload = exam_payload(key=exam["key"], title="Renamed", time_limit_s=900)
    payload["questions"] = [q for q in payload["questions"] if q["key"] != "pw"]
    payload["questions"][0]["prompt"] = "Pick one, again."
    updated = client.put(f"{MANAGE}/exams/{exam['id']}", json=payload, headers=manager.headers)
    assert updated.status_code == 200, updated.get_json()
    body = updated.get_json()
    old_ids = {q["key"]: q["id"] for q in exam["questions"]}
    assert {q["key"]: q["id"] for q in body["questions"]} == {k: v for k, v in old_ids.items() if k != "pw"}
    assert body["questions"][0]["prompt"] == {"ko": "Pick one, again.", "en": "Pick one, again."}
    assert body["title"] == {"ko": "Renamed", "en": "Renamed"} and body["time_limit_s"] == 900
    # The open attempt still has every question it drew, the dropped one included.
    still = client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()
    assert len(still["questions"]) == 9
    assert client.put(f"{MANAGE}/exams/999999", json=payload, headers=manager.headers).status_code == 404


def test_item_statistics_flag_broken_items(client, auth, manager):
    options = [{"id": "r", "text": "Right"}, {"id": "w", "text": "Wrong"}]
    questions = [{"key": f"q{i}", "kind": "single_choice", "prompt": f"Q{i}?", "options": options,
                  "answer": {"choice": "r"}} for i in range(1, 6)]
    exam = create_exam(client, manager, questions=questions, pass_percent=60)
    # q1..q3 follow ability, q4 is answered right only by the weak workers, q5 by nobody.
    patterns = ["11100", "11100", "11000", "10010", "00010", "00010"]
    for pattern in patterns:
        worker = auth.register()
        attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
        key_of = {q["id"]: q["key"] for q in exam["questions"]}
        answers = {str(q["id"]): {"choice": "r" if pattern[int(key_of[q["id"]][1]) - 1] == "1" else "w"}
                   for q in attempt["questions"]}
        assert client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers},
                           headers=worker.headers).status_code == 200
    client.post(f"{API}/exams/{exam['id']}/attempts", headers=auth.register().headers)  # one still open

    stats = client.get(f"{MANAGE}/exams/{exam['id']}/stats", headers=manager.headers)
    assert stats.status_code == 200
    body = stats.get_json()
    assert (body["attempts"], body["open_attempts"], body["passed"]) == (6, 1, 2)
    assert body["pass_rate"] == pytest.approx(2 / 6, abs=1e-4)
    assert sum(b["count"] for b in body["distribution"]) == 6
    assert {b["from"]: b["count"] for b in body["distribution"]}[60] == 2
    items = {q["key"]: q for q in body["questions"]}
    assert items["q1"]["share_correct"] == pytest.approx(4 / 6, abs=1e-4) and items["q1"]["discrimination"] > 0
    assert items["q1"]["flags"] == []
    assert items["q4"]["discrimination"] < 0 and items["q4"]["flags"] == ["negative_discrimination"]
    assert items["q5"]["share_correct"] == 0 and items["q5"]["flags"] == ["nearly_everyone_wrong"]
    # The discrimination is the point-biserial correlation with the rest of the score.
    rest = [100 * (p.count("1") - int(p[0])) / 4 for p in patterns]
    expected = scoring.point_biserial([p[0] == "1" for p in patterns], rest)
    assert items["q1"]["discrimination"] == pytest.approx(expected, abs=1e-4)

    csv = client.get(f"{MANAGE}/exams/{exam['id']}/stats", headers={**manager.headers, "Accept": "text/csv"})
    lines = csv.get_data(as_text=True).strip().splitlines()
    assert lines[0].lstrip("\ufeff").startswith("id,key,kind") and len(lines) == 6
    assert any("negative_discrimination" in line for line in lines)
    assert client.get(f"{MANAGE}/exams/999999/stats", headers=manager.headers).status_code == 404
