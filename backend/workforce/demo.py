"""Demo workforce for `make run`: a few hundred simulated workers over the last eight weeks, so the
dashboard has something to say.

Every step goes through the domains' services — accounts.create_user (one password hash, made once,
for all of them: argon2 is slow by design), courses.enroll / complete_lesson, quizzes.start_attempt /
submit_attempt with the bank's own answer keys (certificates, and the level that follows through
the certificate_issued event), skills.set_level for promotions, microtasks.lease / submit for the
work (rewards through submission_accepted), quality.review.decide for a few reviews. Services stamp
"now"; the seed then sets each row's time to when it happened in the simulation (registration,
enrollment, certificate, answers), so cohorts, activity and the hourly chart look like eight weeks
of life. A few veterans registered a year ago hold certificates that expire within 30 days.

Deterministic (one seeded random generator) and idempotent: it does nothing when its workers exist.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets

import sqlalchemy as sa

from backend.accounts import services as accounts
from backend.accounts.models import User
from backend.database import utcnow
from backend.errors import DomainError
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Assignment, Project, Submission, Task
from backend.microtasks.schemas import ProjectCreateSchema
from backend.skills import services as skills
from backend.skills.models import LevelChange, WorkerSkill
from backend.workforce import services as workforce
from courses import services as courses
from courses.models import Course, Enrollment, LessonCompletion
from quizzes import services as quizzes
from quizzes.models import Attempt, Certificate

log = logging.getLogger(__name__)

EMAIL_DOMAIN = "demo-workforce.labelpath.local"
WORKERS = 220
VETERANS = 12  # registered about a year ago; their certificates expire within 30 days
WEEKS = 8
SEED = 20261127
HOUR = dt.timedelta(hours=1)

SKILL_COURSE = {"bbox": "bbox-basics", "ocr": "korean-ocr-basics",
                "audio_transcription": "meeting-transcription-basics", "llm_eval": "llm-eval-basics"}
SKILL_EXAM = {"bbox": "bbox-level-1", "ocr": "ocr-level-1", "audio_transcription": "audio-level-1",
              "llm_eval": "llm-eval-level-1"}
SKILL_WEIGHTS = {"bbox": 35, "ocr": 25, "llm_eval": 28, "audio_transcription": 12}

SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = ["민준", "서연", "지훈", "하은", "도윤", "지우", "예준", "수아", "시우", "지민", "주원", "서윤", "하준",
         "채원", "지호", "다은", "준서", "예린", "유진", "현우", "소율", "건우", "민서", "우진", "서현", "태윤"]
LATIN = ["Emma Lee", "Daniel Park", "Sophia Kim", "Lucas Choi", "Mia Jung", "Noah Han", "Olivia Seo",
         "Ethan Yoon", "Chloe Kang", "Ryan Lim"]

# Work for the simulated workforce: text classification projects, one per skill (plus a harder one),
# so that the projects table shows progress, a rate, an ETA and who is eligible.
PROJECTS = [
    {"key": "demo-wf-review-sentiment", "skill": "llm_eval", "difficulty": 1, "tasks": 900, "overlap": 3,
     "title": {"ko": "상품 리뷰 감정 분류", "en": "Product review sentiment"},
     "labels": ["positive", "negative", "neutral"], "reward": 30, "priority": 0},
    {"key": "demo-wf-answer-safety", "skill": "llm_eval", "difficulty": 2, "tasks": 400, "overlap": 3,
     "title": {"ko": "LLM 답변 안전성 판별", "en": "Is the LLM answer safe?"},
     "labels": ["safe", "unsafe"], "reward": 80, "priority": 0},
    {"key": "demo-wf-sign-type", "skill": "ocr", "difficulty": 1, "tasks": 700, "overlap": 2,
     "title": {"ko": "간판 문구 유형 분류", "en": "What kind of sign text is it?"},
     "labels": ["price", "hours", "warning", "name"], "reward": 25, "priority": 0},
    {"key": "demo-wf-photo-quality", "skill": "bbox", "difficulty": 1, "tasks": 1200, "overlap": 3,
     "title": {"ko": "거리 사진 품질 분류", "en": "Street photo quality"},
     "labels": ["good", "blurry", "dark"], "reward": 20, "priority": 0},
    {"key": "demo-wf-clip-noise", "skill": "audio_transcription", "difficulty": 1, "tasks": 300, "overlap": 2,
     "title": {"ko": "회의 음성 잡음 분류", "en": "Meeting clip noise"},
     "labels": ["clean", "noisy", "silent"], "reward": 40, "priority": 0},
]
SENTENCES = ["배송이 정말 빨라요", "포장이 엉망이었어요", "가격 대비 괜찮아요", "다시는 안 삽니다", "색이 사진과 달라요",
             "The battery lasts all day", "Stopped working after a week", "It is fine, nothing special"]


def _project_body(spec: dict) -> dict:
    return ProjectCreateSchema().load({
        "key": spec["key"], "title": spec["title"], "skill": spec["skill"], "task_type": "classification",
        "config": {"labels": spec["labels"]}, "difficulty": spec["difficulty"], "reward": {"amount": spec["reward"]},
        "overlap": spec["overlap"], "lease_seconds": 600, "gold_ratio": 0.35, "priority": spec["priority"],
        "instructions": {"ko": "## 지침\n문장을 읽고 가장 알맞은 라벨을 고릅니다.",
                         "en": "## Guide\nRead the text and pick the label that fits best."},
    })


def _projects(rng: random.Random) -> dict[str, list[int]]:
    """The demo projects (created once), by skill: {skill: [project ids, easiest first]}."""
    existing = {p.key: p for p in db.session.execute(sa.select(Project).where(
        Project.key.in_([spec["key"] for spec in PROJECTS]))).scalars()}
    by_skill: dict[str, list[int]] = {}
    for spec in PROJECTS:
        project = existing.get(spec["key"])
        if project is None:
            project = microtasks.create_project(_project_body(spec))
            records = []
            for i in range(spec["tasks"]):
                task = {"payload": {"text": f"{rng.choice(SENTENCES)} (#{i + 1})"}, "external_id": f"{spec['key']}-{i}"}
                if i % 4 == 0:
                    task["gold_answer"] = {"label": spec["labels"][i % len(spec["labels"])]}
                    task["explanation"] = {"ko": "지침의 예시와 같은 경우입니다.", "en": "Like the guide's example."}
                records.append(task)
            microtasks.import_tasks(project.id, microtasks.records_from_list(records))
        by_skill.setdefault(spec["skill"], []).append(project.id)
    return by_skill


class _Clock:
    """Where the simulation stands; the seed stamps rows with these times afterwards."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def day(self, days_ago: float, rng: random.Random) -> dt.datetime:
        """A moment `days_ago` days back at a plausible Korean working hour."""
        base = self.now - dt.timedelta(days=days_ago)
        kst_hour = rng.choices(range(24), weights=[1, 1, 0, 0, 0, 0, 1, 2, 4, 6, 8, 8, 6, 7, 8, 8, 7, 6, 6, 8,
                                                   10, 10, 7, 3])[0]
        moment = base.replace(hour=(kst_hour - 9) % 24, minute=rng.randrange(60), second=rng.randrange(60),
                              microsecond=0)
        return min(moment, self.now - dt.timedelta(minutes=5))


def _exam_keys() -> dict[str, dict]:
    """{exam key: the exam with its answer keys} for the starter banks."""
    ids = {item["key"]: item["id"] for item in quizzes.list_exams_for_managers()}
    return {key: quizzes.exam_detail(ids[key]) for key in SKILL_EXAM.values() if key in ids}


def _right(answer_key: dict) -> dict:
    return {name: value for name, value in answer_key.items()
            if name not in ("tolerance", "alternatives", "iou", "max_cer")}


def _name(rng: random.Random, index: int) -> str:
    if index % 11 == 5:
        return LATIN[index % len(LATIN)]
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


class _Simulation:
    def __init__(self, rng: random.Random, now: dt.datetime):
        self.rng = rng
        self.clock = _Clock(now)
        self.exams = _exam_keys()
        self.projects = _projects(rng)
        self.password_hash = accounts.hash_password(secrets.token_urlsafe(24))  # once, for everyone
        self.lessons: dict[str, list[int]] = {}
        self.stamps: dict[str, list] = {"users": [], "enrollments": [], "attempts": [], "levels": [], "answers": []}
        self.reviewer_id = db.session.execute(sa.select(User.id).where(User.role == "reviewer")
                                              .order_by(User.id)).scalar()

    # -- steps, each through the services, remembering when it "happened"

    def register(self, index: int, when: dt.datetime) -> int:
        user = accounts.create_user(f"w{index:03d}@{EMAIL_DOMAIN}", "unused", _name(self.rng, index),
                                    locale="en" if index % 11 == 5 else "ko", password_hash=self.password_hash)
        self.stamps["users"].append((user.id, when))
        return user.id

    def train(self, user_id: int, skill: str, when: dt.datetime, complete: bool) -> None:
        slug = SKILL_COURSE[skill]
        courses.enroll(user_id, slug)
        if slug not in self.lessons:
            detail = courses.course_detail(user_id, slug)
            self.lessons[slug] = [lesson["id"] for module in detail["modules"] for lesson in module["lessons"]]
        lessons = self.lessons[slug] if complete else self.lessons[slug][: self.rng.randrange(len(self.lessons[slug]))]
        for lesson_id in lessons:
            courses.complete_lesson(user_id, slug, lesson_id)
        self.stamps["enrollments"].append((user_id, slug, when, when + dt.timedelta(hours=2) if complete else None))

    def certify(self, user_id: int, skill: str, when: dt.datetime, passes: bool) -> bool:
        exam = self.exams.get(SKILL_EXAM[skill])
        if exam is None:
            return False
        keys = {q["id"]: q for q in exam["questions"]}
        attempt = quizzes.start_attempt(user_id, exam["id"])
        answers = {}
        for number, question in enumerate(attempt["questions"]):
            if passes or number % 2:
                answers[str(question["id"])] = _right(keys[question["id"]]["answer"])
        result = quizzes.submit_attempt(user_id, attempt["id"], answers)
        self.stamps["attempts"].append((attempt["id"], user_id, skill, when))
        return bool(result["passed"])

    def promote(self, user_id: int, skill: str, level: int, when: dt.datetime) -> None:
        skills.set_level(user_id, skill, level, f"gold accuracy above the bar for level {level}", source="promotion")
        self.stamps["levels"].append((user_id, skill, level, when))

    def work(self, user_id: int, skill: str, level: int, accuracy: float, sessions: list[tuple[dt.datetime, int]]):
        project_ids = self.projects.get(skill, [])
        difficulties = {p.id: p.difficulty for p in db.session.execute(
            sa.select(Project).where(Project.id.in_(project_ids))).scalars()}
        for when, count in sessions:
            eligible = [pid for pid in project_ids if difficulties[pid] <= level]
            if not eligible:
                return
            try:
                leased = microtasks.lease(user_id, count, self.rng.choice(eligible))
            except DomainError:  # paused by a quality floor: this worker stops here
                return
            if not leased:
                continue
            golds = dict(db.session.execute(sa.select(Task.id, Task.gold_answer).where(
                Task.id.in_([item["task"]["id"] for item in leased]))).tuples().all())
            moment = when
            for item in leased:
                labels = self._labels(item["project_id"])
                gold = golds.get(item["task"]["id"])
                if gold is not None:
                    label = gold["label"] if self.rng.random() < accuracy else self.rng.choice(
                        [x for x in labels if x != gold["label"]])
                else:
                    label = self.rng.choice(labels)
                duration = int(self.rng.lognormvariate(9.4, 0.5))  # about 12 s, a long tail
                result = microtasks.submit(user_id, item["id"], {"label": label}, duration)
                moment += dt.timedelta(milliseconds=duration + self.rng.randrange(2000, 15000))
                self.stamps["answers"].append((result["id"], item["id"], min(moment, self.clock.now - 3 * HOUR / 60)))
                if gold is None and self.reviewer_id and self.rng.random() < 0.04:
                    from backend.quality import review

                    decision = "approve" if self.rng.random() < 0.85 else "reject"
                    review.decide(result["id"], self.reviewer_id, decision,
                                  None if decision == "approve" else "wrong_label")

    _label_cache: dict[int, list[str]] = {}

    def _labels(self, project_id: int) -> list[str]:
        if project_id not in self._label_cache:
            self._label_cache[project_id] = db.session.get(Project, project_id).config["labels"]
        return self._label_cache[project_id]

    # -- the times, written once at the end

    def stamp(self) -> None:
        for user_id, when in self.stamps["users"]:
            db.session.execute(sa.update(User).where(User.id == user_id).values(created_at=when))
        for user_id, slug, enrolled, completed in self.stamps["enrollments"]:
            enrollment_id = db.session.execute(sa.select(Enrollment.id).join(
                Course, Course.id == Enrollment.course_id).where(
                Enrollment.user_id == user_id, Course.slug == slug)).scalar_one()
            db.session.execute(sa.update(Enrollment).where(Enrollment.id == enrollment_id).values(
                enrolled_at=enrolled, completed_at=completed))
            db.session.execute(sa.update(LessonCompletion).where(LessonCompletion.enrollment_id == enrollment_id)
                               .values(completed_at=completed or enrolled + HOUR))
        for attempt_id, user_id, skill, when in self.stamps["attempts"]:
            done = when + dt.timedelta(minutes=14)
            db.session.execute(sa.update(Attempt).where(Attempt.id == attempt_id).values(
                started_at=when, deadline=when + dt.timedelta(minutes=30), closed_at=done, graded_at=done))
            certificate = db.session.execute(sa.select(Certificate).where(Certificate.attempt_id == attempt_id)
                                             ).scalar_one_or_none()
            if certificate is not None:
                validity = certificate.expires_at - certificate.issued_at
                certificate.issued_at, certificate.expires_at = done, done + validity
                db.session.execute(sa.update(WorkerSkill).where(
                    WorkerSkill.user_id == user_id, WorkerSkill.skill_code == skill).values(
                    certified_until=done + validity, updated_at=done))
                db.session.execute(sa.update(LevelChange).where(
                    LevelChange.user_id == user_id, LevelChange.skill_code == skill,
                    LevelChange.source == "certificate").values(created_at=done))
        for user_id, skill, level, when in self.stamps["levels"]:
            db.session.execute(sa.update(LevelChange).where(
                LevelChange.user_id == user_id, LevelChange.skill_code == skill, LevelChange.new_level == level,
                LevelChange.source == "promotion").values(created_at=when))
        for start in range(0, len(self.stamps["answers"]), 500):
            chunk = self.stamps["answers"][start:start + 500]
            for submission_id, assignment_id, when in chunk:
                db.session.execute(sa.update(Submission).where(Submission.id == submission_id).values(created_at=when))
                db.session.execute(sa.update(Assignment).where(Assignment.id == assignment_id).values(
                    leased_at=when - dt.timedelta(seconds=30), ended_at=when,
                    lease_expires_at=when + dt.timedelta(seconds=570)))
        db.session.flush()


def _sessions(rng: random.Random, clock: _Clock, start_days_ago: float, recent: bool, answers: int):
    """Work sessions between `start_days_ago` and now: (when, answers), more of them lately."""
    sessions = []
    left = answers
    while left > 0:
        span = max(start_days_ago, 0.3)
        days_ago = span * rng.random() ** 1.6  # skewed to recent days
        if not recent:
            days_ago = max(days_ago, 8 + rng.random() * 20)
            if days_ago > span:
                days_ago = span
        count = min(left, rng.randint(3, 12))
        sessions.append((clock.day(days_ago, rng), count))
        left -= count
    return sorted(sessions)


def seed() -> None:
    """Create the simulated workforce once (idempotent: nothing happens when it exists)."""
    exists = db.session.execute(sa.select(User.id).where(User.email.like(f"%@{EMAIL_DOMAIN}")).limit(1)).first()
    if exists is not None:
        return
    rng = random.Random(SEED)
    now = utcnow()
    sim = _Simulation(rng, now)
    if not sim.exams:
        log.warning("workforce demo: the starter exams are missing; no simulated workforce")
        return
    skill_names = list(SKILL_WEIGHTS)
    for index in range(WORKERS + VETERANS):
        veteran = index >= WORKERS
        days_ago = (330 + rng.random() * 25) if veteran else WEEKS * 7 * (1 - rng.random() ** 0.75)
        registered = sim.clock.day(days_ago, rng)
        user_id = sim.register(index, registered)
        stage = rng.random()
        if not veteran and stage < 0.18:
            continue  # registered only
        skill = rng.choices(skill_names, weights=[SKILL_WEIGHTS[s] for s in skill_names])[0]
        trained = registered + dt.timedelta(hours=rng.uniform(1, 72))
        completes = veteran or stage > 0.32
        sim.train(user_id, skill, min(trained, now - HOUR), completes)
        if not completes:
            continue
        tested = trained + dt.timedelta(hours=rng.uniform(2, 96))
        if tested > now - HOUR or (not veteran and stage < 0.40):
            continue  # completed the course, no exam yet
        passed = sim.certify(user_id, skill, tested, passes=veteran or stage > 0.45)
        if not passed:
            continue
        level = 1
        accuracy = min(0.99, rng.betavariate(9, 2))
        if rng.random() < 0.35 and accuracy > 0.8:
            level = 2 if rng.random() < 0.7 else 3
            promoted = tested + (now - tested) * rng.uniform(0.3, 0.7)
            for step in range(2, level + 1):
                sim.promote(user_id, skill, step, promoted + dt.timedelta(days=step - 2))
        if veteran or stage > 0.55:
            recent = rng.random() < 0.65
            answers = int(rng.paretovariate(1.5) * 3.5)
            sim.work(user_id, skill, level, accuracy,
                     _sessions(rng, sim.clock, (now - tested).total_seconds() / 86400, recent, min(answers, 40)))
    sim.stamp()
    workforce.rebuild_rollups(now)
