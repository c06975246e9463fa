"""Helpers of the review, floors and levels tests: projects, certified workers, work through HTTP."""

from __future__ import annotations

import datetime as dt

import time_machine

from backend import events
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.schemas import ProjectCreateSchema
from backend.scheduler import run_job
from backend.skills import services as skills
from tests.support.signals import captured

START = dt.datetime(2031, 5, 4, 9, 0, tzinfo=dt.UTC)


def clock(seconds: float = 0):
    """Stand at START + seconds (tokens live 15 minutes: log in again after a long jump)."""
    return time_machine.travel(START + dt.timedelta(seconds=seconds), tick=False)


def make_project(app, *, normal: int = 10, gold: int = 0, skill: str = "llm_eval", difficulty: int = 1,
                 labels=("pos", "neg"), gold_ratio: float = 0.0, task_type: str = "classification",
                 config: dict | None = None, payload=None, reward: int = 100, overlap: int = 1) -> int:
    body = {"title": {"ko": "감정 분류", "en": "Sentiment"}, "skill": skill, "task_type": task_type,
            "config": config if config is not None else {"labels": list(labels)}, "difficulty": difficulty,
            "reward": {"amount": reward}, "overlap": overlap, "lease_seconds": 600, "gold_ratio": gold_ratio}
    items = [{"payload": payload(i) if payload else {"text": f"문장 {i}"}, "external_id": f"n{i}"}
             for i in range(normal)]
    items += [{"payload": {"text": f"골드 {i}"}, "gold_answer": {"label": labels[0]}, "external_id": f"g{i}"}
              for i in range(gold)]
    with app.app_context():
        skills.ensure_starter_skills()
        project = microtasks.create_project(ProjectCreateSchema().load(body))
        if items:
            result = microtasks.import_tasks(project.id, microtasks.records_from_list(items))
            assert result["rejected_count"] == 0, result["rejected"][:3]
        db.session.commit()
        return project.id


def certify(app, user_id: int, skill: str = "llm_eval", level: int = 1) -> None:
    with app.app_context():
        skills.ensure_starter_skills()
        skills.set_level(user_id, skill, level, "test certification", source="certificate")
        db.session.commit()


def work(client, account, project_id: int, answer: dict, *, duration_ms: int | None = 20_000) -> dict:
    """Lease one task of the project and submit `answer`: the submission answer (with its id)."""
    leased = client.post("/api/v1/assignments", json={"project_id": project_id, "count": 1},
                         headers=account.headers)
    assert leased.status_code == 200, leased.get_json()
    (assignment,) = leased.get_json()["assignments"]
    body = {"answer": answer}
    if duration_ms is not None:
        body["duration_ms"] = duration_ms
    submitted = client.post(f"/api/v1/assignments/{assignment['id']}/submission", json=body,
                            headers=account.headers)
    assert submitted.status_code == 201, submitted.get_json()
    return {**submitted.get_json(), "task": assignment["task"]}


def run(app, job_id: str) -> None:
    job = next(j for j in app.extensions["labelpath_jobs"] if j.id == job_id)
    run_job(app, job)




def reviewed_events():
    return captured(events.submission_reviewed)


def configure(app, **settings) -> None:
    app.config.update(settings)
