"""Racing requests with real commits from several threads: submissions grade once and answer the same
result; starting attempts opens one."""

import datetime as dt

import sqlalchemy as sa
import time_machine

from backend.accounts import services as accounts
from backend.extensions import db
from backend.skills.models import LevelChange
from quizzes import services
from quizzes.models import Attempt, Certificate
from tests.quizzes.conftest import API, MANAGE, answers_for, exam_payload
from tests.support.concurrency import race


def _accounts(app):
    client = app.test_client()
    with app.app_context():
        accounts.create_user("race-manager@example.com", "correct horse 1", "Manager", role="manager")
        db.session.commit()
    manager = client.post(f"{API}/auth/login", json={"email": "race-manager@example.com",
                                                     "password": "correct horse 1"}).get_json()
    worker = client.post(f"{API}/auth/register", json={"email": "racer@example.com", "password": "correct horse 1",
                                                       "display_name": "racer"}).get_json()
    manager_headers = {"Authorization": f"Bearer {manager['access_token']}"}
    worker_headers = {"Authorization": f"Bearer {worker['access_token']}"}
    exam = client.post(f"{MANAGE}/exams", json=exam_payload(), headers=manager_headers).get_json()
    return client, exam, worker_headers, worker["user"]["id"]




def test_racing_submissions_grade_once_with_the_same_result(committing_app):
    client, exam, headers, user_id = _accounts(committing_app)
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=headers).get_json()
    answers = answers_for(attempt, exam, True)

    def submit():
        response = committing_app.test_client().post(f"{API}/attempts/{attempt['id']}/submission",
                                                     json={"answers": answers}, headers=headers)
        return response.status_code, response.get_json()

    results = race(*[submit] * 4)
    assert [status for status, _ in results] == [200] * 4
    bodies = [body for _, body in results]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["passed"] is True
    with committing_app.app_context():
        certificates = db.session.execute(sa.select(Certificate)).scalars().all()
        assert [c.code for c in certificates] == [bodies[0]["certificate"]["code"]]
        changes = db.session.execute(sa.select(LevelChange).where(LevelChange.user_id == user_id)).scalars().all()
        assert [(c.old_level, c.new_level) for c in changes] == [(0, 1)]


def test_racing_starts_open_one_attempt(committing_app):
    client, exam, headers, _ = _accounts(committing_app)

    def start():
        response = committing_app.test_client().post(f"{API}/exams/{exam['id']}/attempts", headers=headers)
        return response.status_code, response.get_json()

    results = race(*[start] * 4)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409, 409, 409]
    opened = next(body["id"] for status, body in results if status == 201)
    assert all(body["attempt_id"] == opened for status, body in results if status == 409)
    with committing_app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Attempt)).scalar() == 1


def test_submission_racing_the_timeout_job(committing_app):
    """The job and a late submission both try to close the attempt: it is graded exactly once."""
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        client, exam, headers, _ = _accounts(committing_app)
        attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=headers).get_json()
        answers = answers_for(attempt, exam, True)
        for qid, answer in answers.items():
            client.put(f"{API}/attempts/{attempt['id']}/answers/{qid}", json={"answer": answer}, headers=headers)
        clock.shift(exam["time_limit_s"] + 1)

        def job():
            with committing_app.app_context():
                closed = services.close_expired_attempts()
                db.session.commit()
                return closed

        def submit():
            return committing_app.test_client().post(f"{API}/attempts/{attempt['id']}/submission",
                                                     headers=headers).status_code

        closed, status = race(job, submit)
        assert status == 409  # past the deadline either way
        assert closed in (0, 1)
        with committing_app.app_context():
            assert db.session.execute(sa.select(sa.func.count()).select_from(Certificate)).scalar() == 1
            row = db.session.get(Attempt, attempt["id"])
            assert (row.status, row.closed_reason, row.passed) == ("graded", "deadline", True)
