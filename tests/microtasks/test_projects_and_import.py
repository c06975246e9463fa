"""Manager console: projects (create, patch, read, list, progress) and task import (JSON list,
JSONL, file upload, CLI) with mixed good and bad lines."""

from __future__ import annotations

import io
import json

import sqlalchemy as sa

from backend.extensions import db
from backend.microtasks.models import Task

from .conftest import certify, classification_tasks, clock, lease, submit

PROBLEM = "application/problem+json"
PROJECT = {
    "title": {"ko": "차량 박스", "en": "Vehicle boxes"}, "skill": "bbox", "task_type": "bbox",
    "config": {"labels": ["car", "person"]}, "difficulty": 2, "reward": {"amount": 80}, "overlap": 3,
    "lease_seconds": 300, "gold_ratio": 0.1, "priority": 2,
    "instructions": {"ko": "차량마다 박스를 그리세요.", "en": "Box every vehicle."},
}


def _create(client, manager, **changes):
    response = client.post("/api/v1/manage/projects", json={**PROJECT, **changes}, headers=manager.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_manager_creates_reads_and_patches_a_project(app, client, auth):
    manager = auth.create("manager")
    project = _create(client, manager)
    assert project["reward"] == {"amount": 80, "currency": "KRW"} and project["status"] == "active"
    assert project["title"] == PROJECT["title"] and project["sensitive_content"] is False
    got = client.get(f"/api/v1/manage/projects/{project['id']}", headers=manager.headers).get_json()
    assert got == project
    response = client.patch(f"/api/v1/manage/projects/{project['id']}",
                            json={"status": "paused", "priority": 9, "config": {"labels": ["car"]}},
                            headers=manager.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "paused" and response.get_json()["config"] == {"labels": ["car"]}
    listed = client.get("/api/v1/manage/projects", headers=manager.headers).get_json()
    assert [item["id"] for item in listed["items"]] == [project["id"]]
    csv = client.get("/api/v1/manage/projects?format=csv", headers=manager.headers)
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("\ufeffid,key")


def test_project_validation_names_the_field(app, client, auth):
    manager = auth.create("manager")
    cases = {
        "config.labels": {"config": {}},
        "config.scale": {"task_type": "rating", "config": {"dimensions": ["a"], "scale": [5, 1]}},
        "skill": {"skill": "juggling"},
        "task_type": {"task_type": "essay"},
        "difficulty": {"difficulty": 6},
        "reward.currency": {"reward": {"amount": 5, "currency": "USD"}},
        "reward.amount": {"reward": {"amount": -1}},
        "gold_ratio": {"gold_ratio": 0.9},
        "overlap": {"overlap": 0},
        "lease_seconds": {"lease_seconds": 5},
    }
    for field, change in cases.items():
        response = client.post("/api/v1/manage/projects", json={**PROJECT, **change}, headers=manager.headers)
        assert response.status_code == 422 and response.mimetype == PROBLEM, (field, response.get_json())
        assert field in response.get_json()["errors"], (field, response.get_json())


def test_only_staff_manage_projects(app, client, auth):
    worker = auth.register()
    assert client.post("/api/v1/manage/projects", json=PROJECT, headers=worker.headers).status_code == 403
    assert client.post("/api/v1/manage/projects", json=PROJECT).status_code == 401
    manager = auth.create("manager")
    project = _create(client, manager)
    assert client.get(f"/api/v1/manage/projects/{project['id']}/progress",
                      headers=worker.headers).status_code == 403
    assert client.get("/api/v1/manage/projects/999", headers=manager.headers).status_code == 404


def _box_line(i, **extra):
    return {"payload": {"image_url": f"https://img.example/{i}.png", "width": 200, "height": 100},
            "external_id": f"img-{i}", **extra}


GOLD_BOXES = {"boxes": [{"x": 10, "y": 10, "w": 40, "h": 30, "label": "car"}], "iou": 0.6}


def test_import_jsonl_with_mixed_good_and_bad_lines(app, client, auth):
    manager = auth.create("manager")
    project = _create(client, manager)
    lines = [
        json.dumps(_box_line(1)),
        "{not json",
        json.dumps(_box_line(2, gold_answer=GOLD_BOXES, explanation={"ko": "차 한 대", "en": "One car"})),
        "",
        json.dumps({"payload": {"image_url": "ftp://x/y.png", "width": 0, "height": 10}}),
        json.dumps(_box_line(3, gold_answer={"boxes": [{"x": 190, "y": 10, "w": 40, "h": 30, "label": "bus"}]})),
        json.dumps(_box_line(4, colour="red")),
        json.dumps(_box_line(1)),
        json.dumps(_box_line(5, difficulty=4)),
        json.dumps([1, 2]),
        json.dumps(_box_line(6, explanation="no gold")),
    ]
    response = client.post(f"/api/v1/manage/projects/{project['id']}/tasks", data="\n".join(lines),
                           content_type="application/x-ndjson", headers=manager.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["created"] == 3 and body["rejected_count"] == 7
    rejected = {item["line"]: item["errors"] for item in body["rejected"]}
    assert set(rejected) == {2, 5, 6, 7, 8, 10, 11}
    assert "_line" in rejected[2]
    assert {"payload.image_url", "payload.width"} <= set(rejected[5])
    assert {"gold_answer.boxes.0.label", "gold_answer.boxes.0.w"} <= set(rejected[6])
    assert rejected[7] == {"colour": ["Unknown field."]}
    assert rejected[8] == {"external_id": ["Repeats an earlier line."]}
    assert "_line" in rejected[10] and "explanation" in rejected[11]
    with app.app_context():
        rows = db.session.execute(sa.select(Task.external_id, Task.is_gold, Task.open_slots, Task.difficulty,
                                            Task.gold_answer).order_by(Task.external_id)).all()
    assert [(r.external_id, r.is_gold, r.open_slots, r.difficulty) for r in rows] == [
        ("img-1", False, 3, 2), ("img-2", True, 0, 2), ("img-5", False, 3, 4)]
    assert rows[1].gold_answer == GOLD_BOXES

    again = client.post(f"/api/v1/manage/projects/{project['id']}/tasks", json=[_box_line(1), _box_line(7)],
                        headers=manager.headers).get_json()
    assert again["created"] == 1
    assert again["rejected"] == [{"line": 1, "errors": {"external_id": ["Already imported into this project."]}}]


def test_import_as_multipart_file_and_bad_bodies(app, client, auth):
    manager = auth.create("manager")
    project = _create(client, manager)
    url = f"/api/v1/manage/projects/{project['id']}/tasks"
    upload = io.BytesIO("\n".join(json.dumps(_box_line(i)) for i in range(5)).encode())
    response = client.post(url, data={"file": (upload, "tasks.jsonl")}, headers=manager.headers,
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["created"] == 5
    as_list = io.BytesIO(json.dumps([_box_line(10), _box_line(11)]).encode())
    response = client.post(url, data={"file": (as_list, "tasks.json")}, headers=manager.headers,
                           content_type="multipart/form-data")
    assert response.get_json()["created"] == 2
    assert client.post(url, json={"payload": {}}, headers=manager.headers).status_code == 422
    assert client.post(url, json=[], headers=manager.headers).status_code == 422
    assert client.post(url, data="x", content_type="text/csv", headers=manager.headers).status_code == 422
    assert client.post("/api/v1/manage/projects/999/tasks", json=[_box_line(1)],
                       headers=manager.headers).status_code == 404


def test_import_takes_bodies_above_the_global_limit_but_not_beyond_its_own(app, client, auth):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    manager = auth.create("manager")
    project = _create(client, manager)
    body = "\n".join(json.dumps(_box_line(i)) for i in range(100))
    assert len(body) > 1024
    response = client.post(f"/api/v1/manage/projects/{project['id']}/tasks", data=body,
                           content_type="application/x-ndjson", headers=manager.headers)
    assert response.status_code == 200 and response.get_json()["created"] == 100
    patch = client.patch(f"/api/v1/manage/projects/{project['id']}", data=json.dumps({"title": "x" * 2000}),
                         content_type="application/json", headers=manager.headers)
    assert patch.status_code == 413, "other routes keep the global limit"


def test_cli_import(app, auth, tmp_path):
    manager = auth.create("manager")
    client = app.test_client()
    project = _create(client, manager)
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join([json.dumps(_box_line(1)), "oops", json.dumps(_box_line(2))]) + "\n")
    result = app.test_cli_runner().invoke(args=["tasks", "import", str(project["id"]), str(path)])
    assert result.exit_code == 1
    assert "created 2 tasks" in result.output and "line 2" in result.output
    ok = tmp_path / "more.json"
    ok.write_text(json.dumps([_box_line(3)]))
    result = app.test_cli_runner().invoke(args=["tasks", "import", str(project["id"]), str(ok)])
    assert result.exit_code == 0 and "created 1 tasks" in result.output
    missing = app.test_cli_runner().invoke(args=["tasks", "import", "999", str(ok)])
    assert missing.exit_code != 0 and "No project 999" in missing.output
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Task)).scalar() == 3


def test_patch_overlap_moves_open_slots_and_type_is_fixed_once_tasks_exist(app, client, auth):
    with clock():
        manager = auth.create("manager")
        project = _create(client, manager, skill="llm_eval", task_type="classification",
                          config={"labels": ["pos", "neg"]}, difficulty=1, overlap=2, gold_ratio=0)
        url = f"/api/v1/manage/projects/{project['id']}"
        client.post(f"{url}/tasks", json=classification_tasks(2, gold=1), headers=manager.headers)
        worker = auth.register()
        certify(app, worker.id)
        lease(client, worker, 2, project_id=project["id"])
        assert client.patch(url, json={"task_type": "multi_label"}, headers=manager.headers).status_code == 409
        refused = client.patch(url, json={"config": {"labels": ["neg"]}}, headers=manager.headers)
        assert refused.status_code == 422 and "config" in refused.get_json()["errors"]
        assert client.patch(url, json={"overlap": 1}, headers=manager.headers).status_code == 200
        with app.app_context():
            slots = db.session.execute(sa.select(Task.open_slots).where(Task.is_gold.is_(False))).scalars().all()
        assert slots == [0, 0]
        other = auth.register()
        certify(app, other.id)
        assert lease(client, other, 5)["assignments"] == []
        assert client.patch(url, json={"overlap": 3}, headers=manager.headers).status_code == 200
        assert len(lease(client, other, 5)["assignments"]) == 2


def test_progress(app, client, auth):
    with clock():
        manager = auth.create("manager")
        project = _create(client, manager, skill="llm_eval", task_type="classification",
                          config={"labels": ["pos", "neg"]}, difficulty=1, overlap=1, gold_ratio=0.5)
        url = f"/api/v1/manage/projects/{project['id']}"
        client.post(f"{url}/tasks", json=classification_tasks(3, gold=2), headers=manager.headers)
        worker = auth.register()
        certify(app, worker.id)
        held = []
        while True:
            got = lease(client, worker, 1)["assignments"]
            if not got:
                break
            held += got
        for item in held:
            submit(client, worker, item["id"], {"label": "neg"})
        progress = client.get(f"{url}/progress", headers=manager.headers).get_json()
    gold_answers = len(held) - 3
    expected = {
        "project_id": project["id"], "status": "active", "overlap": 1, "tasks_total": 3, "gold_tasks": 2,
        "tasks_done": 3, "open_slots": 0, "open_leases": 0, "answers": len(held),
        "gold_answers": gold_answers, "gold_correct": 0, "gold_accuracy": 0.0 if gold_answers else None,
        "remaining_answers": 0, "eligible_workers": 1, "eta": None,
    }
    assert {name: progress[name] for name in expected} == expected
