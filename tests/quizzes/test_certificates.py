"""Certificates: unguessable codes, public verification, expiry by the job, revocation by a manager,
levels that follow (through the skills service), and the service calls other domains make."""

import datetime as dt
import re

import sqlalchemy as sa
import time_machine

from backend.audit.models import AuditEntry
from backend.extensions import db
from backend.scheduler import run_job
from backend.skills import services as skills
from quizzes import services
from tests.quizzes.conftest import API, MANAGE, answers_for, create_exam

START = dt.datetime(2031, 5, 1, 8, 0, tzinfo=dt.UTC)
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}-"
                  r"[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}$")


def _pass(client, worker, exam):
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers)
    assert attempt.status_code == 201, attempt.get_json()
    attempt = attempt.get_json()
    body = client.post(f"{API}/attempts/{attempt['id']}/submission",
                       json={"answers": answers_for(attempt, exam, True)}, headers=worker.headers).get_json()
    assert body["passed"] is True
    return body["certificate"]


def _level(app, user_id, skill="bbox"):
    with app.app_context():
        return skills.level_of(user_id, skill)


def _history(app, user_id):
    with app.app_context():
        return [(c.old_level, c.new_level, c.source) for c in skills.level_history(user_id, "bbox")]


def _job(app, job_id):
    run_job(app, next(job for job in app.extensions["labelpath_jobs"] if job.id == job_id))


def test_codes_are_readable_unguessable_and_verifiable_without_login(client, auth, exam):
    codes = set()
    for _ in range(3):
        worker = auth.register(display_name="박인증")
        codes.add(_pass(client, worker, exam)["code"])
    assert len(codes) == 3 and all(CODE.match(code) for code in codes)
    code = sorted(codes)[0]
    for typed in (code, code.lower(), code.replace("-", ""), " " + code.replace("-", " ") + " "):
        response = client.get(f"{API}/certificates/{typed}")
        assert response.status_code == 200, typed
        body = response.get_json()
        assert body["code"] == code and body["holder"] == "박인증" and body["status"] == "valid"
        assert body["skill"] == "bbox" and body["level"] == 1
        assert {"issued_at", "expires_at"} <= set(body) and body["expires_at"].endswith("Z")
    for unknown in ("AAAA-AAAA-AAAA", "0000-1111-IIII", "short", code[:-1] + ("2" if code[-1] != "2" else "3")):
        missing = client.get(f"{API}/certificates/{unknown}")
        assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_expiry_drops_the_level_with_history_and_recertifying_restores_it(app, client, auth):
    with time_machine.travel(START, tick=False) as clock:
        manager = auth.create("manager")
        exam = create_exam(client, manager, validity_days=30, retake_cooldown_s=0)
        worker = auth.register()
        certificate = _pass(client, worker, exam)
        assert _level(app, worker.id) == 1
        expires = dt.datetime.fromisoformat(certificate["expires_at"].replace("Z", "+00:00"))
        assert expires == START + dt.timedelta(days=30)

        clock.move_to(expires - dt.timedelta(seconds=1))
        _job(app, "quizzes.expire_certificates")
        assert _level(app, worker.id) == 1
        clock.move_to(expires)
        _job(app, "quizzes.expire_certificates")
        _job(app, "quizzes.expire_certificates")  # once only
        assert _level(app, worker.id) == 0
        assert _history(app, worker.id) == [(0, 1, "certificate"), (1, 0, "lapse")]

        worker = auth.login(worker.email, worker.password)
        assert client.get(f"{API}/certificates/{certificate['code']}").get_json()["status"] == "expired"
        mine = client.get(f"{API}/me/certificates", headers=worker.headers).get_json()["items"]
        assert [(c["code"], c["status"]) for c in mine] == [(certificate["code"], "expired")]
        item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                    if i["id"] == exam["id"])
        assert item["available"] is True and item["attempts_used"] == 0
        _pass(client, worker, exam)
        assert _level(app, worker.id) == 1


def test_manager_revokes_a_certificate(app, client, auth, manager, exam):
    worker = auth.register()
    certificate = _pass(client, worker, exam)
    url = f"{MANAGE}/certificates/{certificate['code']}/revocation"
    assert client.post(url, json={"reason": "cheating"}, headers=worker.headers).status_code == 403
    assert client.post(url, json={}, headers=manager.headers).status_code == 422
    revoked = client.post(url, json={"reason": "Shared answers in a chat group"}, headers=manager.headers)
    assert revoked.status_code == 200, revoked.get_json()
    assert revoked.get_json()["status"] == "revoked" and revoked.get_json()["user_id"] == worker.id
    assert _level(app, worker.id) == 0
    assert _history(app, worker.id)[-1] == (1, 0, "lapse")
    again = client.post(url, json={"reason": "twice"}, headers=manager.headers)
    assert again.status_code == 200 and again.get_json()["revoke_reason"] == "Shared answers in a chat group"
    assert len(_history(app, worker.id)) == 2
    public = client.get(f"{API}/certificates/{certificate['code']}").get_json()
    assert public["status"] == "revoked" and public["revoked_at"]
    with app.app_context():
        audit = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "certificate.revoke")).scalars().all()
        assert [(a.actor_id, a.target_id) for a in audit] == [(manager.id, certificate["code"])]
    assert client.post(f"{MANAGE}/certificates/AAAA-BBBB-CCCC/revocation", json={"reason": "x"},
                       headers=manager.headers).status_code == 404
    # Expiry later changes nothing more: the lapse was handled at revocation.
    with app.app_context():
        assert services.expire_certificates(dt.datetime.now(dt.UTC) + dt.timedelta(days=400)) == 0
    # The worker recertifies.
    _pass(client, worker, exam)
    assert _level(app, worker.id) == 1


def test_a_renewed_certificate_covers_the_old_ones_expiry(app, client, auth):
    with time_machine.travel(START, tick=False) as clock:
        manager = auth.create("manager")
        exam = create_exam(client, manager, validity_days=60, retake_cooldown_s=0)
        worker = auth.register()
        first = _pass(client, worker, exam)
        item = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                    if i["id"] == exam["id"])
        assert item["unavailable_reason"] == "already_certified"
        refused = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers)
        assert refused.status_code == 409 and refused.get_json()["reason"] == "already_certified"

        clock.move_to(START + dt.timedelta(days=40))  # within 30 days of expiry: renewal opens
        worker = auth.login(worker.email, worker.password)
        with app.app_context():
            soon = services.certificates_expiring_between(START, START + dt.timedelta(days=61))
            assert [(c["code"], c["user_id"], c["skill"], c["level"]) for c in soon] == [
                (first["code"], worker.id, "bbox", 1)]
        second = _pass(client, worker, exam)
        with app.app_context():
            soon = services.certificates_expiring_between(START, START + dt.timedelta(days=200))
            assert [c["code"] for c in soon] == [second["code"]]  # the renewed one replaces the first
            assert services.certificate_counts() == {"bbox": 1}

        clock.move_to(START + dt.timedelta(days=61))
        _job(app, "quizzes.expire_certificates")
        assert _level(app, worker.id) == 1  # still certified by the renewal
        clock.move_to(START + dt.timedelta(days=101))
        _job(app, "quizzes.expire_certificates")
        assert _level(app, worker.id) == 0
        assert _history(app, worker.id) == [(0, 1, "certificate"), (1, 0, "lapse")]
        with app.app_context():
            assert services.certificate_counts() == {}
            assert services.certificates_expiring_between(START, START + dt.timedelta(days=400)) == []


def test_public_verification_is_rate_limited(client, auth, exam):
    statuses = [client.get(f"{API}/certificates/AAAA-AAAA-AAAA").status_code for _ in range(61)]
    assert statuses[:60] == [404] * 60
    assert statuses[60] == 429


def test_personal_data_export_lists_attempts_answers_and_certificates(app, client, auth, exam):
    worker = auth.register()
    certificate = _pass(client, worker, exam)
    with app.app_context():
        data = services.export_personal_data(worker.id)
        assert services.export_personal_data(auth.register().id) == {"attempts": [], "certificates": []}
    [attempt] = data["attempts"]
    assert attempt["exam"] == exam["key"] and attempt["passed"] is True and len(attempt["answers"]) == 9
    assert all(a["answer"] is not None for a in attempt["answers"])
    assert [(c["code"], c["status"]) for c in data["certificates"]] == [(certificate["code"], "valid")]
