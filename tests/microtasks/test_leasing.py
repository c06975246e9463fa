"""Leasing through the phone API: eligibility, overlap, one task once per worker, gold mixing,
the per-worker cap, expiry and reclaim, heartbeats, give-backs, sensitive content."""

from __future__ import annotations

import math
from collections import Counter

import sqlalchemy as sa

from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Assignment, Task
from backend.scheduler import run_job

from .conftest import certify, classification_tasks, clock, lease, make_project, submit

PROBLEM = "application/problem+json"


def _projects(client, account):
    response = client.get("/api/v1/projects", headers=account.headers)
    assert response.status_code == 200
    return {item["id"]: item for item in response.get_json()["items"]}


def _open_slots(app, project_id):
    with app.app_context():
        return dict(db.session.execute(sa.select(Task.id, Task.open_slots).where(
            Task.project_id == project_id, Task.is_gold.is_(False))).all())


# ------------------------------------------------------------------------------ eligibility


def test_eligibility_follows_the_level_in_the_project_skill(app, client, auth):
    with clock():
        easy = make_project(app, skill="bbox", task_type="bbox", difficulty=1, overlap=2,
                            tasks=[{"payload": {"image_url": "https://img.example/1.png", "width": 100,
                                                "height": 80}}])
        hard = make_project(app, skill="bbox", task_type="bbox", difficulty=3,
                            tasks=[{"payload": {"image_url": "/media/quizzes/x.png", "width": 10, "height": 10}}])
        novice, certified, expert = auth.register(locale="en"), auth.register(), auth.register()
        certify(app, certified.id, "bbox", 1)
        certify(app, expert.id, "bbox", 3)

        listed = _projects(client, novice)
        assert listed[easy]["locked"] and listed[hard]["locked"]
        assert listed[hard]["locked_reason"] == "Reach level 3 in Bounding boxes."
        korean = _projects(client, certified)[hard]["locked_reason"]
        assert korean == "바운딩 박스 레벨 3을(를) 달성하면 열립니다."
        assert lease(client, novice, 5)["assignments"] == []

        listed = _projects(client, certified)
        assert not listed[easy]["locked"] and listed[easy]["locked_reason"] is None
        assert listed[hard]["locked"]
        assert listed[easy]["open_tasks"] == 1 and listed[easy]["reward"] == {"amount": 50, "currency": "KRW"}
        got = lease(client, certified, 5)["assignments"]
        assert [a["project_id"] for a in got] == [easy]
        refused = client.post("/api/v1/assignments", json={"project_id": hard}, headers=certified.headers)
        assert refused.status_code == 403 and refused.mimetype == PROBLEM
        assert refused.get_json()["type"].endswith("project-locked")
        assert refused.get_json()["locked_reason"] == korean

        got = lease(client, expert, 5)["assignments"]
        assert {a["project_id"] for a in got} == {easy, hard}


def test_unknown_project_is_404_and_paused_projects_hand_out_nothing(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(3), status="paused")
        worker = auth.register()
        certify(app, worker.id)
        assert client.post("/api/v1/assignments", json={"project_id": 99999},
                           headers=worker.headers).status_code == 404
        answer = lease(client, worker, 3, project_id=project)
        assert answer["assignments"] == [] and answer["retry_after"] > 0
        assert project not in _projects(client, worker)


def test_count_is_validated(app, client, auth):
    with clock():
        worker = auth.register()
        for count in (0, 21, "3"):
            response = client.post("/api/v1/assignments", json={"count": count}, headers=worker.headers)
            assert response.status_code == 422 and "count" in response.get_json()["errors"]


def test_the_phone_sees_payload_instructions_reward_and_lease_never_the_gold(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(0, gold=1) + classification_tasks(1),
                               gold_ratio=0.5, instructions={"ko": "## 지시", "en": "## Do it"})
        worker = auth.register()
        certify(app, worker.id)
        seen = []
        for _ in range(2):
            response = client.post("/api/v1/assignments", json={"count": 2}, headers=worker.headers)
            seen += response.get_json()["assignments"]
            assert {a["project_id"] for a in response.get_json()["assignments"]} <= {project}
            assert "gold" not in response.get_data(as_text=True)
            assert "explanation" not in response.get_data(as_text=True)
        assert seen, "the normal task must be handed out"
        item = seen[0]
        assert set(item) == {"id", "project_id", "task", "instructions", "reward", "lease_expires_at"}
        assert set(item["task"]) == {"id", "type", "payload"}
        assert item["instructions"] == "## 지시" and item["lease_expires_at"] == "2031-03-02T09:10:00Z"
        listing = client.get("/api/v1/me/assignments", headers=worker.headers).get_data(as_text=True)
        assert "gold" not in listing and "pos" not in listing


# ------------------------------------------------------------------------------ slots


def test_overlap_is_never_exceeded_and_no_worker_gets_a_task_twice(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(4), overlap=2)
        workers = [auth.register() for _ in range(4)]
        for worker in workers:
            certify(app, worker.id)
        per_worker = {}
        for worker in workers:
            got = lease(client, worker, 20)["assignments"]
            per_worker[worker.id] = [a["task"]["id"] for a in got]
            again = lease(client, worker, 20)["assignments"]
            assert again == [], "nothing new for a worker who has every task they may have"
        for tasks in per_worker.values():
            assert len(tasks) == len(set(tasks))
        counts = Counter(task for tasks in per_worker.values() for task in tasks)
        assert sum(counts.values()) == 8 and set(counts.values()) == {2}
        assert set(_open_slots(app, project).values()) == {0}
        assert per_worker[workers[2].id] == [] and per_worker[workers[3].id] == []


def test_priority_then_age_and_hardest_eligible_first(app, client, auth):
    with clock():
        low = make_project(app, tasks=classification_tasks(2), priority=0)
        high = make_project(app, tasks=classification_tasks(2), priority=5)
        mixed = make_project(app, tasks=[{"payload": {"text": "쉬움"}, "difficulty": 1},
                                         {"payload": {"text": "어려움"}, "difficulty": 2},
                                         {"payload": {"text": "매우 어려움"}, "difficulty": 4}],
                             priority=-1)
        worker = auth.register()
        certify(app, worker.id, level=2)
        assert [a["project_id"] for a in lease(client, worker, 2)["assignments"]] == [high, high]
        assert [a["project_id"] for a in lease(client, worker, 2)["assignments"]] == [low, low]
        first = lease(client, worker, 1)["assignments"]
        assert [(a["project_id"], a["task"]["payload"]) for a in first] == [(mixed, {"text": "어려움"})], \
            "the hardest task it may do first"
        rest = lease(client, worker, 5)["assignments"]
        assert [a["task"]["payload"] for a in rest] == [{"text": "쉬움"}], "never the level-4 task"


def test_per_worker_cap_on_open_leases(app, client, auth):
    with clock():
        app.config["MICROTASKS_MAX_OPEN_LEASES"] = 3
        make_project(app, tasks=classification_tasks(10))
        worker = auth.register()
        certify(app, worker.id)
        assert len(lease(client, worker, 2)["assignments"]) == 2
        assert len(lease(client, worker, 5)["assignments"]) == 1
        full = lease(client, worker, 5)
        assert full["assignments"] == [] and full["retry_after"] == 30
        first = client.get("/api/v1/me/assignments", headers=worker.headers).get_json()["items"][0]
        submit(client, worker, first["id"], {"label": "pos"})
        assert len(lease(client, worker, 5)["assignments"]) == 1


def test_nothing_fits_gives_an_empty_list_with_retry_after(app, client, auth):
    with clock():
        worker = auth.register()
        certify(app, worker.id)
        assert lease(client, worker, 3) == {"assignments": [], "retry_after": 30}


# ------------------------------------------------------------------------------ gold


def test_gold_is_mixed_in_at_the_ratio(app, client, auth):
    """Many claims of one task each: the share of gold stays within 4.5 standard deviations."""
    ratio, claims = 0.25, 400
    with clock():
        project = make_project(app, tasks=classification_tasks(claims, gold=200), gold_ratio=ratio, overlap=1)
        worker = auth.register()
        certify(app, worker.id)
        app.config["MICROTASKS_MAX_OPEN_LEASES"] = 10_000
    with app.app_context():
        for _ in range(claims // 4):
            microtasks.lease(worker.id, 4, project)
        db.session.commit()
        rows = db.session.execute(sa.select(Assignment.is_gold).where(Assignment.user_id == worker.id)).all()
    gold = sum(1 for (is_gold,) in rows if is_gold)
    share, n = gold / len(rows), len(rows)
    sigma = math.sqrt(ratio * (1 - ratio) / n)
    assert abs(share - ratio) < 4.5 * sigma, (gold, n)


def test_gold_tasks_are_not_slot_counted_and_each_worker_sees_each_once(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(20, gold=2), gold_ratio=0.5, overlap=1)
        workers = [auth.register() for _ in range(3)]
        gold_seen = Counter()
        with app.app_context():
            for worker in workers:
                certify(app, worker.id)
            for worker in workers:
                got = []
                for _ in range(6):
                    got += microtasks.lease(worker.id, 1, project)
                db.session.commit()
                golds = db.session.execute(sa.select(Assignment.task_id).where(
                    Assignment.user_id == worker.id, Assignment.is_gold.is_(True))).scalars().all()
                assert len(golds) == len(set(golds)) <= 2
                gold_seen.update(golds)
        assert gold_seen, "with a ratio of 0.5 over 18 claims some gold must appear"
        assert max(gold_seen.values()) <= 3


def test_no_gold_without_normal_work(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(1, gold=5), gold_ratio=0.5)
        worker, other = auth.register(), auth.register()
        certify(app, worker.id)
        certify(app, other.id)
        taken = lease(client, other, 10, project_id=project)["assignments"]
        assert 1 <= len(taken) <= 2, "the one normal task, and at most one gold task riding along"
        assert lease(client, worker, 10)["assignments"] == [], "only gold is left: nothing to hand out"


# ------------------------------------------------------------------------------ expiry


def test_expired_lease_goes_back_to_the_pool_on_claim_without_the_job(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(1), lease_seconds=60)
        first, second = auth.register(), auth.register()
        certify(app, first.id)
        certify(app, second.id)
        held = lease(client, first)["assignments"][0]
        assert lease(client, second)["assignments"] == []
    with clock(61):
        got = lease(client, second)["assignments"]
        assert [a["task"]["id"] for a in got] == [held["task"]["id"]]
        statuses = client.get("/api/v1/me/assignments", headers=first.headers).get_json()["items"]
        assert statuses[0]["status"] == "expired"
        assert set(_open_slots(app, project).values()) == {0}
        assert lease(client, first)["assignments"] == [], "never the same task twice, also after expiry"


def test_expiry_job_reclaims_and_is_idempotent(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(3), lease_seconds=60)
        worker = auth.register()
        certify(app, worker.id)
        assert len(lease(client, worker, 3)["assignments"]) == 3
    job = next(j for j in app.extensions["labelpath_jobs"] if j.id == "microtasks.expire_leases")
    with clock(30):
        run_job(app, job)
        assert set(_open_slots(app, project).values()) == {0}
    with clock(61):
        run_job(app, job)
        run_job(app, job)
        assert set(_open_slots(app, project).values()) == {1}
        with app.app_context():
            statuses = db.session.execute(sa.select(Assignment.status)).scalars().all()
        assert statuses == ["expired"] * 3
        listed = client.get("/api/v1/me/assignments?status=expired", headers=worker.headers).get_json()
        assert len(listed["items"]) == 3


def test_heartbeat_extends_up_to_the_cap(app, client, auth):
    with clock():
        make_project(app, tasks=classification_tasks(1), lease_seconds=100)
        worker, other = auth.register(), auth.register()
        certify(app, worker.id)
        certify(app, other.id)
        held = lease(client, worker)["assignments"][0]
        assert held["lease_expires_at"] == "2031-03-02T09:01:40Z"
        url = f"/api/v1/assignments/{held['id']}/heartbeat"
    beats = {90: "09:03:10", 180: "09:04:40", 270: "09:06:10", 360: "09:06:40", 390: "09:06:40"}
    for at, expected in beats.items():
        with clock(at):
            response = client.post(url, headers=worker.headers)
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["lease_expires_at"] == f"2031-03-02T{expected}Z"
            assert response.get_json()["max_lease_expires_at"] == "2031-03-02T09:06:40Z"
            assert lease(client, other)["assignments"] == []
    with clock(401):
        assert client.post(url, headers=worker.headers).status_code == 409
        assert len(lease(client, other)["assignments"]) == 1
        assert client.post(url, headers=other.headers).status_code == 404


def test_give_back_returns_the_slot_and_is_idempotent(app, client, auth):
    with clock():
        project = make_project(app, tasks=classification_tasks(1))
        worker, other = auth.register(), auth.register()
        certify(app, worker.id)
        certify(app, other.id)
        held = lease(client, worker)["assignments"][0]
        assert client.delete(f"/api/v1/assignments/{held['id']}", headers=other.headers).status_code == 404
        assert client.delete(f"/api/v1/assignments/{held['id']}", headers=worker.headers).status_code == 204
        assert client.delete(f"/api/v1/assignments/{held['id']}", headers=worker.headers).status_code == 204
        assert set(_open_slots(app, project).values()) == {1}
        assert lease(client, worker)["assignments"] == [], "a task given back is not offered again"
        got = lease(client, other)["assignments"]
        assert len(got) == 1
        submit(client, other, got[0]["id"], {"label": "neg"})
        assert client.delete(f"/api/v1/assignments/{got[0]['id']}", headers=other.headers).status_code == 409
        submit(client, worker, held["id"], {"label": "neg"}, status=409)
        listed = client.get("/api/v1/me/assignments?status=released", headers=worker.headers).get_json()
        assert [item["id"] for item in listed["items"]] == [held["id"]]


def test_my_assignments_pages_and_filters(app, client, auth):
    with clock():
        make_project(app, tasks=classification_tasks(5))
        worker = auth.register()
        certify(app, worker.id)
        lease(client, worker, 5)
        page = client.get("/api/v1/me/assignments?limit=2", headers=worker.headers).get_json()
        assert len(page["items"]) == 2 and page["next_cursor"]
        rest = client.get(f"/api/v1/me/assignments?limit=10&cursor={page['next_cursor']}",
                          headers=worker.headers).get_json()
        ids = [i["id"] for i in page["items"] + rest["items"]]
        assert len(ids) == 5 == len(set(ids)) and ids == sorted(ids, reverse=True)
        assert all(i["status"] == "leased" for i in rest["items"])
        assert client.get("/api/v1/me/assignments?status=submitted",
                          headers=worker.headers).get_json()["items"] == []
        assert client.get("/api/v1/me/assignments?status=bogus", headers=worker.headers).status_code == 422


# ------------------------------------------------------------------------------ wellbeing


def test_sensitive_projects_need_an_opt_in_and_respect_the_daily_cap(app, client, auth):
    with clock():
        app.config["MICROTASKS_SENSITIVE_DAILY_LIMIT"] = 3
        project = make_project(app, tasks=classification_tasks(10), sensitive_content=True)
        worker = auth.register(locale="en")
        certify(app, worker.id)
        listed = _projects(client, worker)[project]
        assert listed["locked"] and "opt in" in listed["locked_reason"]
        assert lease(client, worker, 5)["assignments"] == []
        assert client.post("/api/v1/assignments", json={"project_id": project},
                           headers=worker.headers).status_code == 403

        prefs = client.get("/api/v1/me/work-preferences", headers=worker.headers).get_json()
        assert prefs == {"sensitive_content": False, "sensitive_daily_limit": 3, "sensitive_tasks_today": 0}
        response = client.put("/api/v1/me/work-preferences", json={"sensitive_content": True},
                              headers=worker.headers)
        assert response.status_code == 200 and response.get_json()["sensitive_content"] is True

        assert len(lease(client, worker, 2)["assignments"]) == 2
        assert len(lease(client, worker, 5)["assignments"]) == 1
        assert lease(client, worker, 5)["assignments"] == []
        listed = _projects(client, worker)[project]
        assert listed["locked"] and "limit" in listed["locked_reason"]
        assert client.get("/api/v1/me/work-preferences",
                          headers=worker.headers).get_json()["sensitive_tasks_today"] == 3
    with clock(24 * 3600 + 1):
        worker = auth.login(worker.email, worker.password)
        assert len(lease(client, worker, 5)["assignments"]) == 3, "the cap counts the last 24 hours"
        client.put("/api/v1/me/work-preferences", json={"sensitive_content": False}, headers=worker.headers)
        assert _projects(client, worker)[project]["locked"]


def test_open_work_by_skill(app, client, auth):
    with clock():
        first = make_project(app, tasks=classification_tasks(3), overlap=2)
        make_project(app, tasks=classification_tasks(2), status="paused")
        bbox = make_project(app, skill="bbox", task_type="bbox", difficulty=2, tasks=[
            {"payload": {"image_url": "https://img.example/a.png", "width": 5, "height": 5}}])
        with app.app_context():
            work = microtasks.open_work_by_skill()
        assert work == {
            "llm_eval": [{"project_id": first, "difficulty": 1, "open_slots": 6, "sensitive_content": False}],
            "bbox": [{"project_id": bbox, "difficulty": 2, "open_slots": 1, "sensitive_content": False}],
        }
