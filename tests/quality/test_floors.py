"""Fast-submit detection and gold-accuracy floors: a paused worker sees why and how to come back,
the claim and GET /projects respect the pause, and retraining, a new certificate or a manager
lift it."""

import datetime as dt

import sqlalchemy as sa

from backend import events
from backend.audit.models import AuditEntry
from backend.extensions import db
from backend.quality import floors
from backend.quality.models import ProjectPause, ReviewSample, WorkerProjectStats
from courses import services as courses
from courses.models import CourseExample
from courses.schemas import CourseIn

from .review_support import certify, clock, configure, make_project, work

QUIET = {"REVIEW_SAMPLE_RATE": 0.0, "REVIEW_SAMPLE_RATE_NEW": 0.0, "REVIEW_SAMPLE_RATE_LOW_ACCURACY": 0.0}


def retraining_course(app, slug="sentiment-basics", skill="llm_eval"):
    example = {"kind": "example", "question": {
        "key": "tone-1", "kind": "single_choice", "prompt": {"ko": "긍정인가요?", "en": "Positive?"},
        "options": [{"id": "a", "text": {"ko": "예", "en": "Yes"}}, {"id": "b", "text": {"ko": "아니오", "en": "No"}}],
        "answer": {"choice": "a"}, "explanation": {"ko": "긍정입니다.", "en": "It is positive."}}}
    second = {"kind": "example", "question": {**example["question"], "key": "tone-2", "answer": {"choice": "b"},
                                              "explanation": {"ko": "부정입니다.", "en": "It is negative."}}}
    payload = {"slug": slug, "title": {"ko": "감정 분류 기초", "en": "Sentiment basics"}, "skill": skill, "level": 1,
               "modules": [{"title": {"ko": "모듈", "en": "Module"}, "lessons": [
                   {"key": "tone", "title": {"ko": "어조", "en": "Tone"},
                    "blocks": [{"kind": "markdown", "text": "# Tone"}, example, second]}]}]}
    with app.app_context():
        courses.create_course({**CourseIn().load(payload), "published": True})
        db.session.commit()


def answer_gold_wrong_until_paused(client, worker, project_id, limit=80):
    """Answer 'neg' to everything (the gold answers are 'pos') until the project locks."""
    for _ in range(limit):
        leased = client.post("/api/v1/assignments", json={"project_id": project_id, "count": 1},
                             headers=worker.headers)
        if leased.status_code == 403:
            return leased.get_json()
        (assignment,) = leased.get_json()["assignments"]
        client.post(f"/api/v1/assignments/{assignment['id']}/submission",
                    json={"answer": {"label": "neg"}, "duration_ms": 20_000}, headers=worker.headers)
    raise AssertionError("never paused")


def test_a_worker_under_the_gold_floor_is_paused_with_a_reason_and_a_way_back(app, client, auth):
    configure(app, **QUIET)
    retraining_course(app)
    with clock():
        project_id = make_project(app, normal=60, gold=40, gold_ratio=0.5)
        other_id = make_project(app, normal=5)
        worker = auth.register(locale="en")
        certify(app, worker.id)
        refused = answer_gold_wrong_until_paused(client, worker, project_id)
        assert refused["type"].endswith("project-locked")
        assert refused["locked_reason"].startswith("Paused on this project: your gold accuracy was 0% over your last")
        assert "Answer the 2 practice examples of “Sentiment basics” correctly again to resume." in \
            refused["locked_reason"]
        listed = {p["id"]: p for p in client.get("/api/v1/projects", headers=worker.headers).get_json()["items"]}
        assert listed[project_id]["locked"] and listed[project_id]["locked_reason"] == refused["locked_reason"]
        assert not listed[other_id]["locked"]
        # the claim without a project skips the paused one
        for assignment in client.post("/api/v1/assignments", json={"count": 5},
                                      headers=worker.headers).get_json()["assignments"]:
            assert assignment["project_id"] == other_id
        (pause,) = client.get("/api/v1/me/pauses", headers=worker.headers).get_json()["items"]
        assert (pause["cause"], pause["active"], pause["project_id"]) == ("accuracy_floor", True, project_id)
        assert pause["detail"]["correct"] == 0 and pause["detail"]["answers"] >= 10
        assert pause["way_back"]["kind"] == "retraining" and pause["way_back"]["examples"] == ["tone-1", "tone-2"]
    with app.app_context():
        (row,) = db.session.execute(sa.select(ProjectPause)).scalars()
        assert row.reason["ko"].startswith("최근 골드 답변 ")
        assert row.reason["ko"].endswith("「감정 분류 기초」 과정의 연습 문제 2개를 다시 모두 맞히면 재개됩니다.")


def test_retraining_lifts_the_pause_and_the_counts_start_afresh(app, client, auth):
    configure(app, **QUIET)
    retraining_course(app)
    with clock():
        project_id = make_project(app, normal=60, gold=40, gold_ratio=0.5)
        worker = auth.register()
        certify(app, worker.id)
        answer_gold_wrong_until_paused(client, worker, project_id)
        (pause,) = client.get("/api/v1/me/pauses", headers=worker.headers).get_json()["items"]
        url = f"/api/v1/me/pauses/{pause['id']}/retraining"
        wrong = client.post(url, json={"key": "tone-1", "answer": {"choice": "b"}}, headers=worker.headers)
        assert wrong.status_code == 200, wrong.get_json()
        assert (wrong.get_json()["correct"], wrong.get_json()["done"], wrong.get_json()["lifted"]) == (False, 0, False)
        bad_shape = client.post(url, json={"key": "tone-1", "answer": {"text": "yes"}}, headers=worker.headers)
        assert bad_shape.status_code == 422
        assert client.post(url, json={"key": "nope", "answer": {"choice": "a"}},
                           headers=worker.headers).status_code == 404
        other = auth.register()
        assert client.post(url, json={"key": "tone-1", "answer": {"choice": "a"}},
                           headers=other.headers).status_code == 404
        first = client.post(url, json={"key": "tone-1", "answer": {"choice": "a"}}, headers=worker.headers).get_json()
        assert (first["done"], first["remaining"], first["lifted"]) == (1, ["tone-2"], False)
        last = client.post(url, json={"key": "tone-2", "answer": {"choice": "b"}}, headers=worker.headers).get_json()
        assert last["lifted"] is True and last["pause"]["lift_reason"] == "retraining"
        again = client.post(url, json={"key": "tone-2", "answer": {"choice": "b"}}, headers=worker.headers)
        assert again.status_code == 409
        listed = {p["id"]: p for p in client.get("/api/v1/projects", headers=worker.headers).get_json()["items"]}
        assert listed[project_id]["locked"] is False
        assert client.post("/api/v1/assignments", json={"project_id": project_id},
                           headers=worker.headers).get_json()["assignments"]
    with app.app_context():
        stats = db.session.get(WorkerProjectStats, (worker.id, project_id))
        assert stats.recent_gold == "" and stats.gold_answers >= 10  # totals kept, the window restarts


def test_fast_answers_are_reviewed_and_a_fast_clicker_is_paused(app, client, auth):
    configure(app, **QUIET)
    with clock():
        project_id = make_project(app, normal=60)
        steady = auth.register()
        certify(app, steady.id)
        for _ in range(20):
            work(client, steady, project_id, {"label": "pos"}, duration_ms=20_000)
        clicker = auth.register(locale="en")
        certify(app, clicker.id)
        first = work(client, clicker, project_id, {"label": "neg"}, duration_ms=900)
        with app.app_context():
            assert db.session.get(ReviewSample, first["id"]).reasons == ["fast"]
            assert floors.project_median_ms(project_id) == 20_000
        for _ in range(9):
            work(client, clicker, project_id, {"label": "neg"}, duration_ms=900)
        locked = client.post("/api/v1/assignments", json={"project_id": project_id}, headers=clicker.headers)
        assert locked.status_code == 403
        assert locked.get_json()["locked_reason"].startswith(
            "Paused on this project: 10 of your last 10 answers came far faster than this project's usual time.")
        assert locked.get_json()["locked_reason"].endswith("A manager will look at your work and can resume it.")
        # a steady worker is never called fast
        work(client, steady, project_id, {"label": "pos"}, duration_ms=15_000)
    with app.app_context():
        assert db.session.execute(sa.select(ProjectPause.user_id)).scalars().all() == [clicker.id]


def test_a_manager_lifts_a_pause_and_it_is_audited(app, client, auth):
    configure(app, **QUIET)
    with clock():
        project_id = make_project(app, normal=60, gold=40, gold_ratio=0.5)
        worker = auth.register()
        certify(app, worker.id)
        answer_gold_wrong_until_paused(client, worker, project_id)
        manager, reviewer = auth.create("manager"), auth.create("reviewer")
        url = f"/api/v1/manage/workers/{worker.id}/pauses/{project_id}/lift"
        (listed,) = client.get("/api/v1/manage/pauses?active=true", headers=manager.headers).get_json()["items"]
        assert listed["user_id"] == worker.id and listed["way_back"] == {"kind": "manager"}
        assert client.post(url, json={"reason": "ok"}, headers=reviewer.headers).status_code == 403
        assert client.post(url, json={}, headers=manager.headers).status_code == 422
        lifted = client.post(url, json={"reason": "Talked it through; the labels were swapped."},
                             headers=manager.headers)
        assert lifted.status_code == 200, lifted.get_json()
        assert lifted.get_json()["active"] is False and lifted.get_json()["lifted_by"] == manager.id
        assert client.post(url, json={"reason": "again"}, headers=manager.headers).status_code == 404
        assert client.get("/api/v1/manage/pauses?active=true", headers=manager.headers).get_json()["items"] == []
    with app.app_context():
        (entry,) = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "pause.lift")).scalars()
        assert (entry.actor_id, entry.target_id) == (manager.id, str(worker.id))


def test_passing_a_certification_again_lifts_the_skills_pauses(app, auth):
    with app.app_context():
        project_id = make_project(app, normal=1)
        worker = auth.register()
        paused = floors.pause(worker.id, project_id, "llm_eval", "accuracy_floor",
                              {"correct": 1, "answers": 12, "accuracy": 1 / 12, "wilson_high": 0.35, "floor": 0.7})
        db.session.commit()
        assert floors.paused_projects(worker.id) == {project_id: paused.reason}
        events.certificate_issued.send(user_id=worker.id, skill="bbox", level=1, code="X",
                                       expires_at=dt.datetime(2040, 1, 1, tzinfo=dt.UTC), exam_id=1)
        assert floors.paused_projects(worker.id)  # another skill: still paused
        events.certificate_issued.send(user_id=worker.id, skill="llm_eval", level=1, code="Y",
                                       expires_at=dt.datetime(2040, 1, 1, tzinfo=dt.UTC), exam_id=1)
        db.session.commit()
        assert floors.paused_projects(worker.id) == {}
        assert db.session.get(ProjectPause, paused.id).lift_reason == "certificate"


def test_after_two_retrainings_on_a_project_a_manager_decides(app, auth):
    retraining_course(app)
    detail = {"correct": 0, "answers": 10, "accuracy": 0.0, "wilson_high": 0.28, "floor": 0.7}
    with app.app_context():
        project_id = make_project(app, normal=1)
        worker = auth.register()
        kinds = []
        for _ in range(3):
            row = floors.pause(worker.id, project_id, "llm_eval", "accuracy_floor", detail)
            kinds.append(row.way_back["kind"])
            assert floors.pause(worker.id, project_id, "llm_eval", "accuracy_floor", detail) is None  # one open
            floors._lift(row, "retraining")
        assert kinds == ["retraining", "retraining", "manager"]
        keys = set(db.session.execute(sa.select(CourseExample.key)).scalars())
        assert keys == {"tone-1", "tone-2"}


def test_the_floor_needs_evidence_not_a_bad_streak():
    assert floors.floor_broken("0" * 9, "") is None  # too few gold answers yet
    assert floors.floor_broken("1" * 30 + "0" * 10, "") is None  # 75 % over the window: fine
    assert floors.floor_broken("10" * 20, "")[0] == "accuracy_floor"  # a coin flipper: surely under 70 %
    assert floors.floor_broken("1" * 40, "1" * 9) is None  # 9 fast of 9: not yet half a window
    assert floors.floor_broken("1" * 40, "0" * 10 + "1" * 10)[0] == "fast_submit"
    assert floors.floor_broken("1" * 40, "0" * 11 + "1" * 9) is None
    assert floors.push("1" * 200, False) == "1" * 199 + "0"


def test_one_retraining_lifts_every_pause_that_asked_for_it(app, auth):
    retraining_course(app)
    detail = {"correct": 0, "answers": 10, "accuracy": 0.0, "wilson_high": 0.28, "floor": 0.7}
    with app.app_context():
        first_project, second_project = make_project(app, normal=1), make_project(app, normal=1)
        worker = auth.register()
        first = floors.pause(worker.id, first_project, "llm_eval", "accuracy_floor", detail)
        floors.pause(worker.id, second_project, "llm_eval", "accuracy_floor", detail)
        assert floors.retraining_answer(worker.id, first.id, "tone-1", {"choice": "a"})["lifted"] is False
        result = floors.retraining_answer(worker.id, first.id, "tone-2", {"choice": "b"})
        assert result["lifted"] is True and result["also_lifted"] == [second_project]
        assert floors.paused_projects(worker.id) == {}
