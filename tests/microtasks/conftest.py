"""Helpers for the micro-task tests: projects made through the service, certified workers, leases."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from backend import events
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.skills import services as skills
from tests.support.signals import captured

START = dt.datetime(2031, 3, 2, 9, 0, tzinfo=dt.UTC)


def clock(seconds: float = 0):
    """Stand at START + seconds (access tokens live 15 minutes: tests stay inside that)."""
    return time_machine.travel(START + dt.timedelta(seconds=seconds), tick=False)


def classification_tasks(n: int, start: int = 0, gold: int = 0) -> list[dict]:
    items = [{"payload": {"text": f"문장 {start + i}"}, "external_id": f"t{start + i}"} for i in range(n)]
    items += [{"payload": {"text": f"골드 {i}"}, "gold_answer": {"label": "pos"},
               "explanation": {"ko": "긍정 문장입니다.", "en": "It is positive."}, "external_id": f"g{start + i}"}
              for i in range(gold)]
    return items


def make_project(app, *, skill="llm_eval", task_type="classification", config=None, difficulty=1,
                 tasks=(), **fields) -> int:
    body = {
        "title": {"ko": "감정 분류", "en": "Sentiment"}, "skill": skill, "task_type": task_type,
        "config": config if config is not None else {"labels": ["pos", "neg"]}, "difficulty": difficulty,
        "reward": {"amount": 50}, "overlap": 1, "lease_seconds": 600, "gold_ratio": 0.0, **fields,
    }
    with app.app_context():
        skills.ensure_starter_skills()
        project = microtasks.create_project(microtasks_schemas_load(body))
        if tasks:
            result = microtasks.import_tasks(project.id, microtasks.records_from_list(list(tasks)))
            assert result["rejected_count"] == 0, result["rejected"][:3]
        db.session.commit()
        return project.id


def microtasks_schemas_load(body: dict) -> dict:
    from backend.microtasks.schemas import ProjectCreateSchema

    return ProjectCreateSchema().load(body)


def certify(app, user_id: int, skill: str = "llm_eval", level: int = 1) -> None:
    with app.app_context():
        skills.ensure_starter_skills()
        skills.set_level(user_id, skill, level, "test certification", source="override")
        db.session.commit()


def lease(client, account, count=1, project_id=None, key=None, status=200):
    body = {"count": count}
    if project_id is not None:
        body["project_id"] = project_id
    headers = dict(account.headers)
    if key:
        headers["Idempotency-Key"] = key
    response = client.post("/api/v1/assignments", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def submit(client, account, assignment_id, answer, status=201, key=None, **extra):
    headers = dict(account.headers)
    if key:
        headers["Idempotency-Key"] = key
    response = client.post(f"/api/v1/assignments/{assignment_id}/submission",
                           json={"answer": answer, **extra}, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()




@pytest.fixture
def accepted_events():
    with captured(events.submission_accepted) as seen:
        yield seen
