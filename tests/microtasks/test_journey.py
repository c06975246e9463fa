"""Tried as a new user would: a manager sets up a project and imports tasks; a certified worker
sees it, leases, submits and gets feedback on gold; an uncertified worker sees it locked. Also the
demo seed, and the OpenAPI document of the micro-task routes."""

from __future__ import annotations

import json

import sqlalchemy as sa

from backend.extensions import db
from backend.microtasks import demo
from backend.microtasks.models import Project, Task
from backend.skills import services as skills

from .conftest import certify, clock


def test_manager_to_worker_journey(app, client, auth):
    with clock():
        manager = auth.create("manager")
        created = client.post("/api/v1/manage/projects", headers=manager.headers, json={
            "title": {"ko": "영수증 합계 전사", "en": "Receipt totals"}, "skill": "ocr",
            "task_type": "transcription", "config": {}, "difficulty": 1, "reward": {"amount": 70},
            "overlap": 2, "lease_seconds": 300, "gold_ratio": 0.5,
            "instructions": {"ko": "합계 줄만 입력하세요.", "en": "Type the total line only."},
        })
        assert created.status_code == 201, created.get_json()
        project_id = created.get_json()["id"]
        lines = [json.dumps({"payload": {"image_url": f"https://img.example/r{i}.jpg"}, "external_id": f"r{i}"})
                 for i in range(6)]
        lines.append(json.dumps({"payload": {"image_url": "https://img.example/gold.jpg"},
                                 "gold_answer": {"text": "합계 ₩14,000", "max_cer": 0.05},
                                 "explanation": {"ko": "₩ 기호와 쉼표까지 그대로.", "en": "Keep the ₩ and the comma."}}))
        lines.append('{"payload": {"audio_url": "not a url"}}')
        imported = client.post(f"/api/v1/manage/projects/{project_id}/tasks", data="\n".join(lines),
                               headers={**manager.headers, "Content-Type": "application/x-ndjson"}).get_json()
        assert imported["created"] == 7 and [r["line"] for r in imported["rejected"]] == [8]

        newcomer = auth.register(locale="en")
        listed = client.get("/api/v1/projects", headers=newcomer.headers).get_json()["items"]
        mine = next(item for item in listed if item["id"] == project_id)
        assert mine["locked"] and mine["locked_reason"] == "Reach level 1 in Korean OCR transcription."
        assert client.post("/api/v1/assignments", json={"count": 5},
                           headers=newcomer.headers).get_json()["assignments"] == []

        worker = auth.register(locale="en")
        certify(app, worker.id, "ocr", 1)
        mine = next(item for item in client.get("/api/v1/projects", headers=worker.headers).get_json()["items"]
                    if item["id"] == project_id)
        assert not mine["locked"] and mine["open_tasks"] == 6 and mine["title"] == "Receipt totals"

        feedback = None
        for _ in range(10):
            leased = client.post("/api/v1/assignments", json={"count": 3}, headers={
                **worker.headers, "Idempotency-Key": f"lease-{_}"}).get_json()["assignments"]
            if not leased:
                break
            for item in leased:
                assert item["instructions"] == "Type the total line only."
                answer = {"text": "합계 ₩14,000"}
                response = client.post(f"/api/v1/assignments/{item['id']}/submission",
                                       json={"answer": answer, "duration_ms": 5000},
                                       headers={**worker.headers, "Idempotency-Key": f"sub-{item['id']}"})
                assert response.status_code == 201
                body = response.get_json()
                assert body["earned"] == {"amount": 70, "currency": "KRW"}
                feedback = body.get("feedback") or feedback
        assert feedback == {"correct": True, "explanation": "Keep the ₩ and the comma."}
        progress = client.get(f"/api/v1/manage/projects/{project_id}/progress", headers=manager.headers).get_json()
        assert progress["answers"] == 7 and progress["gold_accuracy"] == 1.0 and progress["open_slots"] == 6


def test_demo_seed_is_valid_and_idempotent(app):
    with app.app_context():
        skills.ensure_starter_skills()
        demo.seed()
        db.session.commit()
        demo.seed()
        db.session.commit()
        projects = db.session.execute(sa.select(Project)).scalars().all()
        assert sorted(p.skill_code for p in projects) == ["audio_transcription", "bbox", "llm_eval", "llm_eval", "ocr"]
        assert {p.difficulty for p in projects} == {1, 2, 3}
        for project in projects:
            counts = db.session.execute(sa.select(Task.is_gold, sa.func.count()).where(
                Task.project_id == project.id).group_by(Task.is_gold)).all()
            assert dict(counts)[True] >= 2 and sum(dict(counts).values()) >= 9
            assert project.title["ko"] and project.title["en"] and project.instructions["ko"]


def test_openapi_documents_the_micro_task_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert "Idempotency-Key" in json.dumps(paths["/api/v1/assignments"]["post"])
    assert "Idempotency-Key" in json.dumps(paths["/api/v1/assignments/{assignment_id}/submission"]["post"])
    upload = paths["/api/v1/manage/projects/{project_id}/tasks"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson", "multipart/form-data"} <= set(upload)
    assert "gold" not in json.dumps(spec["components"]["schemas"]["Assignment"])


def test_personal_data_export_and_deletion(app, client, auth):
    from .conftest import classification_tasks, lease, make_project, submit

    with clock():
        make_project(app, tasks=classification_tasks(2, gold=1), gold_ratio=0.0)
        worker = auth.register()
        certify(app, worker.id)
        client.put("/api/v1/me/work-preferences", json={"sensitive_content": True}, headers=worker.headers)
        held = lease(client, worker, 2)["assignments"]
        submit(client, worker, held[0]["id"], {"label": "pos"}, duration_ms=1500)
        exported = client.get("/api/v1/me/export", headers=worker.headers).get_json()["work"]
        assert exported["preferences"]["sensitive_content"] is True
        assert sorted(a["id"] for a in exported["assignments"]) == sorted(a["id"] for a in held)
        assert [(s["assignment_id"], s["answer"], s["duration_ms"]) for s in exported["submissions"]] == [
            (held[0]["id"], {"label": "pos"}, 1500)]
        assert "gold_answer" not in json.dumps(exported)
        deleted = client.delete("/api/v1/me", json={"password": worker.password}, headers=worker.headers)
        assert deleted.status_code == 204
        with app.app_context():
            from backend.microtasks.models import Submission, WorkPreference

            assert db.session.get(WorkPreference, worker.id) is None
            assert db.session.execute(sa.select(sa.func.count()).select_from(Submission)).scalar() == 1
