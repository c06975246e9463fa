"""Races with real commits from several threads and connections (SQLite and PostgreSQL): one
decision per submission however many reviewers click at once, one decision per appeal, and the
auto-approval job run by two schedulers at once approves each sample once."""

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.payouts.models import LedgerEntry
from backend.quality import review
from backend.quality.models import Appeal, Review
from backend.skills import services as skills
from tests.conftest import AuthActions
from tests.support.concurrency import run_together

from .review_support import make_project


@pytest.fixture
def world(committing_app):
    app = committing_app
    app.config.update(REVIEW_SAMPLE_RATE=1.0, REVIEW_WINDOW_S=3600)
    auth = AuthActions(app, app.test_client())
    project_id = make_project(app, normal=6)
    worker = auth.register()
    with app.app_context():
        skills.set_level(worker.id, "llm_eval", 1, "certified", source="certificate")
        db.session.commit()
    client = app.test_client()
    ids = []
    for _ in range(4):
        (assignment,) = client.post("/api/v1/assignments", json={"project_id": project_id},
                                    headers=worker.headers).get_json()["assignments"]
        ids.append(client.post(f"/api/v1/assignments/{assignment['id']}/submission",
                               json={"answer": {"label": "pos"}}, headers=worker.headers).get_json()["id"])
    reviewers = [auth.create("reviewer") for _ in range(4)]
    return app, auth, worker, ids, reviewers


def test_reviewers_racing_on_one_submission_make_one_decision(world):
    app, _, _, ids, reviewers = world

    def decide(index):
        body = {"decision": "reject", "reason_code": "careless"} if index % 2 else {"decision": "approve"}
        return app.test_client().post(f"/api/v1/manage/submissions/{ids[0]}/review", json=body,
                                      headers=reviewers[index].headers).status_code

    statuses = run_together(4, decide)
    assert sorted(statuses) == [201, 409, 409, 409], statuses
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Review)).scalar() == 1


def test_reviewers_racing_on_one_appeal_decide_it_once(world):
    app, auth, worker, ids, reviewers = world
    client = app.test_client()
    assert client.post(f"/api/v1/manage/submissions/{ids[0]}/review",
                       json={"decision": "reject", "reason_code": "careless"},
                       headers=reviewers[0].headers).status_code == 201
    appeal_id = client.post(f"/api/v1/submissions/{ids[0]}/appeal", json={"message": "please look again"},
                            headers=worker.headers).get_json()["id"]

    def decide(index):
        decision = "overturn" if index % 2 else "uphold"
        return app.test_client().post(f"/api/v1/manage/appeals/{appeal_id}/decision", json={"decision": decision},
                                      headers=reviewers[index + 1].headers).status_code

    statuses = run_together(3, decide)
    assert sorted(statuses) == [200, 409, 409], statuses
    with app.app_context():
        appeal = db.session.get(Appeal, appeal_id)
        outcome = db.session.execute(sa.select(Review.outcome).where(Review.submission_id == ids[0])).scalar()
        assert (appeal.status, outcome) in (("upheld", "rejected"), ("overturned", "approved"))
        moves = db.session.execute(sa.select(LedgerEntry.kind).where(
            LedgerEntry.kind.in_(["reward_approved", "reward_reversed"]))).scalars().all()
        assert len(moves) == 1


def test_two_schedulers_approve_each_sample_once(world):
    app, _, _, ids, _ = world
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)):
        def job(_index):
            with app.app_context():
                done = review.auto_approve_due()
                db.session.commit()
                return done

        results = run_together(2, job)
    assert sum(results) == len(ids), results
    with app.app_context():
        rows = db.session.execute(sa.select(Review.submission_id, Review.auto)).all()
        assert sorted(rows) == [(sid, True) for sid in sorted(ids)]
