"""Fast-submit detection and gold-accuracy floors: pausing a worker on one project, fairly.

After every accepted answer (`observe`, called from the quality handler of `submission_accepted`):

- fast: the answer took less than FAST_SUBMIT_RATIO × the project's median answer time (the
  median of its latest PACE_SAMPLE answers, refreshed every PACE_REFRESH_S; judged only once the
  project has FAST_SUBMIT_MIN_SAMPLE answers). Fast answers always go to the review queue.
- a worker is paused on the project when, over their latest FAST_SUBMIT_WINDOW answers there (at
  least half of them counted), the share of fast ones reaches FAST_SUBMIT_PAUSE_SHARE; or when,
  with at least GOLD_FLOOR_MIN_ANSWERS gold answers in their latest GOLD_FLOOR_WINDOW, the Wilson
  upper bound of their gold accuracy is below GOLD_ACCURACY_FLOOR (they are under the floor for
  sure, not by a bad streak of luck).

A pause is never silent: GET /projects shows the project locked with the reason, GET /me/pauses
lists it with the way back, and the claim skips the project. The way back is retraining: answer
every practice example of the skill's course correctly again (POST /me/pauses/{id}/retraining);
passing a certification exam of the skill lifts it too; after RETRAINING_LIMIT retraining lifts on
the same project (or when the skill has no course with examples) a manager decides (POST
/manage/workers/{id}/pauses/{project_id}/lift). A lifted pause starts the worker's counts afresh.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from backend import events
from backend.audit import services as audit
from backend.database import frozen_statement, is_postgresql, utcnow
from backend.errors import Conflict, DomainError, NotFound
from backend.extensions import db
from backend.quality.models import ProjectPace, ProjectPause, WorkerProjectStats
from backend.quality.stats import median, wilson_interval

DEFAULTS: dict[str, float | int] = {
    "FAST_SUBMIT_RATIO": 0.25,  # fast = under this share of the project's median answer time
    "FAST_SUBMIT_MIN_SAMPLE": 20,  # answers a project needs before anything is called fast
    "FAST_SUBMIT_WINDOW": 20,  # a worker's latest answers in a project, for the fast share
    "FAST_SUBMIT_PAUSE_SHARE": 0.5,  # share of fast answers in that window that pauses
    "GOLD_ACCURACY_FLOOR": 0.7,  # gold accuracy surely below this pauses (Wilson upper bound)
    "GOLD_FLOOR_MIN_ANSWERS": 10,  # gold answers needed before the floor applies
    "GOLD_FLOOR_WINDOW": 40,  # a worker's latest gold answers in a project, for the floor
    "PACE_SAMPLE": 500,  # answers the project's median time is taken over
    "PACE_REFRESH_S": 600,  # how old the median may get
    "RETRAINING_LIMIT": 2,  # retraining lifts per worker and project before a manager decides
}
RECENT_KEEP = 200  # WorkerProjectStats.recent_* length


def setting(name: str):
    """A knob: the app config (from the environment, see backend/config.py), else the default
    (also outside an app, for the database-free simulation)."""
    value = current_app.config.get(name) if has_app_context() else None
    default = DEFAULTS[name]
    return default if value in (None, "") else type(default)(value)


# ----------------------------------------------------------------------------- pace


PACE_CACHE_KEY = "labelpath_quality_pace"  # app.extensions: {project_id: (median_ms, computed_at)}


def _pace_cache() -> dict[int, tuple[int, dt.datetime]]:
    """This process's copy of the projects' medians, per app (so per database: the tests' fresh
    app per test starts empty); the ProjectPace rows stay the store shared between processes."""
    return current_app.extensions.setdefault(PACE_CACHE_KEY, {})


def project_median_ms(project_id: int, now: dt.datetime | None = None) -> int | None:
    """The project's median answer time in ms (None while it has too few answers).

    Steady state reads nothing: the value is kept in this process for PACE_REFRESH_S after it was
    computed (judged against `now`, so a moved clock sees it go stale); then the shared row is
    read, and recomputed from the latest answers when it is stale too."""
    from backend.microtasks.models import Submission  # the engine's table, read only

    now = now or utcnow()
    fresh_after = now - dt.timedelta(seconds=setting("PACE_REFRESH_S"))
    cache = _pace_cache()
    cached = cache.get(project_id)
    if cached is not None and cached[1] > fresh_after:
        return cached[0]
    pace = db.session.execute(sa.select(ProjectPace.median_ms, ProjectPace.computed_at)
                              .where(ProjectPace.project_id == project_id)).first()
    if pace is not None and pace.median_ms is not None and pace.computed_at > fresh_after:
        cache[project_id] = (pace.median_ms, pace.computed_at)  # another process refreshed it
        return pace.median_ms
    durations = db.session.execute(
        sa.select(Submission.duration_ms).where(Submission.project_id == project_id,
                                                Submission.duration_ms.is_not(None))
        .order_by(Submission.id.desc()).limit(setting("PACE_SAMPLE"))).scalars().all()
    value = median(durations) if len(durations) >= setting("FAST_SUBMIT_MIN_SAMPLE") else None
    value = int(value) if value is not None else None
    insert = (postgresql.insert if is_postgresql(db.session) else sqlite.insert)(ProjectPace)
    values = {"median_ms": value, "sample_size": len(durations), "computed_at": now}
    db.session.execute(insert.values(project_id=project_id, **values)
                       .on_conflict_do_update(index_elements=[ProjectPace.project_id], set_=values))
    if value is not None:
        cache[project_id] = (value, now)
    else:  # (while a project has too few answers, each answer recounts: cheap then)
        cache.pop(project_id, None)
    loaded = db.session.identity_map.get(sa.inspect(ProjectPace).identity_key_from_primary_key([project_id]))
    if loaded is not None:
        db.session.expire(loaded)
    return value


def is_fast(duration_ms: int | None, median_ms: int | None) -> bool:
    return duration_ms is not None and bool(median_ms) and duration_ms < setting("FAST_SUBMIT_RATIO") * median_ms


# ----------------------------------------------------------------------------- observing answers


@dataclass
class Observation:
    fast: bool
    answers: int  # the worker's answers in this project, this one included
    gold_answers: int
    gold_correct: int
    paused: ProjectPause | None = None


_STATS_RETURNED = ("answers", "gold_answers", "gold_correct", "fast_answers", "recent_gold", "recent_fast",
                   "updated_at")
_stats_upserts: dict[str, sa.TextualSelect] = {}


def _stats_upsert(dialect: str) -> sa.TextualSelect:
    """INSERT … ON CONFLICT (user_id, project_id) DO UPDATE … RETURNING: one answer counted in one
    statement, whether the worker's row exists yet or not. The inserted values are this answer's
    increments (the first answer's row); on a conflict they are added to the row (EXCLUDED), and
    the recent_* strings get the outcome appended and keep their newest RECENT_KEEP characters.
    The conflicting row stays locked until the transaction ends, so racing answers all count.

    Built with the dialect's upsert construct once per dialect (SQLite ≥ 3.35 and PostgreSQL have
    upsert and RETURNING) and frozen (compiling it on every answer cost more CPU than executing it)."""
    stmt = _stats_upserts.get(dialect)
    if stmt is not None:
        return stmt
    table = WorkerProjectStats.__table__
    if dialect == "postgresql":
        insert = postgresql.insert(table)

        def newest(text):
            return sa.func.right(text, sa.literal_column(str(RECENT_KEEP)))
    else:
        insert = sqlite.insert(table)

        def newest(text):  # a negative start counts from the end; shorter strings stay whole
            return sa.func.substr(text, sa.literal_column(str(-RECENT_KEEP)))
    new, c = insert.excluded, table.c
    upsert = insert.on_conflict_do_update(index_elements=[c.user_id, c.project_id], set_={
        "answers": c.answers + new.answers,
        "fast_answers": c.fast_answers + new.fast_answers,
        "recent_fast": newest(c.recent_fast + new.recent_fast),
        "gold_answers": c.gold_answers + new.gold_answers,  # + 0 and '' for an unscored answer
        "gold_correct": c.gold_correct + new.gold_correct,
        "recent_gold": newest(c.recent_gold + new.recent_gold),
        "updated_at": new.updated_at,
    }).returning(*(c[name] for name in _STATS_RETURNED))
    stmt = frozen_statement(upsert, dialect)
    _stats_upserts[dialect] = stmt
    return stmt


def _count_answer(user_id: int, project_id: int, *, fast: bool, scored: bool, correct: bool,
                  now: dt.datetime) -> sa.Row:
    """Add one answer to the worker's stats in the project; the row as it is now."""
    if db.session.autoflush:
        db.session.flush()  # as a SELECT through the ORM would (a Core statement doesn't autoflush)
    outcome = "1" if correct else "0"
    row = db.session.execute(_stats_upsert("postgresql" if is_postgresql(db.session) else "sqlite"), {
        "user_id": user_id, "project_id": project_id, "answers": 1, "fast_answers": int(fast),
        "recent_fast": "1" if fast else "0", "gold_answers": int(scored), "gold_correct": int(scored and correct),
        "recent_gold": outcome if scored else "", "updated_at": now}).one()
    loaded = db.session.identity_map.get(
        sa.inspect(WorkerProjectStats).identity_key_from_primary_key([user_id, project_id]))
    if loaded is not None:  # an entity of the row in this session: show it the new counts
        for name in _STATS_RETURNED:
            set_committed_value(loaded, name, getattr(row, name))
    return row


def observe(user_id: int, project_id: int, skill_code: str, *, gold: bool, correct: bool | None,
            duration_ms: int | None, now: dt.datetime | None = None) -> Observation:
    """Count one accepted answer; pause the worker on the project when a floor says so.

    Steady state: one statement (the stats upsert); the pace comes from this process's copy, and
    the open pause is looked for only when a floor is broken."""
    now = now or utcnow()
    fast = is_fast(duration_ms, project_median_ms(project_id, now))
    row = _count_answer(user_id, project_id, fast=fast, scored=gold and correct is not None,
                        correct=bool(correct), now=now)
    observation = Observation(fast=fast, answers=row.answers, gold_answers=row.gold_answers,
                              gold_correct=row.gold_correct)
    cause = floor_broken(row.recent_gold, row.recent_fast)
    if cause is not None and open_pause(user_id, project_id) is None:
        observation.paused = pause(user_id, project_id, skill_code, *cause, now=now)
    return observation


def push(recent: str, outcome: bool) -> str:
    """The latest outcomes as '1'/'0', newest last, with one more."""
    return ((recent or "") + ("1" if outcome else "0"))[-RECENT_KEEP:]


def floor_broken(recent_gold: str, recent_fast: str) -> tuple[str, dict] | None:
    """(cause, numbers) when a worker's latest outcomes in a project break a floor. Pure."""
    window = setting("FAST_SUBMIT_WINDOW")
    recent_fast = (recent_fast or "")[-window:]
    fast_n = recent_fast.count("1")
    if len(recent_fast) * 2 >= window and fast_n >= setting("FAST_SUBMIT_PAUSE_SHARE") * len(recent_fast):
        return "fast_submit", {"fast": fast_n, "answers": len(recent_fast)}
    recent_gold = (recent_gold or "")[-setting("GOLD_FLOOR_WINDOW"):]
    floor = setting("GOLD_ACCURACY_FLOOR")
    if len(recent_gold) >= setting("GOLD_FLOOR_MIN_ANSWERS"):
        right = recent_gold.count("1")
        high = wilson_interval(right, len(recent_gold))[1]
        if high < floor:
            return "accuracy_floor", {"correct": right, "answers": len(recent_gold), "accuracy": right / len(recent_gold),
                                      "wilson_high": round(high, 4), "floor": floor}
    return None


# ----------------------------------------------------------------------------- pauses


def open_pause(user_id: int, project_id: int) -> ProjectPause | None:
    return db.session.execute(sa.select(ProjectPause).where(
        ProjectPause.user_id == user_id, ProjectPause.project_id == project_id,
        ProjectPause.lifted_at.is_(None))).scalar_one_or_none()


def not_paused(user_id: int, project_id_column):
    """For the engine's candidate query: the project is not paused for this worker (one probe of
    uq_project_pauses_open per project)."""
    return ~sa.exists().where(ProjectPause.user_id == user_id, ProjectPause.project_id == project_id_column,
                              ProjectPause.lifted_at.is_(None))


def paused_workers(project_ids) -> dict[int, set[int]]:
    """{user_id: {project_id, …}} of the open pauses on these projects (for "new work" notices)."""
    ids = list(project_ids)
    if not ids:
        return {}
    paused: dict[int, set[int]] = {}
    for user_id, project_id in db.session.execute(sa.select(ProjectPause.user_id, ProjectPause.project_id).where(
            ProjectPause.project_id.in_(ids), ProjectPause.lifted_at.is_(None))):
        paused.setdefault(user_id, set()).add(project_id)
    return paused


def paused_projects(user_id: int, project_id: int | None = None) -> dict[int, dict]:
    """{project_id: reason {ko, en}} of the worker's open pauses (one indexed query)."""
    stmt = sa.select(ProjectPause.project_id, ProjectPause.reason).where(
        ProjectPause.user_id == user_id, ProjectPause.lifted_at.is_(None))
    if project_id is not None:
        stmt = stmt.where(ProjectPause.project_id == project_id)
    return dict(db.session.execute(stmt).tuples().all())


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _cause_text(cause: str, detail: dict) -> dict:
    if cause == "fast_submit":
        return {"ko": f"최근 답변 {detail['answers']}개 중 {detail['fast']}개를 이 프로젝트의 보통 작업 시간보다 훨씬 "
                      f"빠르게 제출해 이 프로젝트 작업이 일시 중지되었습니다.",
                "en": f"Paused on this project: {detail['fast']} of your last {detail['answers']} answers came far "
                      f"faster than this project's usual time."}
    return {"ko": f"최근 골드 답변 {detail['answers']}개의 정확도가 {_pct(detail['accuracy'])}로 기준 "
                  f"{_pct(detail['floor'])}에 못 미쳐 이 프로젝트 작업이 일시 중지되었습니다.",
            "en": f"Paused on this project: your gold accuracy was {_pct(detail['accuracy'])} over your last "
                  f"{detail['answers']} gold answers, below the {_pct(detail['floor'])} floor."}


def _way_back_text(way_back: dict) -> dict:
    if way_back["kind"] == "retraining":
        title = way_back["course_title"]
        n = len(way_back["examples"])
        return {"ko": f" 「{title['ko']}」 과정의 연습 문제 {n}개를 다시 모두 맞히면 재개됩니다.",
                "en": f" Answer the {n} practice examples of “{title['en']}” correctly again to resume."}
    return {"ko": " 관리자가 작업 내용을 검토한 뒤 재개할 수 있습니다.",
            "en": " A manager will look at your work and can resume it."}


def _retraining_course(user_id: int, skill_code: str, difficulty: int) -> dict | None:
    """The skill's published course for retraining: the highest level up to the project's
    difficulty that has practice examples. {slug, title, examples: [keys]} or None."""
    import courses.services as courses  # imported late: courses build on quality's comparison

    try:
        items, _ = courses.list_courses(user_id, skill=skill_code, limit=100)
    except DomainError:
        return None
    for item in sorted((i for i in items if i["level"] <= difficulty and not i["locked"]),
                       key=lambda i: -i["level"]):
        keys = _example_keys(courses, user_id, item["slug"])
        if keys:
            title = item["title"] if isinstance(item["title"], dict) else {"ko": item["title"], "en": item["title"]}
            return {"slug": item["slug"], "title": {"ko": title.get("ko") or title.get("en"),
                                                    "en": title.get("en") or title.get("ko")}, "examples": keys}
    return None


def _example_keys(courses, user_id: int, slug: str) -> list[str]:
    try:
        detail = courses.course_detail(user_id, slug)
        keys = []
        for module in detail["modules"]:
            for lesson in module["lessons"]:
                blocks = courses.lesson_for_worker(user_id, slug, lesson["id"])["blocks"]
                keys += [block["question"]["key"] for block in blocks if block["kind"] == "example"]
        return keys
    except DomainError:
        return []


def _way_back(user_id: int, project_id: int, skill_code: str) -> dict:
    from backend.microtasks.models import Project  # the engine's table, read only

    retrained = db.session.execute(sa.select(sa.func.count()).select_from(ProjectPause).where(
        ProjectPause.user_id == user_id, ProjectPause.project_id == project_id,
        ProjectPause.lift_reason == "retraining")).scalar_one()
    if retrained < setting("RETRAINING_LIMIT"):
        difficulty = db.session.execute(sa.select(Project.difficulty).where(Project.id == project_id)).scalar() or 1
        course = _retraining_course(user_id, skill_code, difficulty)
        if course is not None:
            return {"kind": "retraining", "course": course["slug"], "course_title": course["title"],
                    "examples": course["examples"]}
    return {"kind": "manager"}


def pause(user_id: int, project_id: int, skill_code: str, cause: str, detail: dict, *,
          now: dt.datetime | None = None) -> ProjectPause | None:
    """Pause a worker on a project (None when a pause is already open)."""
    now = now or utcnow()
    way_back = _way_back(user_id, project_id, skill_code)
    cause_text, back_text = _cause_text(cause, detail), _way_back_text(way_back)
    row = ProjectPause(user_id=user_id, project_id=project_id, skill_code=skill_code, cause=cause,
                       reason={loc: cause_text[loc] + back_text[loc] for loc in ("ko", "en")}, detail=detail,
                       way_back=way_back, retraining_done=[], paused_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return None
    events.pause_changed.send(pause_id=row.id, user_id=user_id, project_id=project_id, status="paused",
                              reason=row.reason, actor_id=None)
    return row


def _lift(row: ProjectPause, reason: str, actor_id: int | None = None) -> bool:
    """Compare-and-set: only one of two racing lifts counts. The worker's counts start afresh."""
    now = utcnow()
    done = db.session.execute(
        sa.update(ProjectPause).where(ProjectPause.id == row.id, ProjectPause.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by=actor_id, lift_reason=reason[:500])
        .execution_options(synchronize_session=False)).rowcount
    if not done:
        return False
    db.session.execute(
        sa.update(WorkerProjectStats).where(WorkerProjectStats.user_id == row.user_id,
                                            WorkerProjectStats.project_id == row.project_id)
        .values(recent_gold="", recent_fast="", updated_at=now).execution_options(synchronize_session=False))
    db.session.refresh(row)
    events.pause_changed.send(pause_id=row.id, user_id=row.user_id, project_id=row.project_id, status="lifted",
                              reason=None, actor_id=actor_id)
    return True


def pause_view(row: ProjectPause) -> dict:
    from backend.microtasks.models import Project  # the engine's table, read only

    title = db.session.execute(sa.select(Project.title).where(Project.id == row.project_id)).scalar()
    way_back = dict(row.way_back or {})
    if way_back.get("kind") == "retraining":
        done = set(row.retraining_done or [])
        way_back["remaining"] = [key for key in way_back.get("examples", []) if key not in done]
    return {"id": row.id, "user_id": row.user_id, "project_id": row.project_id, "project_title": title,
            "skill": row.skill_code, "cause": row.cause, "reason": row.reason, "detail": row.detail,
            "way_back": way_back, "paused_at": row.paused_at, "lifted_at": row.lifted_at,
            "lifted_by": row.lifted_by, "lift_reason": row.lift_reason, "active": row.lifted_at is None}


def my_pauses(user_id: int, limit: int = 50) -> list[dict]:
    """GET /me/pauses: open pauses first, then the latest lifted ones."""
    rows = db.session.execute(sa.select(ProjectPause).where(ProjectPause.user_id == user_id)
                              .order_by(ProjectPause.lifted_at.is_not(None), ProjectPause.id.desc())
                              .limit(limit)).scalars().all()
    return [pause_view(row) for row in rows]


def list_pauses(*, active: bool | None, user_id: int | None, project_id: int | None, after_id: int | None,
                limit: int) -> tuple[list[dict], int | None]:
    """Manager: pauses, newest first."""
    stmt = sa.select(ProjectPause)
    if active is not None:
        stmt = stmt.where(ProjectPause.lifted_at.is_(None) if active else ProjectPause.lifted_at.is_not(None))
    if user_id is not None:
        stmt = stmt.where(ProjectPause.user_id == user_id)
    if project_id is not None:
        stmt = stmt.where(ProjectPause.project_id == project_id)
    if after_id is not None:
        stmt = stmt.where(ProjectPause.id < after_id)
    rows = db.session.execute(stmt.order_by(ProjectPause.id.desc()).limit(limit + 1)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [pause_view(row) for row in rows], (rows[-1].id if more and rows else None)


def lift_by_manager(worker_id: int, project_id: int, *, actor_id: int, reason: str) -> dict:
    """POST /manage/workers/{id}/pauses/{project_id}/lift."""
    row = open_pause(worker_id, project_id)
    if row is None:
        raise NotFound("This worker is not paused on this project.", slug="pause-not-found")
    if not _lift(row, f"manager: {reason}", actor_id):
        raise Conflict("The pause was lifted meanwhile.", slug="pause-lifted")
    audit.record(actor_id=actor_id, action="pause.lift", target_type="user", target_id=worker_id, reason=reason,
                 before={"project_id": project_id, "pause_id": row.id, "cause": row.cause},
                 after={"project_id": project_id, "lifted_at": row.lifted_at.isoformat()})
    return pause_view(row)


def retraining_answer(user_id: int, pause_id: int, key: str, answer: dict) -> dict:
    """POST /me/pauses/{id}/retraining {key, answer}: one practice example of the course, graded
    like the course does; every example answered right (over as many tries as needed) lifts it,
    and the worker's other pauses that ask for the same course."""
    import courses.services as courses  # imported late: courses build on quality's comparison

    row = db.session.execute(sa.select(ProjectPause).where(ProjectPause.id == pause_id, ProjectPause.user_id == user_id)
                             .with_for_update()).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No pause {pause_id}.", slug="pause-not-found")
    if row.lifted_at is not None:
        raise Conflict("This pause is already lifted.", slug="pause-lifted")
    way_back = row.way_back or {}
    if way_back.get("kind") != "retraining":
        raise Conflict("This pause is lifted by a manager, not by retraining.", slug="retraining-not-offered")
    if key not in way_back.get("examples", []):
        raise NotFound(f"No practice example {key!r} in this retraining.", slug="example-not-found")
    graded = courses.answer_example(user_id, way_back["course"], key, answer)
    done = list(row.retraining_done or [])
    if graded["correct"] and key not in done:
        done.append(key)
        row.retraining_done = done
        db.session.flush()
    remaining = [k for k in way_back["examples"] if k not in done]
    lifted = not remaining and _lift(row, "retraining")
    also = []
    if lifted:  # the same retraining lifts the worker's other pauses that asked for this course
        others = db.session.execute(sa.select(ProjectPause).where(
            ProjectPause.user_id == user_id, ProjectPause.lifted_at.is_(None), ProjectPause.id != row.id)
        ).scalars().all()
        also = [other.project_id for other in others
                if (other.way_back or {}).get("kind") == "retraining"
                and other.way_back.get("course") == way_back["course"] and _lift(other, "retraining")]
    return {"correct": graded["correct"], "explanation": graded.get("explanation"), "done": len(done),
            "total": len(way_back["examples"]), "remaining": remaining, "lifted": bool(lifted),
            "also_lifted": also, "pause": pause_view(row)}


def on_certificate_issued(_sender=None, *, user_id: int, skill: str, **_):
    """Passing a certification exam of the skill again proves it: lift the skill's pauses."""
    rows = db.session.execute(sa.select(ProjectPause).where(
        ProjectPause.user_id == user_id, ProjectPause.skill_code == skill,
        ProjectPause.lifted_at.is_(None))).scalars().all()
    for row in rows:
        _lift(row, "certificate")


def connect_handlers() -> None:
    events.certificate_issued.connect(on_certificate_issued)


def export_pauses(user_id: int) -> list[dict]:
    return [{"project_id": p["project_id"], "cause": p["cause"], "reason": p["reason"], "paused_at": p["paused_at"],
             "lifted_at": p["lifted_at"], "lift_reason": p["lift_reason"]} for p in my_pauses(user_id, limit=1000)]
