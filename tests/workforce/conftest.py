"""A small workforce with a known history, built through the domains' services at set times, and
what the workforce analytics must say about it (counted by hand below).

NOW is Wednesday 2030-03-13 10:00 UTC (19:00 in Seoul); this week's cohort began Monday
2030-03-11 00:00 KST (2030-03-10 15:00 UTC), last week's a week earlier.

| worker   | registered | course        | certificate (bbox)           | answers (project bbox-1)                  |
|----------|------------|---------------|------------------------------|-------------------------------------------|
| 김민수    | NOW-2d     | done NOW-2d   | level 1, NOW-1d              | NOW-5h: 3 normal, 2 gold (2 right)        |
| 이서연    | NOW-9d     | done NOW-9d   | level 1, NOW-8d              | NOW-8d: 1 normal, 2 gold (1 right)        |
| 박지훈    | NOW-9d     | enrolled only |                              |                                           |
| Emma Kim | NOW-2d     |               |                              |                                           |
| 최유진    | NOW-400d   | done NOW-341d | level 1, NOW-340d (→ +25 d); |  NOW-40d: 1 normal                        |
|          |            |               | promoted to 2 at NOW-300d    |                                           |
| (deleted)| NOW-2d     | enrolled      |                              |                                           |

Reviews of 김민수's normal answers: one approved, one rejected and appealed (open). The project is
aggregated: only task t0 has two answers (최유진's and 이서연's, both "b"), so they agree 1 of 1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
import time_machine

from backend.accounts import services as accounts
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.quality import results, review
from backend.skills import services as skills
from courses import services as courses
from courses.schemas import CourseIn
from quizzes import services as quizzes

NOW = dt.datetime(2030, 3, 13, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HASH = None  # one cheap password hash for every worker (filled on first use)
PASSWORD = "correct horse 1"


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


@dataclass
class Workforce:
    manager_id: int = 0
    reviewer_id: int = 0
    project_id: int = 0
    exam_id: int = 0
    ids: dict[str, int] = field(default_factory=dict)
    submissions: dict[str, list[int]] = field(default_factory=dict)


class Builder:
    def __init__(self, data: Workforce):
        self.data = data
        self.hash = None

    def user(self, key: str, name: str, registered: dt.datetime, role: str = "worker") -> int:
        with at(registered):
            if self.hash is None:
                self.hash = accounts.hash_password(PASSWORD)
            user = accounts.create_user(f"{key}@workforce.test", PASSWORD, name, role=role, password_hash=self.hash)
            self.data.ids[key] = user.id
        return user.id

    def course(self, user_id: int, moment: dt.datetime, *, complete: bool) -> None:
        with at(moment):
            courses.enroll(user_id, "wf-bbox")
            if complete:
                detail = courses.course_detail(user_id, "wf-bbox")
                for module in detail["modules"]:
                    for lesson in module["lessons"]:
                        courses.complete_lesson(user_id, "wf-bbox", lesson["id"])

    def certify(self, user_id: int, moment: dt.datetime) -> None:
        with at(moment):
            attempt = quizzes.start_attempt(user_id, self.data.exam_id)
            answers = {str(q["id"]): {"value": True} for q in attempt["questions"]}
            result = quizzes.submit_attempt(user_id, attempt["id"], answers)
            assert result["passed"], result

    def answer(self, key: str, moment: dt.datetime, *, normal: int = 0, gold_right: int = 0,
               gold_wrong: int = 0, durations=(6000,)) -> None:
        user_id = self.data.ids[key]
        done = self.data.submissions.setdefault(key, [])
        with at(moment):
            leased = microtasks.lease(user_id, normal, self.data.project_id) if normal else []
            assert len(leased) == normal
            for i, item in enumerate(leased):
                done.append(microtasks.submit(user_id, item["id"], {"label": "b"},
                                              durations[i % len(durations)])["id"])
            gold = gold_right + gold_wrong
            if gold:
                microtasks.update_project(self.data.project_id, {"gold_ratio": 1.0})  # gold only, for now
                leased = microtasks.lease(user_id, gold, self.data.project_id)
                assert len(leased) == gold
                for i, item in enumerate(leased):
                    label = "a" if i < gold_right else "b"
                    result = microtasks.submit(user_id, item["id"], {"label": label}, 3000)
                    assert result["feedback"]["correct"] is (label == "a")
                microtasks.update_project(self.data.project_id, {"gold_ratio": 0.0})


COURSE = {
    "slug": "wf-bbox", "title": {"ko": "박스 입문", "en": "Box basics"}, "description": "…",
    "skill": "bbox", "level": 1, "published": True,
    "modules": [{"title": {"ko": "모듈", "en": "Module"}, "lessons": [
        {"key": "one", "title": {"ko": "하나", "en": "One"}, "blocks": [{"kind": "markdown", "text": "# 1"}]},
        {"key": "two", "title": {"ko": "둘", "en": "Two"}, "blocks": [{"kind": "markdown", "text": "# 2"}]},
    ]}],
}

EXAM = {
    "key": "wf-bbox-1", "title": {"ko": "박스 시험", "en": "Box exam"}, "skill": "bbox", "grants_level": 1,
    "requires": {"course": "wf-bbox"}, "time_limit_s": 600, "pass_percent": 80, "attempts_allowed": 3,
    "retake_cooldown_s": 60, "validity_days": 365,
    "questions": [{"key": "q1", "kind": "true_false", "prompt": {"ko": "박스는 딱 맞게?", "en": "Tight boxes?"},
                   "answer": {"value": True}, "explanation": {"ko": "네.", "en": "Yes."}}],
}

PROJECT = {
    "key": "wf-bbox-1", "title": {"ko": "문장 분류", "en": "Classify sentences"}, "skill": "bbox",
    "task_type": "classification", "config": {"labels": ["a", "b"]}, "difficulty": 1,
    "reward": {"amount": 100}, "overlap": 2, "lease_seconds": 600, "gold_ratio": 0.0,
}


def build(app) -> Workforce:
    """The workforce of the table above; committed. Call inside `at(NOW)`."""
    from backend.microtasks.schemas import ProjectCreateSchema

    data = Workforce()
    b = Builder(data)
    with app.app_context():
        start = NOW - dt.timedelta(days=500)
        data.manager_id = b.user("manager", "관리자", start, role="manager")
        data.reviewer_id = b.user("reviewer", "검수자", start, role="reviewer")
        with at(start):
            courses.create_course(CourseIn().load(COURSE))
            data.exam_id = quizzes.create_exam(EXAM).id
            project = microtasks.create_project(ProjectCreateSchema().load(PROJECT))
            data.project_id = project.id
            microtasks.import_tasks(project.id, microtasks.records_from_list(
                [{"payload": {"text": f"문장 {i}"}, "external_id": f"t{i}"} for i in range(10)]
                + [{"payload": {"text": f"골드 {i}"}, "gold_answer": {"label": "a"}, "external_id": f"g{i}"}
                   for i in range(3)]))

        yujin = b.user("yujin", "최유진", NOW - dt.timedelta(days=400))
        b.course(yujin, NOW - dt.timedelta(days=341), complete=True)
        b.certify(yujin, NOW - dt.timedelta(days=340))
        with at(NOW - dt.timedelta(days=300)):
            skills.set_level(yujin, "bbox", 2, "gold accuracy 97 %", source="promotion")
        b.answer("yujin", NOW - dt.timedelta(days=40), normal=1, durations=(20000,))

        seoyeon = b.user("seoyeon", "이서연", NOW - 9 * DAY)
        jihun = b.user("jihun", "박지훈", NOW - 9 * DAY)
        b.course(seoyeon, NOW - 9 * DAY, complete=True)
        b.course(jihun, NOW - 9 * DAY, complete=False)
        b.certify(seoyeon, NOW - 8 * DAY)
        b.answer("seoyeon", NOW - 8 * DAY, normal=1, gold_right=1, gold_wrong=1)

        minsu = b.user("minsu", "김민수", NOW - 2 * DAY)
        b.user("emma", "Emma Kim", NOW - 2 * DAY)
        gone = b.user("gone", "탈퇴자", NOW - 2 * DAY)
        b.course(gone, NOW - 2 * DAY, complete=False)
        with at(NOW - 2 * DAY):
            accounts.anonymise(accounts.get_user(gone))
        b.course(minsu, NOW - 2 * DAY, complete=True)
        b.certify(minsu, NOW - DAY)
        b.answer("minsu", NOW - dt.timedelta(hours=5), normal=3, gold_right=2, durations=(4000, 6000, 8000))
        with at(NOW - dt.timedelta(hours=4)):
            first, second = data.submissions["minsu"][:2]
            review.decide(first, data.reviewer_id, "approve")
            review.decide(second, data.reviewer_id, "reject", "wrong_label")
            review.appeal(minsu, second, "라벨이 맞습니다.")
            results.aggregate_project(data.project_id)  # t0: 최유진 and 이서연 both said "b"
        db.session.commit()
    return data


@pytest.fixture
def workforce(app):
    with at(NOW):
        yield build(app)


@pytest.fixture
def manager(auth, workforce):
    with at(NOW):
        return auth.login("manager@workforce.test", PASSWORD, "manager")
