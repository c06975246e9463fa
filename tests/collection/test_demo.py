"""The demo collection projects: valid, idempotent, and usable by a phone."""

import sqlalchemy as sa

from backend.extensions import db
from backend.microtasks.collection import demo
from backend.microtasks.models import Project, Task
from backend.skills import services as skills
from tests.collection import samples


def test_demo_collection_projects_are_seeded_once_and_take_photos(app, phones):
    with app.app_context():
        skills.ensure_starter_skills()
        demo.seed()
        db.session.commit()
        demo.seed()
        db.session.commit()
        projects = {p.key: p for p in db.session.execute(
            sa.select(Project).where(Project.task_type == "collection")).scalars()}
        assert set(projects) == {"demo-street-sign-photos", "demo-read-aloud"}
        counts = {key: db.session.execute(sa.select(sa.func.count()).select_from(Task).where(
            Task.project_id == p.id)).scalar() for key, p in projects.items()}
        assert counts == {"demo-street-sign-photos": len(demo.SIGNS), "demo-read-aloud": len(demo.SENTENCES)}
        photo_project = projects["demo-street-sign-photos"].id

    worker = phones.worker("ocr")
    assignment_id = phones.lease(worker, photo_project)
    wanted = phones.client.get(f"/api/v1/assignments/{assignment_id}/collection", headers=worker.headers).get_json()
    assert wanted["media"] == "image" and wanted["min_width"] == 1024 and wanted["consent"]["version"] == "2026-11"
    sent = phones.send(worker, assignment_id, samples.jpeg(seed=90, size=(1280, 960)), chunks=3)
    assert sent.status == 204
    assert phones.submit(worker, assignment_id, [sent.upload_id])["status"] == "accepted"
