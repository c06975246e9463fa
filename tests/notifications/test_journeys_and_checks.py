"""Whole journeys through the other domains' real code, and the two scheduled checks.

The exam and the projects are made through the managers' API; the checks read the other
domains' services (quizzes.certificates_expiring_between, microtasks.open_work_by_skill).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import time_machine

from backend.database import utcnow
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.notifications import services
from backend.skills import services as skills
from tests.notifications.helpers import deliveries, drain, feed_rows

SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
MANAGE = "/api/v1/manage"


def make_exam(client, manager, **overrides) -> int:
    body = {
        "title": {"ko": "박스 기초 시험", "en": "Box basics exam"}, "skill": "bbox", "grants_level": 1,
        "time_limit_s": 600, "pass_percent": 100, "attempts_allowed": 3, "retake_cooldown_s": 3600,
        "validity_days": 40,
        "questions": [{"key": "q1", "kind": "true_false", "prompt": {"ko": "상자는 꼭 맞아야 하나요?",
                                                                      "en": "Must a box be tight?"},
                       "answer": {"value": True}}],
        **overrides,
    }
    response = client.post(f"{MANAGE}/exams", json=body, headers=manager.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def take_exam(client, worker, exam_id: int, right: bool = True) -> dict:
    attempt = client.post(f"/api/v1/exams/{exam_id}/attempts", headers=worker.headers)
    assert attempt.status_code == 201, attempt.get_json()
    attempt = attempt.get_json()
    question = attempt["questions"][0]["id"]
    result = client.post(f"/api/v1/attempts/{attempt['id']}/submission", headers=worker.headers,
                         json={"answers": {str(question): {"value": right}}})
    assert result.status_code == 200, result.get_json()
    return result.get_json()


def test_a_new_worker_registers_a_phone_passes_an_exam_and_gets_one_push(app, client, auth, fcm):
    manager = auth.create("manager")
    exam_id = make_exam(client, manager)
    worker = auth.register(locale="en", timezone="Europe/London")
    phone = "eX4mPl3-t0k3n:APA91bF7"
    assert client.post("/api/v1/me/devices", json={"token": phone, "platform": "android"},
                       headers=worker.headers).status_code == 201

    failed = take_exam(client, worker, exam_id, right=False)
    assert failed["passed"] is False
    with time_machine.travel(utcnow() + dt.timedelta(hours=1, minutes=1)):
        worker = auth.login(worker.email, worker.password)  # the phone refreshes its session
        passed = take_exam(client, worker, exam_id)
        assert passed["passed"] is True
        assert drain(app) == {"sent": 2}

    # one send_each batch: FCM gets them in any order
    failed_push, passed_push = sorted(fcm.messages_to(phone), key=lambda m: int(m["data"]["notification_id"]))
    assert failed_push["notification"]["title"] == "You did not pass this time"
    assert failed_push["data"] == {"screen": "exam", "id": str(exam_id), "category": "certification",
                                   "notification_id": failed_push["data"]["notification_id"]}
    code = passed["certificate"]["code"]
    assert passed_push["notification"]["title"] == "You passed! Your certificate is ready"
    assert f"Bounding boxes level 1 certificate ({code})" in passed_push["notification"]["body"]
    assert passed_push["data"]["screen"] == "certificate" and passed_push["data"]["code"] == code
    assert len(fcm.messages) == 2  # the level the certificate raised adds no third message


def test_certificates_expiring_in_30_and_7_days_are_announced_once_each(app, client, auth):
    manager = auth.create("manager")
    exam_id = make_exam(client, manager, validity_days=40)
    worker = auth.register(locale="en", timezone="Asia/Seoul")
    code = take_exam(client, worker, exam_id)["certificate"]["code"]
    issued = utcnow()
    with time_machine.travel(issued + dt.timedelta(days=5)), app.app_context():
        assert services.remind_expiring_certificates() == 0  # 35 days left: too early
    for day in (11, 11, 12, 34, 35, 39):
        with time_machine.travel(issued + dt.timedelta(days=day, hours=1)), app.app_context():
            services.remind_expiring_certificates()
            db.session.commit()
    reminders = [n for n in feed_rows(app, worker.id) if n.kind == "reminders.certificate_expiring"]
    assert [n.title["en"] for n in reminders] == ["Your certificate expires in 29 days",
                                                  "Your certificate expires in 6 days"]
    assert reminders[0].data == {"screen": "certificate", "code": code}
    assert reminders[0].category == "reminders"
    expires = (issued + dt.timedelta(days=40)).astimezone(SEOUL)
    assert f"expires on {expires:%b} {expires.day}, {expires.year}" in reminders[0].body["en"]


def test_a_renewed_certificate_is_not_announced(app, client, auth):
    manager = auth.create("manager")
    first = make_exam(client, manager, validity_days=40)
    worker = auth.register()
    take_exam(client, worker, first)
    with time_machine.travel(utcnow() + dt.timedelta(days=9)):
        renewal = make_exam(client, auth.create("manager"), validity_days=365)
        take_exam(client, auth.login(worker.email, worker.password), renewal)
    with time_machine.travel(utcnow() + dt.timedelta(days=12)), app.app_context():
        assert services.remind_expiring_certificates() == 0


# ---------------------------------------------------------------- new work after a dry spell
def make_project(client, manager, *, skill="llm_eval", difficulty=1, tasks=3, **fields) -> int:
    body = {"title": {"ko": "감정 분류", "en": "Sentiment"}, "skill": skill, "task_type": "classification",
            "config": {"labels": ["pos", "neg"]}, "difficulty": difficulty, "reward": {"amount": 50},
            "overlap": 1, "lease_seconds": 600, "gold_ratio": 0.0, **fields}
    response = client.post(f"{MANAGE}/projects", json=body, headers=manager.headers)
    assert response.status_code == 201, response.get_json()
    project_id = response.get_json()["id"]
    items = [{"payload": {"text": f"문장 {n}"}, "external_id": f"t{n}"} for n in range(tasks)]
    imported = client.post(f"{MANAGE}/projects/{project_id}/tasks", json=items, headers=manager.headers)
    assert imported.status_code in (200, 201), imported.get_json()
    return project_id


def certify(app, user_id: int, skill: str, level: int) -> None:
    with app.app_context():
        skills.set_level(user_id, skill, level, "test", source="override")
        db.session.commit()


def set_status(app, project_id: int, status: str) -> None:
    with app.app_context():
        microtasks.update_project(project_id, {"status": status})
        db.session.commit()


def announce(app) -> int:
    with app.app_context():
        count = services.announce_new_work()
        db.session.commit()
        return count


def work_notices(app, user_id: int) -> list:
    return [n for n in feed_rows(app, user_id) if n.kind == "tasks.available"]


def test_new_work_after_a_dry_spell_at_most_once_a_day(app, client, auth):
    manager = auth.create("manager")
    worker = auth.register(locale="en", timezone="Asia/Seoul")
    certify(app, worker.id, "llm_eval", 1)
    morning = dt.datetime(2031, 3, 2, 9, 0, tzinfo=SEOUL)
    with time_machine.travel(morning - dt.timedelta(days=1)):
        assert announce(app) == 0  # no work anywhere
        project = make_project(client, auth.login(manager.email, manager.password), tasks=3)
        set_status(app, project, "paused")
    with time_machine.travel(morning) as clock:
        set_status(app, project, "active")
        assert announce(app) == 1
        [note] = work_notices(app, worker.id)
        assert note.body["en"] == "3 LLM answer evaluation tasks are open for you now."
        assert note.data == {"screen": "projects", "skill": "llm_eval"}
        assert announce(app) == 0  # still there: nothing new
        set_status(app, project, "paused")
        assert announce(app) == 0
        clock.move_to(morning + dt.timedelta(minutes=30))
        set_status(app, project, "active")
        assert announce(app) == 0  # half an hour is no dry spell
        set_status(app, project, "paused")
        assert announce(app) == 0
        clock.move_to(morning + dt.timedelta(hours=4))
        set_status(app, project, "active")
        assert announce(app) == 0  # a real dry spell, but the worker heard about it today
        set_status(app, project, "paused")
        assert announce(app) == 0
        clock.move_to(morning + dt.timedelta(days=1))
        set_status(app, project, "active")
        assert announce(app) == 1  # a new day in Seoul
    assert len(work_notices(app, worker.id)) == 2


def test_new_work_goes_only_to_workers_who_may_take_it(app, client, auth):
    manager = auth.create("manager")
    able, too_low, uncertified, other_skill, opted_out = (auth.register() for _ in range(5))
    certify(app, able.id, "ocr", 3)
    certify(app, too_low.id, "ocr", 1)
    certify(app, other_skill.id, "bbox", 3)
    certify(app, opted_out.id, "ocr", 3)
    make_project(client, manager, skill="ocr", difficulty=2, tasks=2)
    make_project(client, manager, skill="ocr", difficulty=3, tasks=4, sensitive_content=True)
    with app.app_context():
        microtasks.set_work_preferences(able.id, True)
        db.session.commit()
    assert announce(app) == 2
    # level 3 and opted in to sensitive work: both projects
    assert work_notices(app, able.id)[0].body["ko"] == "지금 할 수 있는 한국어 OCR 전사 작업이 6건 있어요."
    assert [len(work_notices(app, u.id)) for u in (too_low, uncertified, other_skill)] == [0, 0, 0]
    # level 3 but not opted in to sensitive work: only the 2 ordinary tasks
    assert work_notices(app, opted_out.id)[0].body["en"] == "2 Korean OCR transcription tasks are open for you now."
    assert work_notices(app, manager.id) == []


def test_a_worker_who_switched_tasks_off_gets_the_feed_entry_only(app, client, auth):
    manager = auth.create("manager")
    worker = auth.register()
    client.post("/api/v1/me/devices", json={"token": "tok-tasks", "platform": "android"}, headers=worker.headers)
    client.put("/api/v1/me/notification-preferences", json={"categories": {"tasks": False}},
               headers=worker.headers)
    certify(app, worker.id, "bbox", 1)
    make_project(client, manager, skill="bbox")
    deliveries_before = len(deliveries(app, worker.id))  # the level-up notice was pushed
    assert announce(app) == 1
    assert len(deliveries(app, worker.id)) == deliveries_before
    assert len(work_notices(app, worker.id)) == 1


# ---------------------------------------------------------------- quality pauses
def pause_on(app, user_id: int, project_id: int):
    from backend.quality import floors

    with app.app_context():
        row = floors.pause(user_id, project_id, "llm_eval", "fast_submit", {"fast": 12, "answers": 20})
        db.session.commit()
        return row.id


def test_new_work_skips_projects_the_worker_is_paused_on(app, client, auth):
    manager = auth.create("manager")
    worker = auth.register(locale="en")
    certify(app, worker.id, "llm_eval", 2)
    paused_here = make_project(client, manager, tasks=3)
    make_project(client, manager, tasks=2)
    pause_on(app, worker.id, paused_here)
    assert announce(app) == 1
    [note] = work_notices(app, worker.id)
    assert note.body["en"] == "2 LLM answer evaluation tasks are open for you now."  # leasing would give no more
    other = auth.register(locale="en")
    certify(app, other.id, "llm_eval", 2)
    with app.app_context():
        projects = [p["project_id"] for p in microtasks.open_work_by_skill()["llm_eval"]]
    for project_id in projects:
        pause_on(app, other.id, project_id)
    assert announce(app) == 0 and work_notices(app, other.id) == []  # paused everywhere: nothing to announce


def test_a_pause_is_told_with_its_reason_and_a_managers_lift_too(app, client, auth):
    from backend.quality import floors

    manager = auth.create("manager")
    worker = auth.register(locale="en")
    project_id = make_project(client, manager, tasks=2)
    pause_id = pause_on(app, worker.id, project_id)
    [paused] = [n for n in feed_rows(app, worker.id) if n.kind == "tasks.paused"]
    assert paused.title == {"ko": "감정 분류 작업이 잠시 멈췄어요", "en": "Paused on Sentiment"}
    assert "12" in paused.body["en"] and "20" in paused.body["en"]  # the cause, with its numbers
    assert paused.data == {"screen": "pause", "id": str(pause_id)}
    with app.app_context():
        floors.lift_by_manager(worker.id, project_id, actor_id=manager.id, reason="checked by hand")
        db.session.commit()
    [lifted] = [n for n in feed_rows(app, worker.id) if n.kind == "tasks.resumed"]
    assert lifted.title["en"] == "You can work on Sentiment again"
    assert lifted.data == {"screen": "pause", "id": str(pause_id)}
