"""Dynamic overlap: settings through the manager API, the slot decisions of the aggregation job,
and the engine's invariant (never more open leases + answers than a task's allowance)."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
import time_machine

from backend.accounts import services as accounts
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Assignment, Submission, Task
from backend.quality import results
from backend.quality.models import Review
from backend.skills import services as skills
from tests.quality.test_results_support import (
    make_project,
    make_workers,
    open_leases,
    slot_rows,
    task_ids,
    write_answers,
)

START = dt.datetime(2031, 3, 2, 9, 0, tzinfo=dt.UTC)
DYNAMIC = {"min_overlap": 2, "max_overlap": 4, "confidence_target": 0.9}


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def _slots(project_id: int) -> dict[int, tuple[int, int]]:
    return {task_id: (open_slots, answers) for task_id, open_slots, answers in slot_rows(project_id)}


def _body(**fields) -> dict:
    return {"title": "감정 분류", "skill": "llm_eval", "task_type": "classification",
            "config": {"labels": ["pos", "neg"]}, "difficulty": 1, "reward": {"amount": 10}, **fields}


# ------------------------------------------------------------------------------ settings


def test_dynamic_overlap_settings_through_the_manager_api(app, client, auth):
    manager = auth.create("manager")
    headers = manager.headers
    with app.app_context():
        skills.ensure_starter_skills()
        db.session.commit()
    made = client.post("/api/v1/manage/projects", json=_body(overlap=3, max_overlap=6, confidence_target=0.9),
                       headers=headers)
    assert made.status_code == 201, made.get_json()
    project = made.get_json()
    assert (project["overlap"], project["min_overlap"], project["max_overlap"], project["confidence_target"]) == \
        (3, 3, 6, 0.9)  # min_overlap defaults to overlap

    explicit = client.post("/api/v1/manage/projects", json=_body(**DYNAMIC), headers=headers).get_json()
    assert explicit["overlap"] == 2 and explicit["min_overlap"] == 2  # overlap follows min_overlap

    def problem(body, method="post", path="/api/v1/manage/projects"):
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == 422, response.get_json()
        return set(response.get_json()["errors"])

    assert problem(_body(max_overlap=4)) == {"confidence_target"}
    assert problem(_body(confidence_target=0.8)) == {"max_overlap"}
    assert problem(_body(max_overlap=4, confidence_target=0.8)) == {"min_overlap"}  # overlap 1: too few
    assert problem(_body(min_overlap=5, max_overlap=4, confidence_target=0.8)) == {"max_overlap"}
    assert problem(_body(min_overlap=2, max_overlap=4, confidence_target=1.5)) == {"confidence_target"}
    collection = _body(task_type="collection", config={"media": "image", "consent": {"version": "1", "text": "네"}},
                       **DYNAMIC)
    assert problem(collection) == {"confidence_target"}

    # PATCH: switching it on moves every task's free slots to the new minimum.
    fixed = client.post("/api/v1/manage/projects", json=_body(), headers=headers).get_json()
    imported = client.post(f"/api/v1/manage/projects/{fixed['id']}/tasks",
                           json=[{"payload": {"text": f"문장 {i}"}} for i in range(3)], headers=headers)
    assert imported.get_json()["created"] == 3
    path = f"/api/v1/manage/projects/{fixed['id']}"
    on = client.patch(path, json={"min_overlap": 3, "max_overlap": 5, "confidence_target": 0.95}, headers=headers)
    assert on.status_code == 200 and on.get_json()["overlap"] == 3
    with app.app_context():
        assert set(_slots(fixed["id"]).values()) == {(3, 0)}
    assert client.patch(path, json={"overlap": 2}, headers=headers).get_json()["min_overlap"] == 2
    assert problem({"overlap": 4, "min_overlap": 3}, "patch", path) == {"overlap"}
    assert problem({"max_overlap": None}, "patch", path) == {"max_overlap"}
    off = client.patch(path, json={"max_overlap": None, "confidence_target": None}, headers=headers).get_json()
    assert (off["overlap"], off["min_overlap"], off["max_overlap"], off["confidence_target"]) == (2, None, None, None)
    with app.app_context():
        assert set(_slots(fixed["id"]).values()) == {(2, 0)}


# ------------------------------------------------------------------------------ through the engine


def _worker(auth, app) -> tuple:
    account = auth.register()
    with app.app_context():
        skills.ensure_starter_skills()
        skills.set_level(account.id, "llm_eval", 1, "test", source="override")
        db.session.commit()
    return account


def _lease(client, account, project_id, count=2) -> list[dict]:
    response = client.post("/api/v1/assignments", json={"count": count, "project_id": project_id},
                           headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["assignments"]


def _submit(client, account, assignment_id, label) -> None:
    response = client.post(f"/api/v1/assignments/{assignment_id}/submission", json={"answer": {"label": label}},
                           headers=account.headers)
    assert response.status_code == 201, response.get_json()


def _run_job(app) -> dict:
    with app.app_context():
        return results.aggregation_job()


def test_a_task_stops_when_confident_and_asks_for_more_when_workers_disagree(app, client, auth):
    with at(START) as clock:
        with app.app_context():
            project = make_project(config={"labels": ["pos", "neg"]}, lease_seconds=60,
                                   items=[{"payload": {"text": "좋아요"}, "external_id": "agree"},
                                          {"payload": {"text": "글쎄요"}, "external_id": "split"}], **DYNAMIC)
            db.session.commit()
            by_name = dict(db.session.execute(sa.select(Task.external_id, Task.id)).tuples().all())
        agree, split = by_name["agree"], by_name["split"]
        workers = [_worker(auth, app) for _ in range(6)]
        w1, w2, w3 = workers[:3]
        for account, answers in ((w1, {agree: "pos", split: "pos"}), (w2, {agree: "pos", split: "neg"})):
            for item in _lease(client, account, project):
                _submit(client, account, item["id"], answers[item["task"]["id"]])
        assert _lease(client, w3, project) == []  # both tasks hold their minimum of 2 answers

        clock.shift(30)
        summary = _run_job(app)
        assert summary["slots_opened"] == 1 and summary["slots_closed"] == 0
        with app.app_context():
            assert _slots(project) == {agree: (0, 2), split: (1, 2)}
            assert results.task_result(agree)["finished"] and not results.task_result(split)["finished"]

        held = _lease(client, w3, project)
        assert [item["task"]["id"] for item in held] == [split]  # the settled task is not offered
        clock.shift(30)
        assert _run_job(app)["slots_opened"] == 0  # a lease is out: its answer may settle it
        with app.app_context():
            assert _slots(project)[split] == (0, 2) and open_leases(split) == 1

        # The lease expires and its slot returns; the allowance stays 3, and w4 takes it.
        clock.shift(61)
        with app.app_context():
            microtasks.expire_leases()
            db.session.commit()
            assert _slots(project)[split] == (1, 2)
        # Whatever the model says, the task ends at 4 answers at most, and nobody gets more.
        for account in workers[3:]:
            taken = _lease(client, account, project)
            assert [item["task"]["id"] for item in taken] in ([], [split])
            for item in taken:
                _submit(client, account, item["id"], "neg")
            clock.shift(61)
            _run_job(app)
            with app.app_context():
                open_slots, answers = _slots(project)[split]
                assert answers <= 4 and open_slots + answers + open_leases(split) <= 4
        with app.app_context():
            final = results.task_result(split)
            assert final["finished"] and final["result"] == {"label": "neg"}
            assert _slots(project)[agree] == (0, 2)


def test_a_slot_that_comes_back_to_a_settled_task_is_closed(app):
    with app.app_context(), at(START):
        project = make_project(items=[{"payload": {"text": "문장"}}], **DYNAMIC)
        (task,) = task_ids(project)
        w = make_workers(2)
        write_answers(project, [(task, w[0], {"label": "cat"}), (task, w[1], {"label": "cat"})])
        # As a give-back or an expiry would leave it after the result turned confident.
        db.session.execute(sa.update(Task).where(Task.id == task).values(open_slots=1))
        summary = results.aggregate_project(project)
        assert summary["slots_closed"] == 1 and _slots(project)[task] == (0, 2)


def test_decisions_on_answers_that_changed_since_the_read_are_skipped(app):
    with app.app_context(), at(START):
        project = make_project(items=[{"payload": {"text": f"문장 {i}"}} for i in range(2)], **DYNAMIC)
        a, b = task_ids(project)
        w = make_workers(3)
        write_answers(project, [(a, w[0], {"label": "cat"}), (a, w[1], {"label": "dog"}),
                                (b, w[0], {"label": "cat"}), (b, w[1], {"label": "dog"})])
        plan = results.compute_plan(project)
        write_answers(project, [(b, w[2], {"label": "cat"})], )  # arrives while the model is fitted
        db.session.execute(sa.update(Task).where(Task.id == b).values(open_slots=0))  # b's slot was taken
        summary = results.apply_plan(plan)
        assert summary["slots_opened"] == 1  # only a
        assert _slots(project) == {a: (1, 2), b: (0, 3)}


def test_answers_rejected_in_review_are_replaced(app):
    with app.app_context(), at(START) as clock:
        project = make_project(items=[{"payload": {"text": "문장"}}], **DYNAMIC)
        (task,) = task_ids(project)
        w = make_workers(2)
        write_answers(project, [(task, w[0], {"label": "cat"}), (task, w[1], {"label": "cat"})])
        results.aggregate_pending()
        assert results.task_result(task)["finished"] and _slots(project)[task] == (0, 2)
        for submission_id, user_id in db.session.execute(sa.select(Submission.id, Submission.user_id)):
            db.session.add(Review(submission_id=submission_id, user_id=user_id, project_id=project,
                                  decision="rejected", final=True, outcome="rejected"))
            results.mark_stale(project)
        db.session.flush()
        clock.shift(120)
        results.aggregate_pending()
        # No answer counts any more: no result, and a slot for a new answer.
        assert results.task_result(task) is None and _slots(project)[task] == (1, 2)


def test_ratings_and_boxes_have_dynamic_overlap_too(app):
    with app.app_context(), at(START):
        rating = make_project(task_type="rating", config={"dimensions": ["quality"], "scale": [1, 5]},
                              items=[{"payload": {"prompt": f"질문 {i}", "response": "답"}} for i in range(2)],
                              min_overlap=2, max_overlap=3, confidence_target=0.7)
        calm, torn = task_ids(rating)
        image = {"image_url": "https://example.com/p.png", "width": 100, "height": 100}
        boxes = make_project(task_type="bbox", config={"labels": ["car"]}, items=[{"payload": image}] * 2,
                             min_overlap=2, max_overlap=3, confidence_target=0.7)
        same, apart = task_ids(boxes)
        w = make_workers(3)
        box = {"x": 10, "y": 10, "w": 40, "h": 40, "label": "car"}
        write_answers(rating, [(calm, w[0], {"scores": {"quality": 4}}), (calm, w[1], {"scores": {"quality": 4}}),
                               (torn, w[0], {"scores": {"quality": 1}}), (torn, w[1], {"scores": {"quality": 5}})])
        write_answers(boxes, [(same, w[0], {"boxes": [box]}), (same, w[1], {"boxes": [{**box, "x": 11}]}),
                              (apart, w[0], {"boxes": [box]}), (apart, w[1], {"boxes": [{**box, "x": 55}]})])
        results.aggregate_pending()
        assert _slots(rating) == {calm: (0, 2), torn: (1, 2)}
        assert _slots(boxes) == {same: (0, 2), apart: (1, 2)}
        # The third answer reaches max_overlap: the task is settled whatever its confidence.
        write_answers(rating, [(torn, w[2], {"scores": {"quality": 3}})])
        results.aggregate_pending()
        assert _slots(rating)[torn] == (0, 3) and results.task_result(torn)["finished"]


# ------------------------------------------------------------------------------ races


def _racers(app, n: int) -> list[int]:
    with app.app_context():
        skills.ensure_starter_skills()
        password_hash = accounts.hash_password("race password 1")
        ids = []
        for i in range(n):
            user = accounts.create_user(f"overlap{i}@example.com", "unused", f"racer {i}", password_hash=password_hash)
            skills.set_level(user.id, "llm_eval", 1, "race", source="override")
            ids.append(user.id)
        db.session.commit()
        return ids


def _work(app, project_id: int, user_id: int, stop: threading.Event) -> int:
    rng = random.Random(user_id)
    done = 0
    with app.app_context():
        while not stop.is_set():
            got = microtasks.lease(user_id, rng.randint(1, 3), project_id)
            db.session.commit()
            for item in got:
                if rng.random() < 0.15:
                    microtasks.give_back(user_id, item["id"])
                else:
                    microtasks.submit(user_id, item["id"], {"label": rng.choice(["pos", "neg"])}, 900)
                    done += 1
                db.session.commit()
            if not got:
                time.sleep(0.01)
    return done


def _aggregate_repeatedly(app, stop: threading.Event) -> int:
    runs = 0
    with app.app_context():
        while not stop.is_set():
            results.aggregation_job()
            runs += 1
    return runs


def test_the_job_racing_workers_never_breaks_the_allowance(committing_app):
    """Workers lease, give back and submit while the job opens and closes slots; afterwards
    every task holds at most max_overlap answers and open leases, and no slot count is negative."""
    app = committing_app
    with app.app_context():
        skills.ensure_starter_skills()
        project = make_project(config={"labels": ["pos", "neg"]},
                               items=[{"payload": {"text": f"문장 {i}"}} for i in range(12)],
                               min_overlap=2, max_overlap=4, confidence_target=0.99)
        db.session.commit()
    workers = _racers(app, 6)
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=len(workers) + 1) as pool:
        job = pool.submit(_aggregate_repeatedly, app, stop)
        racers = [pool.submit(_work, app, project, user_id, stop) for user_id in workers]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with app.app_context():
                open_slots = db.session.execute(sa.select(sa.func.sum(Task.open_slots)).where(
                    Task.project_id == project)).scalar()
                leased = db.session.execute(sa.select(sa.func.count()).select_from(Assignment).where(
                    Assignment.project_id == project, Assignment.status == "leased")).scalar()
                db.session.rollback()
            if open_slots == 0 and leased == 0 and job.running():
                time.sleep(0.3)  # one more job run may open slots
                with app.app_context():
                    again = db.session.execute(sa.select(sa.func.sum(Task.open_slots)).where(
                        Task.project_id == project)).scalar()
                    db.session.rollback()
                if again == 0:
                    break
            time.sleep(0.05)
        stop.set()
        answered = sum(future.result(timeout=120) for future in racers)
        assert job.result(timeout=120) >= 1
    with app.app_context():
        rows = slot_rows(project)
        held = {task_id: open_leases(task_id) for task_id, _, _ in rows}
    assert answered == sum(answers for _, _, answers in rows)
    for task_id, open_slots, answers in rows:
        assert open_slots >= 0, (task_id, open_slots)
        assert answers >= 2 and open_slots + held[task_id] + answers <= 4, (task_id, open_slots, answers)
