"""Human review of submissions, fairly: sampling, the queue, decisions, appeals, finality.

Sampling. When the engine accepts a normal (non-gold) answer (`submission_accepted`), it is picked
for review with a probability that depends on the worker: REVIEW_SAMPLE_RATE in general,
REVIEW_SAMPLE_RATE_NEW while the worker has given at most REVIEW_NEW_WORKER_ANSWERS answers in the
project, REVIEW_SAMPLE_RATE_LOW_ACCURACY when their gold accuracy there (from 5 gold answers) is
under REVIEW_LOW_ACCURACY, and always when the answer was fast (floors.py). The highest applies.
A picked answer waits in the queue until the review deadline (REVIEW_DEADLINE_S after it was
submitted; by default the ledger's REVIEW_WINDOW_S, or 3 days when that is 0), then the job
`quality.auto_approve_reviews` approves it. Reviewers may also decide any other normal answer
before that deadline.

Decisions and finality. An approval is final at once. A rejection names a reason from the
catalogue (REASONS, plus a free note) and reaches the worker (notification, earnings entry, GET
/me/reviews); the worker may appeal within APPEAL_WINDOW_S. The rejection becomes final when the
window closes unappealed (job `quality.finalize_rejections`) or when a different reviewer decides
the appeal (upheld: final rejection; overturned: final approval). `submission_reviewed(
submission_id, user_id, decision, reason, final)` is sent for every decision and again when a
rejection becomes final; the ledger keeps a rejected reward pending until the final event, and
reverses it then (also from `available` when REVIEW_WINDOW_S is 0 and it was released at once).

Levels. Only final human decisions count toward the worker's level (skills/rules.py): an approval
as a right answer, a final rejection as a wrong one; automatic approvals count for nothing.
"""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import events, privacy
from backend.audit import services as audit
from backend.database import utcnow
from backend.errors import Conflict, Forbidden, Invalid, NotFound
from backend.extensions import db
from backend.quality import floors
from backend.quality.models import Appeal, Review, ReviewSample, WorkerProjectStats
from backend.skills import rules

_random = random.Random()

DEFAULTS: dict[str, float | int] = {
    "APPEAL_WINDOW_S": 7 * 24 * 3600,
    "REVIEW_SAMPLE_RATE": 0.05,
    "REVIEW_SAMPLE_RATE_NEW": 0.25,
    "REVIEW_SAMPLE_RATE_LOW_ACCURACY": 0.5,
    "REVIEW_NEW_WORKER_ANSWERS": 50,
    "REVIEW_LOW_ACCURACY": 0.8,
}
DEFAULT_DEADLINE_S = 3 * 24 * 3600  # when REVIEW_WINDOW_S is 0 (rewards released at once)
LOW_ACCURACY_MIN_GOLD = 5

# The catalogue of rejection reasons: what the worker reads (their locale).
REASONS: dict[str, dict] = {
    "wrong_label": {"ko": "잘못된 라벨을 선택했습니다", "en": "Wrong label"},
    "instructions_not_followed": {"ko": "작업 지침을 따르지 않았습니다", "en": "The instructions were not followed"},
    "incomplete": {"ko": "답변이 완전하지 않습니다", "en": "The answer is incomplete"},
    "inaccurate_boxes": {"ko": "박스 위치나 크기가 정확하지 않습니다", "en": "The boxes are not accurate"},
    "transcription_errors": {"ko": "전사 오류가 많습니다", "en": "Too many transcription errors"},
    "poor_media": {"ko": "사진·녹음·영상의 품질이 낮습니다", "en": "The photo, recording or video is of poor quality"},
    "not_what_was_asked": {"ko": "요청한 내용과 다릅니다", "en": "Not what the task asked for"},
    "careless": {"ko": "무작위이거나 성의 없는 답변입니다", "en": "A random or careless answer"},
    "other": {"ko": "기타", "en": "Other"},
}
NOTE_REQUIRED = {"other"}


def setting(name: str):
    value = current_app.config.get(name)
    default = DEFAULTS[name]
    return default if value in (None, "") else type(default)(value)


def review_deadline_s() -> int:
    """Seconds a submission may be reviewed after it was submitted (then approved automatically)."""
    configured = current_app.config.get("REVIEW_DEADLINE_S")
    if configured not in (None, "", 0):
        return int(configured)
    window = int(current_app.config.get("REVIEW_WINDOW_S", 0) or 0)
    return window if window > 0 else DEFAULT_DEADLINE_S


def reasons_catalogue() -> list[dict]:
    return [{"code": code, "text": text, "note_required": code in NOTE_REQUIRED} for code, text in REASONS.items()]


def reason_text(reason_code: str | None, note: str | None) -> dict | None:
    """What the worker reads: the catalogue text in both languages, with the reviewer's note."""
    if reason_code is None and not note:
        return None
    base = REASONS.get(reason_code or "other", REASONS["other"])
    if not note:
        return dict(base)
    if reason_code in (None, "other"):
        return {"ko": note, "en": note}
    return {loc: f"{base[loc]} — {note}" for loc in ("ko", "en")}


# ----------------------------------------------------------------------------- the engine's tables

def _engine():
    from backend.microtasks.models import Project, Submission, Task  # read only

    return Project, Submission, Task


def _submission(submission_id: int):
    Project, Submission, _ = _engine()
    row = db.session.execute(
        sa.select(Submission.id, Submission.user_id, Submission.project_id, Submission.is_gold,
                  Submission.created_at, Submission.duration_ms, Project.skill_code)
        .join(Project, Project.id == Submission.project_id).where(Submission.id == submission_id)).first()
    if row is None:
        raise NotFound(f"No submission {submission_id}.", slug="submission-not-found")
    return row


# ----------------------------------------------------------------------------- sampling


def sample_rate(observation: floors.Observation) -> tuple[float, list[str]]:
    """The chance this answer is reviewed, and why."""
    rates = [(setting("REVIEW_SAMPLE_RATE"), "random")]
    if observation.answers <= setting("REVIEW_NEW_WORKER_ANSWERS"):
        rates.append((setting("REVIEW_SAMPLE_RATE_NEW"), "new_worker"))
    if observation.gold_answers >= LOW_ACCURACY_MIN_GOLD and \
            observation.gold_correct / observation.gold_answers < setting("REVIEW_LOW_ACCURACY"):
        rates.append((setting("REVIEW_SAMPLE_RATE_LOW_ACCURACY"), "low_accuracy"))
    if observation.fast:
        rates.append((1.0, "fast"))
    rate = max(r for r, _ in rates)
    reasons = [why for r, why in rates if why != "random" and r > 0] or ["random"]
    return rate, reasons


def sample_submission(submission_id: int, user_id: int, project_id: int, submitted_at: dt.datetime,
                      observation: floors.Observation) -> ReviewSample | None:
    rate, reasons = sample_rate(observation)
    if rate <= 0 or _random.random() >= rate:
        return None
    row = ReviewSample(submission_id=submission_id, user_id=user_id, project_id=project_id, reasons=reasons,
                       status="open", created_at=submitted_at,
                       due_at=submitted_at + dt.timedelta(seconds=review_deadline_s()))
    db.session.add(row)
    db.session.flush()
    return row


def score_answer(user_id: int, project_id: int, skill_code: str, *, gold: bool, correct: bool | None,
                 duration_ms: int | None, at: dt.datetime) -> floors.Observation:
    """What one accepted answer changes: the fast check and the floors (may pause the worker on
    the project), then, for a scored gold answer, the level rules (may promote or demote)."""
    observation = floors.observe(user_id, project_id, skill_code, gold=gold, correct=correct,
                                 duration_ms=duration_ms, now=at)
    if gold and correct is not None:
        rules.record_outcome(user_id, skill_code, bool(correct), gold=True, answered_at=at)
    return observation


def on_submission_accepted(_sender=None, *, submission_id: int, user_id: int, project_id: int,
                           gold: bool = False, correct: bool | None = None, skill_code: str | None = None,
                           duration_ms: int | None = None, submitted_at: dt.datetime | None = None, **_):
    """Every accepted answer: score it (floors, levels), and sample normal answers for review."""
    if skill_code is None or submitted_at is None:  # an event without the engine's details: read them
        try:
            sub = _submission(submission_id)
        except NotFound:  # an event not about a stored submission (other domains' tests send such)
            return
        skill_code, duration_ms, submitted_at = sub.skill_code, sub.duration_ms, sub.created_at
    observation = score_answer(user_id, project_id, skill_code, gold=bool(gold), correct=correct,
                               duration_ms=duration_ms, at=submitted_at)
    if not gold:
        sample_submission(submission_id, user_id, project_id, submitted_at, observation)


# ----------------------------------------------------------------------------- emitting


def _emit(review: Review, decision: str, final: bool, appeal: bool = False) -> None:
    events.submission_reviewed.send(
        submission_id=review.submission_id, user_id=review.user_id, decision=decision,
        reason=reason_text(review.reason_code, review.note) if decision == "rejected" else None, final=final,
        appeal=appeal)


def _count_for_level(review: Review) -> None:
    """A final human decision counts toward the worker's level (work done at their current level)."""
    if review.auto or review.outcome is None:
        return
    sub = _submission(review.submission_id)
    rules.record_outcome(review.user_id, sub.skill_code, review.outcome == "approved", gold=False,
                         answered_at=sub.created_at)


def _finalise(review: Review, outcome: str, now: dt.datetime, appeal: bool = False) -> None:
    review.final, review.outcome, review.final_at = True, outcome, now
    db.session.flush()
    _emit(review, outcome, True, appeal)
    _count_for_level(review)


# ----------------------------------------------------------------------------- the queue


def _worker_stats(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], WorkerProjectStats]:
    if not pairs:
        return {}
    rows = db.session.execute(sa.select(WorkerProjectStats).where(
        sa.tuple_(WorkerProjectStats.user_id, WorkerProjectStats.project_id).in_(list(pairs)))).scalars()
    return {(row.user_id, row.project_id): row for row in rows}


def _media_link(submission_id: int, task_type: str) -> str | None:
    return f"/api/v1/manage/submissions/{submission_id}/media" if task_type == "collection" else None


def review_queue(*, project_id: int | None = None, user_id: int | None = None, after_id: int | None = None,
                 limit: int = 20) -> tuple[list[dict], int | None]:
    """GET /manage/reviews: sampled submissions waiting for a decision, oldest first."""
    Project, Submission, Task = _engine()
    stmt = (sa.select(ReviewSample, Submission.answer, Submission.duration_ms, Submission.late,
                      Submission.task_id, Task.payload, Project.title, Project.task_type, Project.skill_code,
                      Project.instructions, Project.config)
            .join(Submission, Submission.id == ReviewSample.submission_id)
            .join(Task, Task.id == Submission.task_id)
            .join(Project, Project.id == ReviewSample.project_id)
            .where(ReviewSample.status == "open", ReviewSample.due_at > utcnow()))
    if project_id is not None:
        stmt = stmt.where(ReviewSample.project_id == project_id)
    if user_id is not None:
        stmt = stmt.where(ReviewSample.user_id == user_id)
    if after_id is not None:
        stmt = stmt.where(ReviewSample.submission_id > after_id)
    rows = db.session.execute(stmt.order_by(ReviewSample.submission_id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    stats = _worker_stats({(row[0].user_id, row[0].project_id) for row in rows})
    items = []
    for sample, answer, duration_ms, late, task_id, payload, title, task_type, skill, instructions, config in rows:
        worker = stats.get((sample.user_id, sample.project_id))
        items.append({
            "submission_id": sample.submission_id, "project_id": sample.project_id, "project_title": title,
            "skill": skill, "task_type": task_type, "worker_id": sample.user_id,
            "task": {"id": task_id, "type": task_type, "payload": payload}, "config": config,
            "instructions": instructions, "answer": answer, "duration_ms": duration_ms, "late": late,
            "submitted_at": sample.created_at, "due_at": sample.due_at, "sample_reasons": sample.reasons,
            "media_url": _media_link(sample.submission_id, task_type),
            "worker_stats": {
                "answers": worker.answers if worker else 0,
                "gold_answers": worker.gold_answers if worker else 0,
                "gold_accuracy": round(worker.gold_correct / worker.gold_answers, 4)
                if worker and worker.gold_answers else None,
                "fast_answers": worker.fast_answers if worker else 0,
            },
        })
    return items, (rows[-1][0].submission_id if more and rows else None)


# ----------------------------------------------------------------------------- decisions


_UNSET = object()


def review_view(review: Review, appeal=_UNSET) -> dict:
    if appeal is _UNSET:
        appeal = db.session.execute(sa.select(Appeal).where(Appeal.review_id == review.id)).scalar_one_or_none()
    now = utcnow()
    return {
        "id": review.id, "submission_id": review.submission_id, "worker_id": review.user_id,
        "project_id": review.project_id, "reviewer_id": review.reviewer_id, "auto": review.auto,
        "decision": review.decision, "reason_code": review.reason_code,
        "reason": reason_text(review.reason_code, review.note) if review.decision == "rejected" else None,
        "note": review.note, "decided_at": review.decided_at, "appeal_until": review.appeal_until,
        "final": review.final, "outcome": review.outcome, "final_at": review.final_at,
        "can_appeal": (review.decision == "rejected" and not review.final and not review.appealed
                       and review.appeal_until is not None and now < review.appeal_until),
        "appeal": appeal_view(appeal, review) if appeal is not None else None,
    }


def _clean_decision(decision: str, reason_code: str | None, note: str | None) -> tuple[str, str | None, str | None]:
    outcome = {"approve": "approved", "reject": "rejected"}.get(decision)
    if outcome is None:
        raise Invalid.field("decision", "Must be approve or reject.")
    note = (note or "").strip() or None
    if outcome == "approved":
        return outcome, None, note
    if reason_code is None:
        raise Invalid.field("reason_code", f"A rejection needs a reason: one of {', '.join(REASONS)}.")
    if reason_code not in REASONS:
        raise Invalid.field("reason_code", f"Unknown reason; one of {', '.join(REASONS)}.")
    if reason_code in NOTE_REQUIRED and not note:
        raise Invalid.field("note", "Say what is wrong.")
    return outcome, reason_code, note


def decide(submission_id: int, reviewer_id: int, decision: str, reason_code: str | None = None,
           note: str | None = None) -> dict:
    """POST /manage/submissions/{id}/review: approve, or reject with a catalogue reason."""
    outcome, reason_code, note = _clean_decision(decision, reason_code, note)
    sub = _submission(submission_id)
    if sub.user_id == reviewer_id:
        raise Forbidden("Nobody reviews their own work.", slug="own-submission")
    if sub.is_gold:
        raise Conflict("Gold answers are scored automatically.", slug="gold-scored-automatically")
    if db.session.execute(sa.select(Review.id).where(Review.submission_id == submission_id)).first():
        raise Conflict("This submission was already reviewed.", slug="already-reviewed")
    now = utcnow()
    sample = db.session.get(ReviewSample, submission_id)
    deadline = sample.due_at if sample is not None else sub.created_at + dt.timedelta(seconds=review_deadline_s())
    if now >= deadline:
        raise Conflict("The review window of this submission has closed (it is approved automatically).",
                       slug="review-window-closed", deadline=deadline.isoformat().replace("+00:00", "Z"))
    appeal_window = setting("APPEAL_WINDOW_S")
    review = Review(submission_id=submission_id, user_id=sub.user_id, project_id=sub.project_id,
                    reviewer_id=reviewer_id, decision=outcome, reason_code=reason_code, note=note, auto=False,
                    decided_at=now, appealed=False, final=False,
                    appeal_until=now + dt.timedelta(seconds=appeal_window) if outcome == "rejected" else None)
    try:
        with db.session.begin_nested():
            db.session.add(review)
            db.session.flush()
    except IntegrityError:
        raise Conflict("This submission was already reviewed.", slug="already-reviewed") from None
    if sample is not None:
        db.session.execute(sa.update(ReviewSample).where(ReviewSample.submission_id == submission_id)
                           .values(status="decided").execution_options(synchronize_session=False))
    if outcome == "approved" or appeal_window <= 0:
        _finalise(review, outcome, now)
    else:
        _emit(review, "rejected", False)
    if outcome == "rejected":
        audit.record(actor_id=reviewer_id, action="review.reject", target_type="submission",
                     target_id=submission_id, reason=note,
                     after={"reason_code": reason_code, "worker_id": sub.user_id,
                            "appeal_until": review.appeal_until.isoformat() if review.appeal_until else None})
    return review_view(review)


# ----------------------------------------------------------------------------- appeals


def appeal_view(appeal: Appeal, review: Review | None = None) -> dict:
    review = review or db.session.get(Review, appeal.review_id)
    return {
        "id": appeal.id, "review_id": appeal.review_id, "submission_id": appeal.submission_id,
        "worker_id": appeal.user_id, "message": appeal.message, "status": appeal.status,
        "created_at": appeal.created_at, "decided_at": appeal.decided_at, "decided_by": appeal.decided_by,
        "decision_note": appeal.decision_note,
    }


def appeal(user_id: int, submission_id: int, message: str) -> dict:
    """POST /submissions/{id}/appeal: the worker disputes a rejection within the appeal window."""
    message = (message or "").strip()
    if not message:
        raise Invalid.field("message", "Say why the rejection is wrong.")
    review = db.session.execute(sa.select(Review).where(Review.submission_id == submission_id,
                                                        Review.user_id == user_id)).scalar_one_or_none()
    if review is None or review.decision != "rejected":
        raise NotFound(f"No rejection of submission {submission_id}.", slug="rejection-not-found")
    if review.appealed:
        raise Conflict("This rejection is already appealed.", slug="already-appealed")
    now = utcnow()
    # Compare-and-set on the review row itself, so the finalising job and this appeal never both win.
    done = db.session.execute(
        sa.update(Review).where(Review.id == review.id, Review.final == sa.false(), Review.appealed == sa.false(),
                                Review.appeal_until > now)
        .values(appealed=True).execution_options(synchronize_session=False)).rowcount
    if not done:
        db.session.refresh(review)
        if review.appealed:
            raise Conflict("This rejection is already appealed.", slug="already-appealed")
        raise Conflict("The appeal window of this rejection has closed.", slug="appeal-window-closed")
    row = Appeal(review_id=review.id, submission_id=submission_id, user_id=user_id, message=message[:2000],
                 status="open", created_at=now)
    db.session.add(row)
    db.session.flush()
    db.session.refresh(review)
    return appeal_view(row, review)


def _appeal_item(appeal: Appeal, review: Review, reviewer_id: int, extra) -> dict:
    answer, task_id, payload, title, task_type, config, instructions = extra
    return {
        **appeal_view(appeal, review),
        "project_id": review.project_id, "project_title": title, "task_type": task_type,
        "task": {"id": task_id, "type": task_type, "payload": payload}, "config": config,
        "instructions": instructions, "answer": answer, "media_url": _media_link(appeal.submission_id, task_type),
        "review": {"id": review.id, "reviewer_id": review.reviewer_id, "decision": review.decision,
                   "reason_code": review.reason_code, "reason": reason_text(review.reason_code, review.note),
                   "note": review.note, "decided_at": review.decided_at},
        "can_decide": appeal.status == "open" and review.reviewer_id != reviewer_id and appeal.user_id != reviewer_id,
    }


def list_appeals(reviewer_id: int, *, status: str | None = "open", include_own: bool = False,
                 after_id: int | None = None, limit: int = 20) -> tuple[list[dict], int | None]:
    """GET /manage/appeals: oldest first. Open appeals of the caller's own rejections are left out
    (another reviewer decides them) unless include_own."""
    Project, Submission, Task = _engine()
    stmt = (sa.select(Appeal, Review, Submission.answer, Submission.task_id, Task.payload, Project.title,
                      Project.task_type, Project.config, Project.instructions)
            .join(Review, Review.id == Appeal.review_id)
            .join(Submission, Submission.id == Appeal.submission_id)
            .join(Task, Task.id == Submission.task_id)
            .join(Project, Project.id == Review.project_id))
    if status:
        stmt = stmt.where(Appeal.status == status)
    if not include_own:
        stmt = stmt.where(sa.or_(Review.reviewer_id.is_(None), Review.reviewer_id != reviewer_id))
    if after_id is not None:
        stmt = stmt.where(Appeal.id > after_id)
    rows = db.session.execute(stmt.order_by(Appeal.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_appeal_item(row[0], row[1], reviewer_id, row[2:]) for row in rows]
    return items, (rows[-1][0].id if more and rows else None)


def decide_appeal(appeal_id: int, reviewer_id: int, decision: str, note: str | None = None) -> dict:
    """POST /manage/appeals/{id}/decision {decision: uphold|overturn}: by another reviewer."""
    status = {"uphold": "upheld", "overturn": "overturned"}.get(decision)
    if status is None:
        raise Invalid.field("decision", "Must be uphold or overturn.")
    row = db.session.get(Appeal, appeal_id)
    if row is None:
        raise NotFound(f"No appeal {appeal_id}.", slug="appeal-not-found")
    review = db.session.get(Review, row.review_id)
    if review.reviewer_id == reviewer_id:
        raise Forbidden("An appeal is decided by a reviewer other than the one who rejected.",
                        slug="appeal-own-review")
    if row.user_id == reviewer_id:
        raise Forbidden("Nobody decides an appeal of their own work.", slug="own-submission")
    now = utcnow()
    note = (note or "").strip() or None
    done = db.session.execute(
        sa.update(Appeal).where(Appeal.id == appeal_id, Appeal.status == "open")
        .values(status=status, decided_by=reviewer_id, decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False)).rowcount
    if not done:
        raise Conflict("This appeal was already decided.", slug="appeal-decided")
    db.session.refresh(row)
    _finalise(review, "rejected" if status == "upheld" else "approved", now, appeal=True)
    audit.record(actor_id=reviewer_id, action=f"review.appeal_{status}", target_type="submission",
                 target_id=row.submission_id, reason=note,
                 before={"decision": "rejected", "reason_code": review.reason_code,
                         "reviewer_id": review.reviewer_id},
                 after={"outcome": review.outcome, "appeal_id": row.id})
    return appeal_view(row, review)


# ----------------------------------------------------------------------------- the worker's side


def my_reviews(user_id: int, *, after_id: int | None = None, limit: int = 20) -> tuple[list[dict], int | None]:
    """GET /me/reviews: the worker's rejected submissions, newest first, with the reason, the
    appeal deadline and the appeal's state."""
    Project, _, _ = _engine()
    stmt = (sa.select(Review, Project.title).join(Project, Project.id == Review.project_id)
            .where(Review.user_id == user_id, Review.decision == "rejected"))
    if after_id is not None:
        stmt = stmt.where(Review.id < after_id)
    rows = db.session.execute(stmt.order_by(Review.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    appeals = {a.review_id: a for a in db.session.execute(
        sa.select(Appeal).where(Appeal.review_id.in_([review.id for review, _ in rows]))).scalars()} if rows else {}
    items = [{**review_view(review, appeals.get(review.id)), "project_title": title} for review, title in rows]
    return items, (rows[-1][0].id if more and rows else None)


# ----------------------------------------------------------------------------- jobs


def auto_approve_due(limit: int = 500) -> int:
    """Scheduled: sampled submissions nobody reviewed before their deadline are approved.
    Idempotent, and safe beside a second scheduler (compare-and-set on the sample)."""
    now = utcnow()
    due = db.session.execute(
        sa.select(ReviewSample.submission_id, ReviewSample.user_id, ReviewSample.project_id)
        .where(ReviewSample.status == "open", ReviewSample.due_at <= now)
        .order_by(ReviewSample.due_at).limit(limit)).all()
    approved = 0
    for submission_id, user_id, project_id in due:
        taken = db.session.execute(
            sa.update(ReviewSample).where(ReviewSample.submission_id == submission_id, ReviewSample.status == "open")
            .values(status="decided").execution_options(synchronize_session=False)).rowcount
        if not taken:
            continue
        review = Review(submission_id=submission_id, user_id=user_id, project_id=project_id, reviewer_id=None,
                        decision="approved", auto=True, decided_at=now, appealed=False, final=True,
                        outcome="approved", final_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(review)
                db.session.flush()
        except IntegrityError:
            continue  # a reviewer decided it at the last moment
        _emit(review, "approved", True)
        approved += 1
    return approved


def finalize_due(limit: int = 500) -> int:
    """Scheduled: rejections whose appeal window closed without an appeal become final (the
    ledger then reverses the reward). Idempotent; compare-and-set on the review row."""
    now = utcnow()
    due = db.session.execute(
        sa.select(Review.id).where(Review.final == sa.false(), Review.appealed == sa.false(),
                                   Review.appeal_until <= now)
        .order_by(Review.appeal_until).limit(limit)).scalars().all()
    finalised = 0
    for review_id in due:
        done = db.session.execute(
            sa.update(Review).where(Review.id == review_id, Review.final == sa.false(), Review.appealed == sa.false())
            .values(final=True, outcome="rejected", final_at=now).execution_options(synchronize_session=False)
        ).rowcount
        if not done:
            continue
        review = db.session.get(Review, review_id)
        db.session.refresh(review)
        _emit(review, "rejected", True)
        _count_for_level(review)
        finalised += 1
    return finalised


# ----------------------------------------------------------------------------- wiring


def export_reviews(user_id: int) -> dict:
    reviews = db.session.execute(sa.select(Review).where(Review.user_id == user_id, Review.auto == sa.false())
                                 .order_by(Review.id)).scalars().all()
    appeals = {a.review_id: a for a in db.session.execute(
        sa.select(Appeal).where(Appeal.user_id == user_id)).scalars()}
    return {
        "reviews": [{"submission_id": r.submission_id, "decision": r.decision, "reason": reason_text(r.reason_code, r.note)
                     if r.decision == "rejected" else None, "decided_at": r.decided_at, "outcome": r.outcome,
                     "appeal": {"message": appeals[r.id].message, "status": appeals[r.id].status,
                                "created_at": appeals[r.id].created_at} if r.id in appeals else None}
                    for r in reviews],
        "pauses": floors.export_pauses(user_id),
    }


def erase_reviews(user_id: int) -> None:
    """Account deletion: the worker's own words (appeal messages) go; decisions stay with the work."""
    db.session.execute(sa.update(Appeal).where(Appeal.user_id == user_id).values(message="")
                       .execution_options(synchronize_session=False))


def connect_handlers() -> None:
    events.submission_accepted.connect(on_submission_accepted)
    floors.connect_handlers()
    rules.connect_handlers()
    privacy.register(privacy.DataSection("reviews", export_reviews, erase_reviews))

