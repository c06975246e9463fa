"""Certification: exams and question banks, timed attempts graded on the server, certificates.

Attempts: a POST draws the questions (random.Random(seed), the seed and the drawn order stored),
answers autosave until the deadline, a submission grades once. An attempt whose deadline passed
is closed and graded with the answers saved before it, by the scheduled job or by whichever
request touches it first. Every state change of an attempt happens with its row locked
(SELECT … FOR UPDATE on PostgreSQL; SQLite's write transactions begin IMMEDIATE), so racing
submissions grade once and answer the same result.

Passing issues a certificate (event certificate_issued: the skills service raises the level);
an expired or revoked certificate sends certificate_lapsed (the skills service drops the level
to 0) unless another valid certificate of the worker covers the same skill and level.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from backend import events
from backend.accounts import services as accounts
from backend.audit import services as audit
from backend.database import utcnow
from backend.errors import Conflict, Invalid, NotFound, flatten_messages
from backend.extensions import db
from backend.i18n import localize
from backend.quality import compare
from backend.skills import services as skills
from courses import services as courses
from quizzes import bankfiles, scoring
from quizzes.documents import validate_exam
from quizzes.models import Attempt, AttemptItem, Certificate, Exam, Question, QuizMedia

BANKS_DIR = Path(__file__).resolve().parent / "banks"
# Certificate codes: 12 characters without look-alikes (no 0/O, 1/I/L, U), shown as XXXX-XXXX-XXXX.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
RENEWAL_WINDOW = dt.timedelta(days=30)  # a valid certificate may be renewed this long before expiry
JOB_BATCH = 500


# ------------------------------------------------------------------------------------- helpers

def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _invalid(errors: dict[str, list[str]], detail: str | None = None) -> Invalid:
    text = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(errors.items()))
    return Invalid(detail or text[:1000], errors=errors)


def _field_errors(prefix: str, messages) -> dict[str, list[str]]:
    flat = flatten_messages(messages, prefix)
    return {name.removesuffix("._schema"): msgs for name, msgs in flat.items()}


def _skill_levels() -> dict[str, int]:
    return {skill.code: skill.max_level for skill in skills.list_skills()}


def get_media(name: str) -> QuizMedia:
    """A bank media file by its name (GET /api/v1/media/quizzes/<name>, no token needed)."""
    media = db.session.execute(sa.select(QuizMedia).where(QuizMedia.name == name)).scalar_one_or_none()
    if media is None:
        raise NotFound("No such media file.")
    return media


# ------------------------------------------------------------------------------------ authoring

def _exam_by_key(key: str) -> Exam | None:
    return db.session.execute(sa.select(Exam).where(Exam.key == key)).scalar_one_or_none()


def _get_exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None:
        raise NotFound("No such exam.")
    return exam


def _questions_of(exam_id: int, *, active_only: bool = True) -> list[Question]:
    stmt = sa.select(Question).where(Question.exam_id == exam_id)
    if active_only:
        stmt = stmt.where(Question.active.is_(True))
    return list(db.session.execute(stmt.order_by(Question.position, Question.id)).scalars())


def _question_keys(questions: list[dict]) -> list[str]:
    """Each question's key; a question without one is keyed by its place (q1, q2, …)."""
    taken = {q["key"] for q in questions if q.get("key")}
    keys = []
    for index, question in enumerate(questions):
        key = question.get("key")
        if not key:
            key, suffix = f"q{index + 1}", 1
            while key in taken:
                suffix += 1
                key = f"q{index + 1}-{suffix}"
            taken.add(key)
        keys.append(key)
    return keys


def _apply_document(exam: Exam, doc: dict, *, source: str, content_hash: str | None = None) -> None:
    """Write a validated document into an exam; questions are updated in place by key, questions
    no longer in the document become inactive (attempts that drew them keep them)."""
    exam.version = doc["version"]
    exam.title = doc["title"]
    exam.description = doc["description"]
    exam.skill_code = doc["skill"]
    exam.grants_level = doc["grants_level"]
    exam.required_course = doc["requires"]["course"]
    exam.required_level = doc["requires"]["skill_level"]
    for name in ("time_limit_s", "pass_percent", "attempts_allowed", "retake_cooldown_s", "validity_days",
                 "draw", "published"):
        setattr(exam, name, doc[name])
    exam.source = source
    exam.content_hash = content_hash
    exam.updated_at = utcnow()
    db.session.flush()
    existing = {q.key: q for q in _questions_of(exam.id, active_only=False)}
    for position, (key, item) in enumerate(zip(_question_keys(doc["questions"]), doc["questions"],
                                               strict=True)):
        question = existing.pop(key, None)
        if question is None:
            question = Question(exam_id=exam.id, key=key)
            db.session.add(question)
        question.position = position
        question.kind = item["kind"]
        question.prompt = item["prompt"]
        question.media = item["media"]
        question.options = item["options"]
        question.answer_key = item["answer"]
        question.points = item["points"]
        question.explanation = item["explanation"]
        question.pool = item["pool"]
        question.tags = item["tags"]
        question.active = True
    for question in existing.values():
        question.active = False
    db.session.flush()


def create_exam(payload: dict, *, actor_id: int | None = None) -> Exam:
    """POST /manage/exams: a new exam from the API payload (published unless "published": false)."""
    doc, errors = validate_exam(payload, _skill_levels())
    if errors:
        raise _invalid(errors)
    key = doc.get("key") or f"exam-{secrets.token_hex(4)}"
    existing = _exam_by_key(key)
    if existing is not None:
        raise Conflict(f"Exam key {key!r} is taken by exam {existing.id}; PUT /manage/exams/{existing.id} "
                       "updates it.", slug="exam-key-taken", exam_id=existing.id)
    exam = Exam(key=key, created_by=actor_id)
    db.session.add(exam)
    _apply_document(exam, doc, source="api")
    if actor_id is not None:
        audit.record(actor_id=actor_id, action="exam.create", target_type="exam", target_id=exam.id,
                     after={"key": exam.key, "version": exam.version, "questions": len(doc["questions"])})
    return exam


def update_exam(exam_id: int, payload: dict, *, actor_id: int | None = None) -> Exam:
    """PUT /manage/exams/{id}: replace the exam's definition; questions are matched by key."""
    exam = _get_exam(exam_id)
    doc, errors = validate_exam(payload, _skill_levels())
    if errors:
        raise _invalid(errors)
    if doc.get("key") and doc["key"] != exam.key:
        other = _exam_by_key(doc["key"])
        if other is not None:
            raise Conflict(f"Exam key {doc['key']!r} is taken by exam {other.id}.", slug="exam-key-taken")
        exam.key = doc["key"]
    before = {"key": exam.key, "version": exam.version, "published": exam.published}
    _apply_document(exam, doc, source="api")
    if actor_id is not None:
        audit.record(actor_id=actor_id, action="exam.update", target_type="exam", target_id=exam.id,
                     before=before, after={"key": exam.key, "version": exam.version,
                                           "published": exam.published, "questions": len(doc["questions"])})
    return exam


def exam_detail(exam_id: int) -> dict:
    """The whole exam for its authors, answer keys included (managers only)."""
    exam = _get_exam(exam_id)
    return {
        "id": exam.id, "key": exam.key, "version": exam.version, "title": exam.title,
        "description": exam.description, "skill": exam.skill_code, "grants_level": exam.grants_level,
        "requires": {"course": exam.required_course, "skill_level": exam.required_level},
        "time_limit_s": exam.time_limit_s, "pass_percent": exam.pass_percent,
        "attempts_allowed": exam.attempts_allowed, "retake_cooldown_s": exam.retake_cooldown_s,
        "validity_days": exam.validity_days, "draw": exam.draw, "published": exam.published,
        "source": exam.source, "created_at": exam.created_at, "updated_at": exam.updated_at,
        "questions": [{
            "id": q.id, "key": q.key, "kind": q.kind, "prompt": q.prompt, "media": q.media,
            "options": q.options, "answer": q.answer_key, "points": q.points,
            "explanation": q.explanation, "pool": q.pool, "tags": q.tags,
        } for q in _questions_of(exam.id)],
    }


def list_exams_for_managers() -> list[dict]:
    counts = _question_counts()
    return [{
        "id": exam.id, "key": exam.key, "version": exam.version, "title": exam.title,
        "skill": exam.skill_code, "grants_level": exam.grants_level, "published": exam.published,
        "source": exam.source, "question_count": _drawn_count(exam, counts.get(exam.id, {})),
        "updated_at": exam.updated_at,
    } for exam in db.session.execute(sa.select(Exam).order_by(Exam.skill_code, Exam.grants_level,
                                                                Exam.id)).scalars()]


# ---------------------------------------------------------------------------------- bank files

def import_banks(path: str | Path, *, dry_run: bool = False) -> list[dict]:
    """`flask quizzes import PATH`: every bank file under PATH, all or nothing.

    Any problem in any file raises Invalid with every problem as `file:line: field: message` under
    errors["banks"], and nothing is imported. Otherwise each exam is created or updated in place
    (keyed by exam key and question key; attempts and certificates stay), and its media files are
    stored for GET /api/v1/media/quizzes/<name>. `dry_run`: check and report, change nothing.
    """
    banks, errors = bankfiles.read_banks(Path(path), _skill_levels())
    if errors:
        raise Invalid(f"{len(errors)} problem(s) in the bank files; nothing was imported.",
                      errors={"banks": errors}, slug="invalid-bank-files")
    report = []
    for bank in banks:
        doc = bank.document
        exam = _exam_by_key(doc["key"])
        if exam is not None and exam.content_hash == bank.content_hash and exam.source == "bank":
            action = "unchanged"
        elif dry_run:
            action = "would be created" if exam is None else "would be updated"
        else:
            action = "created" if exam is None else "updated"
            if exam is None:
                exam = Exam(key=doc["key"])
                db.session.add(exam)
            note_version = exam.version if action == "updated" else None
            _apply_document(exam, doc, source="bank", content_hash=bank.content_hash)
            if note_version is not None and note_version == doc["version"]:
                action = "updated (version not bumped)"
        if not dry_run:
            _store_media(bank.media)
        report.append({"key": doc["key"], "exam_id": exam.id if exam else None, "action": action,
                       "questions": len(doc["questions"]), "file": str(bank.path)})
    return report


def _store_media(files: list[bankfiles.MediaFile]) -> None:
    """Insert or replace the bank's media files (by name)."""
    if not files:
        return
    existing = {m.name: m for m in db.session.execute(
        sa.select(QuizMedia).where(QuizMedia.name.in_([f.name for f in files]))).scalars()}
    for item in files:
        media = existing.get(item.name)
        if media is None:
            media = QuizMedia(name=item.name)
            db.session.add(media)
        elif media.sha256 == item.sha256:
            continue
        media.content_type = item.content_type
        media.data = item.data
        media.sha256 = item.sha256
        media.updated_at = utcnow()
    db.session.flush()


# ------------------------------------------------------------------------------ worker: exams

def _published_exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or not exam.published:
        raise NotFound("No such exam.")
    return exam


def _question_counts() -> dict[int, dict[str, int]]:
    rows = db.session.execute(
        sa.select(Question.exam_id, Question.pool, sa.func.count()).where(Question.active.is_(True))
        .group_by(Question.exam_id, Question.pool))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for exam_id, pool, count in rows:
        counts[exam_id][pool] = count
    return counts


def _drawn_count(exam: Exam, pools: dict[str, int]) -> int:
    if not exam.draw:
        return sum(pools.values())
    return sum(min(entry["count"], pools.get(entry["pool"], 0)) for entry in exam.draw)


def _attempts_of(user_id: int, exam_ids: list[int]) -> dict[int, list[Attempt]]:
    by_exam: dict[int, list[Attempt]] = defaultdict(list)
    if exam_ids:
        rows = db.session.execute(sa.select(Attempt).where(Attempt.user_id == user_id,
                                                           Attempt.exam_id.in_(exam_ids))
                                  .order_by(Attempt.id)).scalars()
        for attempt in rows:
            by_exam[attempt.exam_id].append(attempt)
    return by_exam


def _certificates_of(user_id: int, exam_ids: list[int]) -> dict[int, list[Certificate]]:
    by_exam: dict[int, list[Certificate]] = defaultdict(list)
    if exam_ids:
        rows = db.session.execute(sa.select(Certificate).where(Certificate.user_id == user_id,
                                                               Certificate.exam_id.in_(exam_ids))
                                  .order_by(Certificate.id)).scalars()
        for certificate in rows:
            by_exam[certificate.exam_id].append(certificate)
    return by_exam


def _cycle(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts since the last pass: they count against attempts_allowed."""
    last_pass = max((i for i, a in enumerate(attempts) if a.passed), default=-1)
    return attempts[last_pass + 1:]


def _availability(exam: Exam, attempts: list[Attempt], certificates: list[Certificate], now: dt.datetime,
                  *, completed: dict[str, bool], levels: dict[str, int]) -> dict:
    """Whether the worker may start an attempt now, and if not, why (a stable reason code).
    `completed`: required course slug → completed by the worker; `levels`: the worker's levels."""
    open_attempt = next((a for a in attempts if a.status == "open"), None)
    cycle = _cycle(attempts)
    last = cycle[-1] if cycle else None
    retake_at = last.retake_at if last is not None and last.status == "graded" else None
    if retake_at is not None and retake_at <= now:
        retake_at = None
    reason = None
    if open_attempt is not None:
        reason = "attempt_open"
    elif exam.required_course and not completed.get(exam.required_course):
        reason = "course_required"
    elif levels.get(exam.skill_code, 0) < exam.required_level:
        reason = "level_required"
    elif any(_status(c, now) == "valid" and c.expires_at > now + RENEWAL_WINDOW for c in certificates):
        reason = "already_certified"
    elif len(cycle) >= exam.attempts_allowed:
        reason = "no_attempts_left"
    elif retake_at is not None:
        reason = "cooldown"
    return {
        "available": reason is None, "unavailable_reason": reason,
        "retake_at": retake_at if reason in (None, "cooldown") else None,
        "attempts_used": len(cycle), "open_attempt_id": open_attempt.id if open_attempt else None,
    }


def _requirements(user_id: int, exams: list[Exam]) -> dict:
    """What the availability rules need to know about the worker, asked once per request."""
    slugs = {exam.required_course for exam in exams if exam.required_course}
    return {"completed": {slug: courses.is_completed(user_id, slug) for slug in slugs},
            "levels": skills.levels_of(user_id)}


UNAVAILABLE_DETAILS = {
    "course_required": {"ko": "먼저 {course} 과정을 수료하세요.", "en": "Complete the course {course} first."},
    "level_required": {"ko": "이 시험은 {skill} 레벨 {level} 이상이 필요합니다.",
                       "en": "This exam needs level {level} in {skill} first."},
    "already_certified": {"ko": "이 시험의 유효한 인증서가 있습니다. 만료 30일 전부터 갱신할 수 있습니다.",
                          "en": "You hold a valid certificate from this exam; renew it within 30 days of "
                                "expiry."},
    "no_attempts_left": {"ko": "이 시험의 응시 기회 {attempts}번을 모두 사용했습니다.",
                         "en": "You have used all {attempts} attempts at this exam."},
    "cooldown": {"ko": "{retake_at}부터 다시 응시할 수 있습니다.", "en": "You can retake this exam at {retake_at}."},
}


def list_exams(user_id: int) -> list[dict]:
    """GET /exams: every published exam with what the worker can do about it right now."""
    now = utcnow()
    exams = list(db.session.execute(sa.select(Exam).where(Exam.published.is_(True))
                                    .order_by(Exam.skill_code, Exam.grants_level, Exam.id)).scalars())
    ids = [exam.id for exam in exams]
    attempts = _attempts_of(user_id, ids)
    if any(a.status == "open" and now >= a.deadline for rows in attempts.values() for a in rows):
        for rows in attempts.values():
            for attempt in rows:
                _close_if_expired(attempt, now)
    certificates = _certificates_of(user_id, ids)
    counts = _question_counts()
    known = _requirements(user_id, exams)
    items = []
    for exam in exams:
        state = _availability(exam, attempts[exam.id], certificates[exam.id], now, **known)
        current = next((c for c in reversed(certificates[exam.id]) if _status(c, now) == "valid"), None)
        items.append({
            "id": exam.id, "key": exam.key, "title": exam.title, "description": exam.description,
            "skill": exam.skill_code, "grants_level": exam.grants_level,
            "requires": {"course": exam.required_course, "skill_level": exam.required_level},
            "question_count": _drawn_count(exam, counts.get(exam.id, {})),
            "time_limit_s": exam.time_limit_s, "pass_percent": exam.pass_percent,
            "attempts_allowed": exam.attempts_allowed, "validity_days": exam.validity_days,
            "certificate": _certificate_brief(current, now) if current else None,
            **state,
        })
    return items


# ---------------------------------------------------------------------------- worker: attempts

def _lock_attempt(attempt_id: int) -> Attempt | None:
    return db.session.execute(
        sa.select(Attempt).where(Attempt.id == attempt_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _own_attempt(user_id: int, attempt_id: int, *, lock: bool) -> Attempt:
    attempt = _lock_attempt(attempt_id) if lock else db.session.get(Attempt, attempt_id)
    if attempt is None or attempt.user_id != user_id:
        raise NotFound("No such attempt.")
    return attempt


def _items_of(attempt_id: int) -> list[AttemptItem]:
    return list(db.session.execute(sa.select(AttemptItem).where(AttemptItem.attempt_id == attempt_id)
                                   .order_by(AttemptItem.position)).scalars())


def _questions_by_id(ids) -> dict[int, Question]:
    ids = list(ids)
    if not ids:
        return {}
    return {q.id: q for q in db.session.execute(sa.select(Question).where(Question.id.in_(ids))).scalars()}


def start_attempt(user_id: int, exam_id: int) -> dict:
    """POST /exams/{id}/attempts: draw the questions, set the deadline (409 while one is open)."""
    exam = _published_exam(exam_id)
    now = utcnow()
    attempts = _attempts_of(user_id, [exam.id])[exam.id]
    for attempt in attempts:
        _close_if_expired(attempt, now)
    certificates = _certificates_of(user_id, [exam.id])[exam.id]
    state = _availability(exam, attempts, certificates, now, **_requirements(user_id, [exam]))
    if state["open_attempt_id"] is not None:
        raise _open_attempt_conflict(state["open_attempt_id"])
    if not state["available"]:
        reason = state["unavailable_reason"]
        retake_at = state["retake_at"]
        headers = {"Retry-After": str(max(1, int((retake_at - now).total_seconds())))} if retake_at else None
        detail = localize(UNAVAILABLE_DETAILS[reason]).format(
            course=exam.required_course, level=exam.required_level, skill=exam.skill_code,
            attempts=exam.attempts_allowed, retake_at=_iso(retake_at))
        raise Conflict(detail, slug=f"exam-{reason.replace('_', '-')}", reason=reason,
                       retake_at=_iso(retake_at), headers=headers)
    questions = _questions_of(exam.id)
    if not questions:
        raise Conflict("This exam has no questions yet.", slug="exam-empty")
    seed = secrets.randbits(62)
    drawn = scoring.draw(seed, questions, exam.draw)
    points = {q.id: q.points for q in questions}
    attempt = Attempt(exam_id=exam.id, user_id=user_id, seed=seed, status="open", started_at=now,
                      deadline=now + dt.timedelta(seconds=exam.time_limit_s))
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
            db.session.flush()
    except IntegrityError:
        # A racing request opened one first (the partial unique index allows one open attempt).
        other = db.session.execute(sa.select(Attempt.id).where(
            Attempt.user_id == user_id, Attempt.exam_id == exam.id, Attempt.status == "open")).scalar()
        raise _open_attempt_conflict(other) from None
    for position, item in enumerate(drawn):
        db.session.add(AttemptItem(attempt_id=attempt.id, question_id=item.question_id, position=position,
                                   points=points[item.question_id], option_order=item.option_order))
    db.session.flush()
    return _attempt_view(attempt, exam)


def _open_attempt_conflict(attempt_id: int | None) -> Conflict:
    return Conflict(f"You already have an open attempt ({attempt_id}) at this exam; continue or submit it.",
                    slug="attempt-open", attempt_id=attempt_id)


def get_attempt(user_id: int, attempt_id: int) -> dict:
    """GET /attempts/{id}: the questions and saved answers; the result once graded."""
    attempt = _own_attempt(user_id, attempt_id, lock=False)
    if _close_if_expired(attempt, utcnow()):
        attempt = _own_attempt(user_id, attempt_id, lock=False)
    return _attempt_view(attempt, db.session.get(Exam, attempt.exam_id))


def _clean_reply(question: Question, answer, field: str) -> tuple[dict | None, dict[str, list[str]]]:
    """A worker's answer checked against the question's kind and options: (answer, errors)."""
    try:
        cleaned = compare.validate_answer(question.kind, answer)
    except ValidationError as error:
        return None, _field_errors(field, error.messages)
    ids = {option["id"] for option in question.options}
    if question.kind == "single_choice" and cleaned["choice"] not in ids:
        return None, {f"{field}.choice": ["Not an option of this question."]}
    if question.kind == "multi_choice":
        errors = {f"{field}.choices.{i}": ["Not an option of this question."]
                  for i, choice in enumerate(cleaned["choices"]) if choice not in ids}
        if len(set(cleaned["choices"])) != len(cleaned["choices"]):
            errors[f"{field}.choices"] = ["An option is chosen twice."]
        if errors:
            return None, errors
    return cleaned, {}


def _refuse_if_closed(attempt: Attempt, now: dt.datetime) -> None:
    """Answers are taken only while the attempt is open and before its deadline (409 otherwise)."""
    if attempt.status == "open" and now >= attempt.deadline:
        _grade(attempt, reason="deadline", closed_at=attempt.deadline, now=now)
        raise Conflict(f"The deadline passed at {_iso(attempt.deadline)}; the answers saved before it "
                       "were graded.", slug="deadline-passed", keep_changes=True, attempt_id=attempt.id)
    if attempt.status != "open":
        if attempt.closed_reason == "deadline":
            raise Conflict(f"The deadline passed at {_iso(attempt.deadline)}; the answers saved before it "
                           "were graded.", slug="deadline-passed", attempt_id=attempt.id)
        raise Conflict("This attempt was submitted; its answers can no longer change.",
                       slug="attempt-submitted", attempt_id=attempt.id)


def save_answer(user_id: int, attempt_id: int, question_id: int, answer) -> dict:
    """PUT /attempts/{id}/answers/{question_id}: autosave one answer (409 once closed)."""
    attempt = _own_attempt(user_id, attempt_id, lock=True)
    now = utcnow()
    _refuse_if_closed(attempt, now)
    item = db.session.execute(sa.select(AttemptItem).where(
        AttemptItem.attempt_id == attempt.id, AttemptItem.question_id == question_id)).scalar_one_or_none()
    if item is None:
        raise NotFound("No such question in this attempt.")
    cleaned, errors = _clean_reply(db.session.get(Question, question_id), answer, "answer")
    if errors:
        raise _invalid(errors)
    item.answer = cleaned
    item.answered_at = now
    db.session.flush()
    return {"question_id": question_id, "answer": cleaned, "answered_at": now}


def submit_attempt(user_id: int, attempt_id: int, answers: dict | None = None) -> dict:
    """POST /attempts/{id}/submission: save the given answers, grade, answer the result.

    A second (or racing) submission returns the first one's result; after the deadline → 409.
    """
    attempt = _own_attempt(user_id, attempt_id, lock=True)
    now = utcnow()
    if attempt.status == "graded" and attempt.closed_reason == "submitted":
        return _result(attempt)
    _refuse_if_closed(attempt, now)
    items = {item.question_id: item for item in _items_of(attempt.id)}
    questions = _questions_by_id(items)
    cleaned, errors = {}, {}
    for raw_id, answer in (answers or {}).items():
        question_id = int(raw_id) if str(raw_id).isdigit() else None
        if question_id not in items:
            errors[f"answers.{raw_id}"] = ["Not a question of this attempt."]
            continue
        reply, reply_errors = _clean_reply(questions[question_id], answer, f"answers.{raw_id}")
        errors.update(reply_errors)
        cleaned[question_id] = reply
    if errors:
        raise _invalid(errors)
    for question_id, reply in cleaned.items():
        items[question_id].answer = reply
        items[question_id].answered_at = now
    _grade(attempt, reason="submitted", closed_at=now, now=now)
    return _result(attempt)


def _close_if_expired(attempt: Attempt, now: dt.datetime) -> bool:
    """Grade an open attempt whose deadline passed (lazily, on read); True if this call graded it."""
    if attempt.status != "open" or now < attempt.deadline:
        return False
    locked = _lock_attempt(attempt.id)
    if locked is None or locked.status != "open":
        return False
    _grade(locked, reason="deadline", closed_at=locked.deadline, now=now)
    return True


def _grade_item(question: Question, answer: dict | None) -> compare.Grade:
    if answer is None:
        return compare.Grade(0.0, False)
    try:  # the question may have changed kind since the answer was saved (a re-import)
        reply = compare.validate_answer(question.kind, answer)
    except (ValidationError, ValueError):
        return compare.Grade(0.0, False)
    return compare.grade(question.kind, question.answer_key, reply)


def _grade(attempt: Attempt, *, reason: str, closed_at: dt.datetime, now: dt.datetime) -> None:
    """Grade a locked, open attempt once; issue the certificate or set the retake time."""
    exam = db.session.get(Exam, attempt.exam_id)
    items = _items_of(attempt.id)
    questions = _questions_by_id(item.question_id for item in items)
    total, max_score = 0.0, 0
    for item in items:
        grade = _grade_item(questions[item.question_id], item.answer)
        item.credit = grade.credit
        item.correct = grade.correct
        item.earned = round(grade.credit * item.points, 4)
        total += grade.credit * item.points
        max_score += item.points
    attempt.status = "graded"
    attempt.closed_at = closed_at
    attempt.closed_reason = reason
    attempt.graded_at = now
    attempt.score = round(total, 2)
    attempt.max_score = max_score
    attempt.percent = round(100 * total / max_score, 2) if max_score else 0.0
    attempt.passed = max_score > 0 and total * 100 >= exam.pass_percent * max_score - 1e-9
    db.session.flush()
    if attempt.passed:
        _issue_certificate(attempt, exam, closed_at)
        return
    attempts = list(db.session.execute(sa.select(Attempt).where(
        Attempt.user_id == attempt.user_id, Attempt.exam_id == exam.id).order_by(Attempt.id)).scalars())
    used = len(_cycle(attempts))
    attempt.retake_at = (closed_at + dt.timedelta(seconds=exam.retake_cooldown_s)
                         if used < exam.attempts_allowed else None)
    db.session.flush()
    events.exam_failed.send(user_id=attempt.user_id, exam_id=exam.id, attempt_id=attempt.id,
                            retake_at=attempt.retake_at)


def _attempts_left(attempt: Attempt, exam: Exam) -> int:
    attempts = list(db.session.execute(sa.select(Attempt).where(
        Attempt.user_id == attempt.user_id, Attempt.exam_id == exam.id).order_by(Attempt.id)).scalars())
    return max(0, exam.attempts_allowed - len(_cycle(attempts)))


def _ordered_options(question: Question, order: list[str] | None) -> list[dict]:
    """The options in the attempt's order (options added since come last, removed ones are gone)."""
    if not order:
        return list(question.options)
    by_id = {option["id"]: option for option in question.options}
    shown = [by_id[i] for i in order if i in by_id]
    return shown + [option for option in question.options if option["id"] not in order]


def _attempt_view(attempt: Attempt, exam: Exam) -> dict:
    items = _items_of(attempt.id)
    questions = _questions_by_id(item.question_id for item in items)
    view_questions = []
    for item in items:
        question = questions[item.question_id]
        entry = {"id": question.id, "kind": question.kind, "prompt": question.prompt,
                 "media": question.media, "options": _ordered_options(question, item.option_order),
                 "points": item.points, "answer": item.answer, "answered_at": item.answered_at}
        if question.kind == "rating":
            entry["dimensions"] = list(question.answer_key.get("scores", {}))
        view_questions.append(entry)
    return {
        "id": attempt.id, "exam_id": exam.id, "exam_title": exam.title, "status": attempt.status,
        "started_at": attempt.started_at, "deadline": attempt.deadline, "time_limit_s": exam.time_limit_s,
        "closed_at": attempt.closed_at, "closed_reason": attempt.closed_reason,
        "questions": view_questions,
        "result": _result(attempt, items=items, questions=questions) if attempt.status == "graded" else None,
    }


def _result(attempt: Attempt, items: list[AttemptItem] | None = None,
            questions: dict[int, Question] | None = None) -> dict:
    """A graded attempt's result: per question right or wrong with the explanation, never the key."""
    exam = db.session.get(Exam, attempt.exam_id)
    items = items if items is not None else _items_of(attempt.id)
    questions = questions if questions is not None else _questions_by_id(i.question_id for i in items)
    result = {
        "attempt_id": attempt.id, "exam_id": exam.id, "score": attempt.score,
        "max_score": attempt.max_score, "percent": attempt.percent, "passed": attempt.passed,
        "pass_percent": exam.pass_percent, "closed_reason": attempt.closed_reason,
        "graded_at": attempt.graded_at,
        "questions": [{
            "id": item.question_id, "correct": item.correct, "credit": item.credit, "points": item.points,
            "earned": item.earned, "explanation": questions[item.question_id].explanation,
        } for item in items],
    }
    if attempt.passed:
        certificate = db.session.execute(sa.select(Certificate).where(
            Certificate.attempt_id == attempt.id)).scalar_one_or_none()
        if certificate is not None:
            result["certificate"] = _certificate_brief(certificate, utcnow())
    else:
        result["retake_at"] = attempt.retake_at
        result["attempts_left"] = _attempts_left(attempt, exam)
    return result


# -------------------------------------------------------------------------------- certificates

def _status(certificate: Certificate, now: dt.datetime) -> str:
    if certificate.revoked_at is not None:
        return "revoked"
    return "expired" if certificate.expires_at <= now else "valid"


def _certificate_brief(certificate: Certificate, now: dt.datetime) -> dict:
    return {"code": certificate.code, "skill": certificate.skill_code, "level": certificate.level,
            "issued_at": certificate.issued_at, "expires_at": certificate.expires_at,
            "status": _status(certificate, now)}


def _new_code() -> str:
    while True:
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        code = "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))
        if db.session.execute(sa.select(Certificate.id).where(Certificate.code == code)).first() is None:
            return code


def normalize_code(code: str) -> str | None:
    """A code as people type it (any case, with or without dashes or spaces) → XXXX-XXXX-XXXX."""
    raw = "".join(ch for ch in str(code).upper() if ch not in "- ")
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def _certificate_by_code(code: str, *, lock: bool = False) -> Certificate:
    normalized = normalize_code(code)
    if normalized is None:
        raise NotFound("No certificate has this code.")
    stmt = sa.select(Certificate).where(Certificate.code == normalized)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    certificate = db.session.execute(stmt).scalar_one_or_none()
    if certificate is None:
        raise NotFound("No certificate has this code.")
    return certificate


def _issue_certificate(attempt: Attempt, exam: Exam, issued_at: dt.datetime) -> Certificate:
    certificate = Certificate(code=_new_code(), user_id=attempt.user_id, exam_id=exam.id,
                              attempt_id=attempt.id, skill_code=exam.skill_code, level=exam.grants_level,
                              issued_at=issued_at,
                              expires_at=issued_at + dt.timedelta(days=exam.validity_days))
    db.session.add(certificate)
    db.session.flush()
    events.certificate_issued.send(user_id=certificate.user_id, skill=certificate.skill_code,
                                   level=certificate.level, code=certificate.code,
                                   expires_at=certificate.expires_at, exam_id=exam.id)
    return certificate


def _covered(certificate: Certificate, now: dt.datetime) -> bool:
    """Another valid certificate of the worker holds the same skill at this level or higher."""
    return db.session.execute(sa.select(Certificate.id).where(
        Certificate.user_id == certificate.user_id, Certificate.skill_code == certificate.skill_code,
        Certificate.id != certificate.id, Certificate.revoked_at.is_(None), Certificate.expires_at > now,
        Certificate.level >= certificate.level).limit(1)).first() is not None


def _lapse(certificate: Certificate, status: str, now: dt.datetime) -> bool:
    """Handle a certificate's end once (expired or revoked): the skill's level drops unless covered."""
    claimed = db.session.execute(
        sa.update(Certificate).where(Certificate.id == certificate.id, Certificate.lapsed_at.is_(None))
        .values(lapsed_at=now).execution_options(synchronize_session="fetch")).rowcount
    if claimed != 1:
        return False
    if not _covered(certificate, now):
        events.certificate_lapsed.send(user_id=certificate.user_id, skill=certificate.skill_code,
                                       code=certificate.code, status=status)
    return True


def my_certificates(user_id: int) -> list[dict]:
    """GET /me/certificates, newest first."""
    now = utcnow()
    rows = db.session.execute(sa.select(Certificate, Exam.title).join(Exam, Exam.id == Certificate.exam_id)
                              .where(Certificate.user_id == user_id).order_by(Certificate.id.desc())).all()
    return [{**_certificate_brief(certificate, now), "exam_id": certificate.exam_id, "exam_title": title,
             "revoked_at": certificate.revoked_at} for certificate, title in rows]


def verify_certificate(code: str) -> dict:
    """GET /certificates/{code}, public: who holds it, what it certifies, whether it is valid."""
    certificate = _certificate_by_code(code)
    try:
        holder = accounts.get_user(certificate.user_id).display_name
    except NotFound:
        holder = None  # the account was deleted; the certificate's facts stay verifiable
    exam = db.session.get(Exam, certificate.exam_id)
    skill = skills.get_skill(certificate.skill_code)
    return {**_certificate_brief(certificate, utcnow()), "holder": holder, "skill_name": skill.name,
            "exam_title": exam.title, "revoked_at": certificate.revoked_at}


def revoke_certificate(code: str, reason: str, *, actor_id: int | None = None) -> dict:
    """POST /manage/certificates/{code}/revocation: the holder's level in the skill drops to 0
    (unless another valid certificate covers it). Revoking again changes nothing."""
    if not reason or not reason.strip():
        raise Invalid.field("reason", "A reason is required.")
    certificate = _certificate_by_code(code, lock=True)
    now = utcnow()
    if certificate.revoked_at is None:
        certificate.revoked_at = now
        certificate.revoked_by = actor_id
        certificate.revoke_reason = reason.strip()[:500]
        db.session.flush()
        audit.record(actor_id=actor_id, action="certificate.revoke", target_type="certificate",
                     target_id=certificate.code, reason=certificate.revoke_reason,
                     before={"status": "expired" if certificate.expires_at <= now else "valid"},
                     after={"status": "revoked", "user_id": certificate.user_id,
                            "skill": certificate.skill_code, "level": certificate.level})
        _lapse(certificate, "revoked", now)
    return {**verify_certificate(certificate.code), "user_id": certificate.user_id,
            "revoke_reason": certificate.revoke_reason}


# --------------------------------------------------------------------------------------- jobs

def close_expired_attempts(now: dt.datetime | None = None) -> int:
    """Scheduled: grade the open attempts whose deadline passed, with the answers saved before it."""
    now = now or utcnow()
    ids = list(db.session.execute(sa.select(Attempt.id).where(
        Attempt.status == "open", Attempt.deadline <= now).order_by(Attempt.deadline).limit(JOB_BATCH)
    ).scalars())
    closed = 0
    for attempt_id in ids:
        attempt = _lock_attempt(attempt_id)
        if attempt is not None and attempt.status == "open" and now >= attempt.deadline:
            _grade(attempt, reason="deadline", closed_at=attempt.deadline, now=now)
            closed += 1
    return closed


def expire_certificates(now: dt.datetime | None = None) -> int:
    """Scheduled: certificates past their expiry send certificate_lapsed (once each)."""
    now = now or utcnow()
    rows = list(db.session.execute(sa.select(Certificate).where(
        Certificate.revoked_at.is_(None), Certificate.lapsed_at.is_(None), Certificate.expires_at <= now)
        .order_by(Certificate.expires_at).limit(JOB_BATCH)).scalars())
    return sum(1 for certificate in rows if _lapse(certificate, "expired", now))


# ------------------------------------------------------------------------- for other domains

def certificates_expiring_between(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Valid certificates expiring in [start, end) that no later certificate of the same worker,
    skill and level (or higher) already replaces: [{user_id, code, skill, level, expires_at}]."""
    now = utcnow()
    newer = aliased(Certificate)
    replaced = sa.exists().where(
        newer.user_id == Certificate.user_id, newer.skill_code == Certificate.skill_code,
        newer.id != Certificate.id, newer.revoked_at.is_(None), newer.level >= Certificate.level,
        newer.expires_at > Certificate.expires_at)
    rows = db.session.execute(sa.select(Certificate).where(
        Certificate.revoked_at.is_(None), Certificate.expires_at >= start, Certificate.expires_at < end,
        Certificate.expires_at > now, ~replaced).order_by(Certificate.expires_at, Certificate.id)).scalars()
    return [{"user_id": c.user_id, "code": c.code, "skill": c.skill_code, "level": c.level,
             "expires_at": c.expires_at} for c in rows]


def certificate_counts() -> dict[str, int]:
    """Workers holding a valid certificate, per skill code (one grouped query)."""
    rows = db.session.execute(sa.select(Certificate.skill_code, sa.func.count(sa.distinct(Certificate.user_id)))
                              .where(Certificate.revoked_at.is_(None), Certificate.expires_at > utcnow())
                              .group_by(Certificate.skill_code))
    return dict(rows.all())


def certified_users(valid_at: dt.datetime | None = None):
    """A statement selecting the ids of users holding a certificate that was not revoked (with
    `valid_at`: one still valid then), to compose into other queries (the workforce funnel)."""
    stmt = sa.select(Certificate.user_id).where(Certificate.revoked_at.is_(None))
    if valid_at is not None:
        stmt = stmt.where(Certificate.expires_at > valid_at)
    return stmt.distinct()


# --------------------------------------------------------------------------------------- stats

def exam_stats(exam_id: int) -> dict:
    """GET /manage/exams/{id}/stats: pass rate, score distribution, and per question the share
    answering right and its point-biserial discrimination (against the rest of the score)."""
    exam = _get_exam(exam_id)
    graded = list(db.session.execute(sa.select(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.status == "graded")).scalars())
    open_count = db.session.execute(sa.select(sa.func.count()).select_from(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.status == "open")).scalar()
    by_attempt = {a.id: a for a in graded}
    rows = db.session.execute(
        sa.select(AttemptItem.attempt_id, AttemptItem.question_id, AttemptItem.correct, AttemptItem.earned,
                  AttemptItem.points)
        .join(Attempt, Attempt.id == AttemptItem.attempt_id)
        .where(Attempt.exam_id == exam.id, Attempt.status == "graded")).all()
    per_question: dict[int, tuple[list[bool], list[float], list[float]]] = defaultdict(lambda: ([], [], []))
    for attempt_id, question_id, correct, earned, points in rows:
        attempt = by_attempt[attempt_id]
        rest_max = attempt.max_score - points
        rest = 100 * (attempt.score - earned) / rest_max if rest_max > 0 else 0.0
        flags, rests, credits = per_question[question_id]
        flags.append(bool(correct))
        rests.append(rest)
        credits.append(earned / points if points else 0.0)
    questions = []
    for question in _questions_of(exam.id, active_only=False):
        corrects, rests, credits = per_question.get(question.id, ([], [], []))
        if not corrects and not question.active:
            continue
        n = len(corrects)
        share = sum(corrects) / n if n else None
        discrimination = scoring.point_biserial(corrects, rests)
        questions.append({
            "id": question.id, "key": question.key, "kind": question.kind, "pool": question.pool,
            "active": question.active, "responses": n,
            "share_correct": round(share, 4) if share is not None else None,
            "mean_credit": round(sum(credits) / n, 4) if n else None,
            "discrimination": round(discrimination, 4) if discrimination is not None else None,
            "flags": scoring.item_flags(n, share, discrimination),
        })
    passed = sum(1 for a in graded if a.passed)
    percents = [a.percent or 0.0 for a in graded]
    return {
        "exam_id": exam.id, "attempts": len(graded), "open_attempts": open_count, "passed": passed,
        "pass_rate": round(passed / len(graded), 4) if graded else None,
        "mean_percent": round(sum(percents) / len(percents), 2) if percents else None,
        "distribution": scoring.distribution(percents),
        "questions": questions,
    }


# ------------------------------------------------------------------------------ personal data

def export_personal_data(user_id: int) -> dict:
    """Everything certification holds about a worker, for the personal-data export (backend.privacy):
    attempts with the worker's own answers and results, and certificates. Nothing is erased on
    account deletion: certificates stay verifiable, under the anonymised display name."""
    attempts = list(db.session.execute(sa.select(Attempt, Exam.key).join(Exam, Exam.id == Attempt.exam_id)
                                       .where(Attempt.user_id == user_id).order_by(Attempt.id)).all())
    items = defaultdict(list)
    if attempts:
        for item in db.session.execute(sa.select(AttemptItem).where(
                AttemptItem.attempt_id.in_([a.id for a, _ in attempts])).order_by(AttemptItem.position)).scalars():
            items[item.attempt_id].append({"question_id": item.question_id, "answer": item.answer,
                                           "answered_at": item.answered_at, "correct": item.correct})
    return {
        "attempts": [{"id": a.id, "exam": key, "started_at": a.started_at, "deadline": a.deadline,
                      "closed_at": a.closed_at, "closed_reason": a.closed_reason, "score": a.score,
                      "max_score": a.max_score, "percent": a.percent, "passed": a.passed,
                      "answers": items[a.id]} for a, key in attempts],
        "certificates": [{key: value for key, value in c.items() if key != "exam_title"}
                         for c in my_certificates(user_id)],
    }
