"""Deadlines with a controllable clock: answers saved before the deadline count, later ones are 409;
time-outs are closed by the scheduled job, or lazily by whichever request reads the attempt."""

import datetime as dt

import sqlalchemy as sa
import time_machine

from backend.extensions import db
from backend.scheduler import run_job
from quizzes import services
from quizzes.models import Attempt, Certificate
from tests.quizzes.conftest import API, answers_for, create_exam

START = dt.datetime(2031, 3, 2, 9, 0, tzinfo=dt.UTC)


def _job(app, job_id):
    return next(job for job in app.extensions["labelpath_jobs"] if job.id == job_id)


def _timed_exam(client, manager):
    return create_exam(client, manager, time_limit_s=120, pass_percent=50)


def test_answers_after_the_deadline_are_409_and_saved_ones_count(client, auth):
    with time_machine.travel(START, tick=False) as clock:
        manager = auth.create("manager")
        exam = _timed_exam(client, manager)
        worker = auth.register()
        attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
        answers = answers_for(attempt, exam, True)
        ids = list(answers)
        clock.shift(60)
        for qid in ids[:6]:  # six right answers saved in time
            assert client.put(f"{API}/attempts/{attempt['id']}/answers/{qid}", json={"answer": answers[qid]},
                              headers=worker.headers).status_code == 200
        clock.shift(59.999)
        assert client.put(f"{API}/attempts/{attempt['id']}/answers/{ids[6]}", json={"answer": answers[ids[6]]},
                          headers=worker.headers).status_code == 200  # just in time
        clock.shift(0.001)  # the deadline itself
        late = client.put(f"{API}/attempts/{attempt['id']}/answers/{ids[7]}", json={"answer": answers[ids[7]]},
                          headers=worker.headers)
        assert late.status_code == 409
        assert late.get_json()["type"] == "urn:labelpath:problem:deadline-passed"
        assert late.get_json()["attempt_id"] == attempt["id"]
        submitted = client.post(f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers},
                                headers=worker.headers)
        assert submitted.status_code == 409
        again = client.put(f"{API}/attempts/{attempt['id']}/answers/{ids[8]}", json={"answer": answers[ids[8]]},
                           headers=worker.headers)
        assert again.status_code == 409

        graded = client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()
        assert graded["status"] == "graded" and graded["closed_reason"] == "deadline"
        assert graded["closed_at"] == graded["deadline"]
        result = graded["result"]
        right = {q["id"] for q in result["questions"] if q["correct"]}
        assert right == {int(qid) for qid in ids[:7]}  # the 8th and 9th came too late
        assert result["closed_reason"] == "deadline"


def test_lazy_grading_on_read(app, client, auth):
    with time_machine.travel(START, tick=False) as clock:
        manager = auth.create("manager")
        exam = _timed_exam(client, manager)
        worker = auth.register()
        attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
        answers = answers_for(attempt, exam, True)
        for qid, answer in answers.items():
            client.put(f"{API}/attempts/{attempt['id']}/answers/{qid}", json={"answer": answer},
                       headers=worker.headers)
        clock.shift(121)
        # No job ran: the list already counts the attempt as closed, graded and passed.
        item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                    if i["id"] == exam["id"])
        assert item["open_attempt_id"] is None and item["unavailable_reason"] == "already_certified"
        view = client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()
        assert view["result"]["passed"] is True and view["result"]["certificate"]["level"] == 1
        with app.app_context():
            assert db.session.execute(sa.select(sa.func.count()).select_from(Certificate)).scalar() == 1
            assert services.close_expired_attempts() == 0  # nothing left for the job


def test_job_closes_timed_out_attempts_once(app, client, auth):
    with time_machine.travel(START, tick=False) as clock:
        manager = auth.create("manager")
        exam = _timed_exam(client, manager)
        workers = [auth.register() for _ in range(3)]
        attempts = [client.post(f"{API}/exams/{exam['id']}/attempts", headers=w.headers).get_json()
                    for w in workers]
        answers = answers_for(attempts[0], exam, True)
        for qid, answer in answers.items():
            client.put(f"{API}/attempts/{attempts[0]['id']}/answers/{qid}", json={"answer": answer},
                       headers=workers[0].headers)
        clock.shift(119)
        with app.app_context():
            assert services.close_expired_attempts() == 0  # not yet
        clock.shift(2)
        run_job(app, _job(app, "quizzes.close_expired_attempts"))
        run_job(app, _job(app, "quizzes.close_expired_attempts"))  # a second run changes nothing
        with app.app_context():
            rows = db.session.execute(sa.select(Attempt).order_by(Attempt.id)).scalars().all()
            assert [a.status for a in rows] == ["graded"] * 3
            assert [a.closed_reason for a in rows] == ["deadline"] * 3
            assert [a.passed for a in rows] == [True, False, False]
            assert db.session.execute(sa.select(sa.func.count()).select_from(Certificate)).scalar() == 1
        # The failed ones can retake after the cooldown, counted from the deadline.
        item = next(i for i in client.get(f"{API}/exams", headers=workers[1].headers).get_json()["items"]
                    if i["id"] == exam["id"])
        retake = dt.datetime.fromisoformat(item["retake_at"].replace("Z", "+00:00"))
        assert retake == START + dt.timedelta(seconds=120 + 3600)


def test_an_expired_open_attempt_does_not_block_a_new_one(client, auth):
    with time_machine.travel(START, tick=False) as clock:
        manager = auth.create("manager")
        exam = create_exam(client, manager, time_limit_s=120, retake_cooldown_s=0)
        worker = auth.register()
        first = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
        clock.shift(300)
        second = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers)
        assert second.status_code == 201, second.get_json()
        assert second.get_json()["id"] != first["id"]
        old = client.get(f"{API}/attempts/{first['id']}", headers=worker.headers).get_json()
        assert old["status"] == "graded" and old["result"]["passed"] is False
