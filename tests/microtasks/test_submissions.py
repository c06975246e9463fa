"""Submissions: answer checks per task type and project config, idempotent replays, late
answers both ways, gold feedback, the submission_accepted event, recorded durations."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from backend.extensions import db
from backend.idempotency import IdempotencyRecord
from backend.microtasks.models import Assignment, Submission, Task

from .conftest import certify, classification_tasks, clock, lease, make_project, submit

PROBLEM = "application/problem+json"


def _one(client, auth, app, **project):
    project_id = make_project(app, **project)
    worker = auth.register()
    certify(app, worker.id, project.get("skill", "llm_eval"), project.get("difficulty", 1))
    held = lease(client, worker, project_id=project_id)["assignments"][0]
    return project_id, worker, held


def test_answer_is_checked_against_the_type_and_the_project(app, client, auth):
    with clock():
        _, worker, held = _one(client, auth, app, tasks=classification_tasks(1))
        url = f"/api/v1/assignments/{held['id']}/submission"
        cases = [
            ({"answer": {"label": "maybe"}}, "answer.label"),
            ({"answer": {"label": 3}}, "answer.label"),
            ({"answer": {}}, "answer.label"),
            ({"answer": {"label": "pos", "extra": 1}}, "answer.extra"),
            ({"answer": "pos"}, "answer"),
            ({"answer": {"label": "pos"}, "duration_ms": -5}, "duration_ms"),
            ({}, "answer"),
        ]
        for body, field in cases:
            response = client.post(url, json=body, headers=worker.headers)
            assert response.status_code == 422, (body, response.get_json())
            assert response.mimetype == PROBLEM
            assert field in response.get_json()["errors"], (body, response.get_json())
        assert submit(client, worker, held["id"], {"label": "pos"})["status"] == "accepted"


def test_rating_answers_cover_the_dimensions_within_the_scale(app, client, auth):
    with clock():
        _, worker, held = _one(client, auth, app, task_type="rating",
                               config={"dimensions": ["accuracy", "fluency"], "scale": [1, 5]},
                               tasks=[{"payload": {"prompt": "서울은?", "response": "수도입니다."}}])
        url = f"/api/v1/assignments/{held['id']}/submission"
        bad = {
            "answer.scores.fluency": {"scores": {"accuracy": 3}},
            "answer.scores.style": {"scores": {"accuracy": 3, "fluency": 4, "style": 2}},
            "answer.scores.accuracy": {"scores": {"accuracy": 9, "fluency": 4}},
        }
        for field, answer in bad.items():
            response = client.post(url, json={"answer": answer}, headers=worker.headers)
            assert response.status_code == 422 and field in response.get_json()["errors"], response.get_json()
        submit(client, worker, held["id"], {"scores": {"accuracy": 5, "fluency": 4}})


def test_bbox_answers_use_project_labels_and_stay_inside_the_image(app, client, auth):
    with clock():
        _, worker, held = _one(client, auth, app, skill="bbox", task_type="bbox",
                               config={"labels": ["car", "person"]},
                               tasks=[{"payload": {"image_url": "https://img.example/a.png", "width": 100,
                                                   "height": 50}}])
        url = f"/api/v1/assignments/{held['id']}/submission"
        bad = {
            "answer.boxes.0.label": {"boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "tree"}]},
            "answer.boxes.0.w": {"boxes": [{"x": 90, "y": 1, "w": 20, "h": 5, "label": "car"}]},
            "answer.boxes.1.h": {"boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "car"},
                                           {"x": 1, "y": 40, "w": 5, "h": 20, "label": "person"}]},
        }
        for field, answer in bad.items():
            response = client.post(url, json={"answer": answer}, headers=worker.headers)
            assert response.status_code == 422 and field in response.get_json()["errors"], response.get_json()
        submit(client, worker, held["id"], {"boxes": []})


def test_idempotent_submission_replays_the_first_answer(app, client, auth, accepted_events):
    with clock():
        _, worker, held = _one(client, auth, app, tasks=classification_tasks(1))
        first = submit(client, worker, held["id"], {"label": "neg"}, key="sub-1", duration_ms=4200)
        response = client.post(f"/api/v1/assignments/{held['id']}/submission",
                               json={"answer": {"label": "neg"}, "duration_ms": 4200},
                               headers={**worker.headers, "Idempotency-Key": "sub-1"})
        assert response.status_code == 201 and response.get_json() == first
        assert response.headers["Idempotent-Replayed"] == "true"
        other_body = client.post(f"/api/v1/assignments/{held['id']}/submission",
                                 json={"answer": {"label": "pos"}},
                                 headers={**worker.headers, "Idempotency-Key": "sub-1"})
        assert other_body.status_code == 422
        assert other_body.get_json()["type"].endswith("idempotency-key-reused")
        no_key = client.post(f"/api/v1/assignments/{held['id']}/submission",
                             json={"answer": {"label": "neg"}}, headers=worker.headers)
        assert no_key.status_code == 409 and no_key.get_json()["type"].endswith("already-submitted")
        with app.app_context():
            rows = db.session.execute(sa.select(Submission)).scalars().all()
            assert len(rows) == 1 and rows[0].duration_ms == 4200 and rows[0].answer == {"label": "neg"}
            assert db.session.execute(sa.select(Task.answer_count)).scalar() == 1
        assert len(accepted_events) == 1


def test_idempotent_lease_replays_the_same_assignments(app, client, auth):
    with clock():
        make_project(app, tasks=classification_tasks(6))
        worker = auth.register()
        certify(app, worker.id)
        first = lease(client, worker, 3, key="lease-1")
        again = lease(client, worker, 3, key="lease-1")
        assert again == first and len(first["assignments"]) == 3
        assert lease(client, worker, 4, key="lease-1", status=422)["type"].endswith("idempotency-key-reused")
        with app.app_context():
            assert db.session.execute(sa.select(sa.func.count()).select_from(Assignment)).scalar() == 3
            assert db.session.execute(sa.select(sa.func.count()).select_from(IdempotencyRecord)).scalar() == 1


def test_submission_event_and_earned(app, client, auth, accepted_events):
    with clock():
        project_id, worker, held = _one(client, auth, app, tasks=classification_tasks(1), reward={"amount": 120})
    with clock(7):
        result = submit(client, worker, held["id"], {"label": "pos"})
    assert result["earned"] == {"amount": 120, "currency": "KRW"} and "feedback" not in result
    assert result["late"] is False
    event = accepted_events[0]
    assert event == {"submission_id": result["id"], "user_id": worker.id, "project_id": project_id,
                     "task_id": held["task"]["id"], "reward_amount": 120, "currency": "KRW", "gold": False,
                     "correct": None, "task_type": "classification", "skill_code": "llm_eval", "duration_ms": 7000,
                     "submitted_at": dt.datetime(2031, 3, 2, 9, 0, 7, tzinfo=dt.UTC)}
    with app.app_context():
        assert db.session.get(Submission, result["id"]).duration_ms == 7000


def test_gold_answers_get_instant_feedback_with_the_explanation(app, client, auth, accepted_events):
    with clock():
        make_project(app, tasks=classification_tasks(0, gold=2) + classification_tasks(40), gold_ratio=0.5)
        worker = auth.register(locale="en")
        certify(app, worker.id)
        gold_ids = set()
        with app.app_context():
            gold_ids = set(db.session.execute(sa.select(Task.id).where(Task.is_gold.is_(True))).scalars())
        held = lease(client, worker, 20)["assignments"]
        golds = [a for a in held if a["task"]["id"] in gold_ids]
        assert len(golds) == 2
        right = submit(client, worker, golds[0]["id"], {"label": "pos"})
        wrong = submit(client, worker, golds[1]["id"], {"label": "neg"})
        normal = submit(client, worker, next(a for a in held if a["task"]["id"] not in gold_ids)["id"],
                        {"label": "neg"})
    assert right["feedback"] == {"correct": True, "explanation": "It is positive."}
    assert wrong["feedback"] == {"correct": False, "explanation": "It is positive."}
    assert "feedback" not in normal
    assert "pos" not in str(wrong["feedback"]).replace("positive", "")  # never the gold answer itself
    assert [(e["gold"], e["correct"]) for e in accepted_events] == [(True, True), (True, False), (False, None)]


def test_late_submission_is_accepted_while_the_slot_is_free(app, client, auth):
    with clock():
        project_id, worker, held = _one(client, auth, app, tasks=classification_tasks(1), lease_seconds=60)
    with clock(90):  # expired, nobody reclaimed it yet: the slot is still this worker's
        assert submit(client, worker, held["id"], {"label": "pos"})["late"] is True
    with clock(100):
        project_id2, worker2, held2 = _one(client, auth, app, tasks=classification_tasks(1), lease_seconds=60)
    job = next(j for j in app.extensions["labelpath_jobs"] if j.id == "microtasks.expire_leases")
    from backend.scheduler import run_job

    with clock(200):
        run_job(app, job)  # reclaimed: the slot is free again, nobody took it
        worker2 = auth.login(worker2.email, worker2.password)
        assert submit(client, worker2, held2["id"], {"label": "neg"})["late"] is True
        with app.app_context():
            slots = db.session.execute(sa.select(Task.open_slots).where(Task.project_id == project_id2)).scalar()
            assert slots == 0


def test_late_submission_is_refused_when_someone_else_took_the_slot(app, client, auth, accepted_events):
    with clock():
        project_id, worker, held = _one(client, auth, app, tasks=classification_tasks(1), lease_seconds=60)
        other = auth.register()
        certify(app, other.id)
    with clock(61):
        taken = lease(client, other)["assignments"]
        assert [a["task"]["id"] for a in taken] == [held["task"]["id"]]
        late = submit(client, worker, held["id"], {"label": "pos"}, status=409)
        assert late["type"].endswith("lease-expired")
        submit(client, other, taken[0]["id"], {"label": "pos"})
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Submission)).scalar() == 1
        assert db.session.execute(sa.select(Task.open_slots, Task.answer_count)).one() == (0, 1)
    assert len(accepted_events) == 1


def test_someone_elses_assignment_is_404(app, client, auth):
    with clock():
        _, worker, held = _one(client, auth, app, tasks=classification_tasks(1))
        stranger = auth.register()
        submit(client, stranger, held["id"], {"label": "pos"}, status=404)
        submit(client, stranger, 424242, {"label": "pos"}, status=404)
        assert client.post(f"/api/v1/assignments/{held['id']}/heartbeat",
                           headers=stranger.headers).status_code == 404
