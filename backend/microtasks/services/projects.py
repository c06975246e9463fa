"""Projects: authoring (managers), the worker's project list with eligibility, progress."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from backend.database import utcnow
from backend.errors import Conflict, Invalid, NotFound
from backend.extensions import db
from backend.microtasks.models import Project
from backend.microtasks.services.common import (
    LEASED,
    ZERO,
    assignments,
    invalid,
    money,
    projects,
    setting,
    submissions,
    tasks,
    work_preferences,
)
from backend.microtasks.services.task_types import task_type
from backend.quality import floors
from backend.skills import services as skills

OPEN_TASKS_SHOWN_UP_TO = 10_000  # GET /projects counts open tasks up to this (bounded cost)
DAY = dt.timedelta(hours=24)
RATE_WINDOW = dt.timedelta(hours=24)  # project_progress: the "current rate" is over this window

_EDITABLE = ("key", "title", "difficulty", "overlap", "lease_seconds", "gold_ratio", "priority",
             "instructions", "status", "sensitive_content", "min_overlap", "max_overlap", "confidence_target")


def get_project(project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound(f"No project {project_id}.")
    return project


def _check_reward(reward: dict) -> dict:
    currency = (reward.get("currency") or current_app.config["CURRENCY"]).upper()
    if currency != current_app.config["CURRENCY"]:
        raise Invalid.field("reward.currency",
                            f"This deployment pays in {current_app.config['CURRENCY']}.")
    return {"amount": reward["amount"], "currency": currency}


def _check_config(kind: str, config) -> dict:
    try:
        return task_type(kind).validate_config(config if config is not None else {})
    except ValidationError as error:
        raise invalid("config", error) from None


def _check_difficulty(skill_code: str, difficulty: int) -> None:
    skill = skills.require_skill(skill_code)
    if difficulty > skill.max_level:
        raise Invalid.field("difficulty", f"The skill {skill_code!r} has levels up to {skill.max_level}.")


def _check_key_free(key: str | None, project_id: int | None = None) -> None:
    if key is None:
        return
    taken = db.session.execute(sa.select(Project.id).where(Project.key == key)).scalar()
    if taken is not None and taken != project_id:
        raise Conflict(f"The project key {key!r} is taken.", slug="project-key-taken")


_DYNAMIC = ("min_overlap", "max_overlap", "confidence_target")


def _dynamic_overlap(kind: str, values: dict) -> dict:
    """The dynamic-overlap settings of a project after a create or PATCH (`values`: the merged
    fields). On when max_overlap and confidence_target are both set; then every task first gets
    min_overlap answers (default: overlap) and `overlap` is set to it, so imports and PATCHes keep
    their slot arithmetic; the aggregation job (backend/quality/results.py) opens one more slot at
    a time, up to max_overlap, while a task's result is less confident than the target."""
    high, target = values.get("max_overlap"), values.get("confidence_target")
    if high is None and target is None:
        return dict.fromkeys(_DYNAMIC)
    if high is None:
        raise Invalid.field("max_overlap", "Dynamic overlap needs max_overlap as well as confidence_target.")
    if target is None:
        raise Invalid.field("confidence_target", "Dynamic overlap needs confidence_target as well as max_overlap.")
    if kind == "collection":
        raise Invalid.field("confidence_target", "Collection tasks are not aggregated, so they have no confidence.")
    low = values.get("min_overlap") or values.get("overlap") or 1
    if low < 2:
        raise Invalid.field("min_overlap", "Dynamic overlap starts at 2 answers or more (set min_overlap).")
    if high < low:
        raise Invalid.field("max_overlap", f"Must be at least min_overlap ({low}).")
    return {"overlap": low, "min_overlap": low, "max_overlap": high, "confidence_target": target}


def create_project(data: dict, actor_id: int | None = None) -> Project:
    """Create a project from a loaded ProjectCreateSchema body."""
    _check_difficulty(data["skill"], data["difficulty"])
    config = _check_config(data["task_type"], data.get("config"))
    reward = _check_reward(data["reward"])
    _check_key_free(data.get("key"))
    dynamic = _dynamic_overlap(data["task_type"], data)
    now = utcnow()
    project = Project(
        key=data.get("key"), title=data["title"], skill_code=data["skill"], task_type=data["task_type"],
        config=config, difficulty=data["difficulty"], reward_amount=reward["amount"],
        currency=reward["currency"], overlap=dynamic.pop("overlap", data.get("overlap", 1)), **dynamic,
        lease_seconds=data.get("lease_seconds", 600), gold_ratio=data.get("gold_ratio", 0.0),
        priority=data.get("priority", 0), instructions=data.get("instructions"),
        status=data.get("status", "active"), sensitive_content=data.get("sensitive_content", False),
        created_by=actor_id, created_at=now, updated_at=now,
    )
    db.session.add(project)
    db.session.flush()
    return project


def _has_tasks(project_id: int) -> bool:
    return db.session.execute(sa.select(tasks.c.id).where(tasks.c.project_id == project_id).limit(1)).first() \
        is not None


def _revalidate_gold(project: Project, kind: str, config: dict) -> None:
    """A new config must still accept every gold answer already imported."""
    rows = db.session.execute(sa.select(tasks.c.id, tasks.c.payload, tasks.c.gold_answer).where(
        tasks.c.project_id == project.id, tasks.c.is_gold == sa.true()))
    for task_id, payload, gold in rows:
        try:
            task_type(kind).validate_gold(gold, config, payload)
        except ValidationError as error:
            problems = invalid("gold_answer", error).errors
            raise Invalid.field("config", f"The gold answer of task {task_id} would no longer be valid "
                                          f"({'; '.join(sorted(problems))}).") from None


def _update_tasks(project_id: int, condition, **values) -> None:
    """Update many tasks of a project, locking them in id order (the order every other multi-row
    writer uses), so this never deadlocks with the expiry job; claims skip the locked rows."""
    ids = (sa.select(tasks.c.id).where(tasks.c.project_id == project_id, condition)
           .order_by(tasks.c.id).with_for_update(key_share=True))
    db.session.execute(sa.update(tasks).where(tasks.c.id.in_(ids.scalar_subquery())).values(**values))


def update_project(project_id: int, changes: dict) -> Project:
    """PATCH: any subset of the create fields. The task type is fixed once tasks exist; a new
    overlap moves every normal task's open slots by the difference (leases and answers kept)."""
    project = get_project(project_id)
    kind = changes.get("task_type", project.task_type)
    has_tasks = None
    if kind != project.task_type:
        has_tasks = _has_tasks(project.id)
        if has_tasks:
            raise Conflict("The task type cannot change once tasks are imported.", slug="project-has-tasks")
    if "config" in changes or kind != project.task_type:
        config = _check_config(kind, changes.get("config", project.config))
        if has_tasks is not False and _has_tasks(project.id):
            _revalidate_gold(project, kind, config)
        project.task_type, project.config = kind, config
    if "skill" in changes or "difficulty" in changes:
        _check_difficulty(changes.get("skill", project.skill_code), changes.get("difficulty", project.difficulty))
        project.skill_code = changes.get("skill", project.skill_code)
    if "reward" in changes:
        reward = _check_reward(changes["reward"])
        project.reward_amount, project.currency = reward["amount"], reward["currency"]
    if "key" in changes:
        _check_key_free(changes["key"], project.id)
    if {"overlap", *_DYNAMIC} & changes.keys() or (kind != project.task_type and project.max_overlap):
        merged = {"overlap": project.overlap, **{name: getattr(project, name) for name in _DYNAMIC}, **changes}
        if "overlap" in changes and "min_overlap" not in changes:
            merged["min_overlap"] = changes["overlap"]  # with dynamic overlap the two are one setting
        elif "overlap" in changes and changes["min_overlap"] not in (None, changes["overlap"]):
            raise Invalid.field("overlap", "With dynamic overlap, overlap is min_overlap: give one of them.")
        dynamic = _dynamic_overlap(kind, merged)
        changes = {**changes, **dynamic}
    if "overlap" in changes and changes["overlap"] != project.overlap:
        _update_tasks(project.id, tasks.c.is_gold == sa.false(),
                      open_slots=tasks.c.open_slots + (changes["overlap"] - project.overlap))
    if "difficulty" in changes and changes["difficulty"] != project.difficulty:
        # Tasks imported at the project's difficulty follow it; harder ones keep theirs.
        old, new = project.difficulty, changes["difficulty"]
        _update_tasks(project.id, tasks.c.difficulty < new if new > old else tasks.c.difficulty == old,
                      difficulty=new)
    for name in _EDITABLE:
        if name in changes:
            setattr(project, name, changes[name])
    project.updated_at = utcnow()
    db.session.flush()
    return project


def project_view(project: Project) -> dict:
    """The manager's view of a project (both languages of every text)."""
    return {
        "id": project.id, "key": project.key, "title": project.title, "skill": project.skill_code,
        "task_type": project.task_type, "config": project.config, "difficulty": project.difficulty,
        "reward": money(project.reward_amount, project.currency), "overlap": project.overlap,
        "min_overlap": project.min_overlap, "max_overlap": project.max_overlap,
        "confidence_target": project.confidence_target, "lease_seconds": project.lease_seconds, "gold_ratio": project.gold_ratio,
        "priority": project.priority, "instructions": project.instructions, "status": project.status,
        "sensitive_content": project.sensitive_content, "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


def manager_projects(status: str | None, after_id: int | None, limit: int) -> tuple[list[dict], int | None]:
    stmt = sa.select(Project)
    if status:
        stmt = stmt.where(Project.status == status)
    if after_id is not None:
        stmt = stmt.where(Project.id < after_id)
    rows = list(db.session.execute(stmt.order_by(Project.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return [project_view(p) for p in rows], (rows[-1].id if more and rows else None)


def manager_project(project_id: int) -> dict:
    return project_view(get_project(project_id))


# ----------------------------------------------------------------------------- worker side


def sensitive_tasks_today(user_id: int, now: dt.datetime) -> int:
    """Sensitive-content tasks leased in the last 24 hours (however they ended)."""
    return db.session.execute(sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.user_id == user_id, assignments.c.sensitive == sa.true(),
        assignments.c.leased_at > now - DAY)).scalar_one()


def sensitive_opt_in(user_id: int) -> bool:
    return bool(db.session.execute(sa.select(work_preferences.c.sensitive_content).where(
        work_preferences.c.user_id == user_id)).scalar())


def level_reason(skill_name: dict, level: int) -> dict:
    return {"ko": f"{skill_name.get('ko') or skill_name.get('en')} 레벨 {level}을(를) 달성하면 열립니다.",
            "en": f"Reach level {level} in {skill_name.get('en') or skill_name.get('ko')}."}


SENSITIVE_OPT_IN_REASON = {
    "ko": "민감한 내용이 포함될 수 있는 작업입니다. 작업 설정에서 수신에 동의하면 열립니다.",
    "en": "May contain sensitive content: opt in under your work preferences to unlock it.",
}


def sensitive_cap_reason(limit: int) -> dict:
    return {"ko": f"오늘의 민감한 콘텐츠 작업 한도({limit}건)에 도달했습니다. 24시간 안에 다시 열립니다.",
            "en": f"You reached today's limit of {limit} sensitive-content tasks; it reopens within 24 hours."}


def lock_reason(project, levels: dict[str, int], skill_names: dict[str, dict], opted_in: bool,
                sensitive_left: int, paused: dict[int, dict] | None = None) -> dict | None:
    """Why a worker may not take tasks of a project (None: they may). `paused`: the worker's
    open pauses {project_id: reason} (backend/quality/floors.py)."""
    if levels.get(project.skill_code, 0) < project.difficulty:
        return level_reason(skill_names.get(project.skill_code, {"en": project.skill_code}), project.difficulty)
    if paused and project.id in paused:
        return paused[project.id]
    if project.sensitive_content and not opted_in:
        return SENSITIVE_OPT_IN_REASON
    if project.sensitive_content and sensitive_left <= 0:
        return sensitive_cap_reason(setting("MICROTASKS_SENSITIVE_DAILY_LIMIT"))
    return None


def _open_task_counts(project_ids: list[int]) -> dict[int, int]:
    """Open tasks per project, counted up to OPEN_TASKS_SHOWN_UP_TO (a bounded index range each)."""
    counts: dict[int, int] = {}
    for start in range(0, len(project_ids), 200):
        parts = []
        for project_id in project_ids[start:start + 200]:
            limited = (sa.select(sa.literal(1).label("one"))
                       .where(tasks.c.project_id == project_id, tasks.c.open_slots > ZERO)
                       .limit(OPEN_TASKS_SHOWN_UP_TO).subquery())
            parts.append(sa.select(sa.literal(project_id).label("project_id"),
                                   sa.select(sa.func.count()).select_from(limited).scalar_subquery()
                                   .label("n")))
        counts.update(db.session.execute(sa.union_all(*parts)).tuples().all())
    return counts


def worker_projects(user_id: int) -> list[dict]:
    """GET /projects: every active project, eligible ones first; the others say why they're locked."""
    levels = skills.levels_of(user_id)
    skill_names = {skill.code: skill.name for skill in skills.list_skills()}
    opted_in = sensitive_opt_in(user_id)
    sensitive_left = setting("MICROTASKS_SENSITIVE_DAILY_LIMIT") - sensitive_tasks_today(user_id, utcnow())
    paused = floors.paused_projects(user_id)
    rows = db.session.execute(sa.select(Project).where(Project.status == "active")
                              .order_by(Project.priority.desc(), Project.id)).scalars().all()
    counts = _open_task_counts([p.id for p in rows]) if rows else {}
    items = []
    for project in rows:
        reason = lock_reason(project, levels, skill_names, opted_in, sensitive_left, paused)
        items.append({
            "id": project.id, "title": project.title, "skill": project.skill_code,
            "task_type": project.task_type, "difficulty": project.difficulty,
            "reward": money(project.reward_amount, project.currency), "open_tasks": counts.get(project.id, 0),
            "locked": reason is not None, "locked_reason": reason, "instructions": project.instructions,
            "sensitive_content": project.sensitive_content, "lease_seconds": project.lease_seconds,
        })
    items.sort(key=lambda item: item["locked"])  # stable: priority order kept within each group
    return items


def project_progress(project_id: int) -> dict:
    """Manager: tasks total/done, open slots, open leases, answers, gold accuracy so far."""
    project = get_project(project_id)
    now = utcnow()
    normal = tasks.c.is_gold == sa.false()
    task_row = db.session.execute(sa.select(
        sa.func.count().filter(normal),
        sa.func.count().filter(tasks.c.is_gold == sa.true()),
        sa.func.count().filter(normal, tasks.c.answer_count >= project.overlap),
        sa.func.coalesce(sa.func.sum(tasks.c.open_slots).filter(normal, tasks.c.open_slots > ZERO), 0),
        sa.func.coalesce(sa.func.sum(project.overlap - tasks.c.answer_count).filter(
            normal, tasks.c.answer_count < project.overlap), 0),
    ).where(tasks.c.project_id == project.id)).one()
    leases = db.session.execute(sa.select(sa.func.count()).select_from(assignments).where(
        assignments.c.project_id == project.id, assignments.c.status == LEASED,
        assignments.c.lease_expires_at > now)).scalar_one()
    answer_row = db.session.execute(sa.select(
        sa.func.count(),
        sa.func.count().filter(submissions.c.is_gold == sa.true()),
        sa.func.count().filter(submissions.c.is_gold == sa.true(), submissions.c.correct.is_(True)),
        sa.func.count().filter(submissions.c.is_gold == sa.false(), submissions.c.created_at > now - RATE_WINDOW),
    ).where(submissions.c.project_id == project.id)).one()
    total, gold, done, open_slots, remaining = task_row
    answers, gold_answers, gold_correct, recent = answer_row
    per_hour = recent / (RATE_WINDOW.total_seconds() / 3600)
    return {
        "project_id": project.id, "status": project.status, "overlap": project.overlap,
        "tasks_total": total, "gold_tasks": gold, "tasks_done": done, "open_slots": int(open_slots),
        "open_leases": leases, "answers": answers, "gold_answers": gold_answers,
        "gold_correct": gold_correct,
        "gold_accuracy": round(gold_correct / gold_answers, 4) if gold_answers else None,
        # The current rate (normal answers of the last 24 hours: gold does not move the work), when
        # the remaining answers would be in at that rate, and who may work on it (so managers see
        # when to train more people).
        "answers_last_24h": recent, "answers_per_hour": round(per_hour, 2),
        "remaining_answers": int(remaining),
        "eta": now + dt.timedelta(hours=int(remaining) / per_hour) if remaining and per_hour else None,
        "eligible_workers": eligible_workers(project),
    }


def eligible_workers(project: Project) -> int:
    """Workers whose level in the project's skill reaches its difficulty (for sensitive projects:
    who also opted in); the daily sensitive cap and pauses are left out (they pass)."""
    eligible = skills.users_at_level(project.skill_code, min_level=project.difficulty)
    if project.sensitive_content:
        eligible = eligible.where(sa.exists().where(
            work_preferences.c.user_id == eligible.selected_columns.user_id,
            work_preferences.c.sensitive_content == sa.true()))
    return db.session.execute(sa.select(sa.func.count()).select_from(eligible.subquery())).scalar_one()


def answer_facts():
    """A statement over every accepted answer: (id, user_id, project_id, skill_code, is_gold,
    correct, created_at), to compose into the workforce analytics (rollups, activity)."""
    return (sa.select(submissions.c.id, submissions.c.user_id, submissions.c.project_id,
                      projects.c.skill_code, submissions.c.is_gold, submissions.c.correct,
                      submissions.c.created_at)
            .join(projects, projects.c.id == submissions.c.project_id))


def answer_durations(user_id: int) -> list[tuple[int, int]]:
    """(task difficulty, duration_ms) of every answer of a worker that has a duration."""
    return db.session.execute(
        sa.select(tasks.c.difficulty, submissions.c.duration_ms)
        .join(tasks, tasks.c.id == submissions.c.task_id)
        .where(submissions.c.user_id == user_id, submissions.c.duration_ms.is_not(None))).tuples().all()


def open_work_by_skill() -> dict[str, list[dict]]:
    """Active projects with open slots, by skill: {skill: [{project_id, difficulty, open_slots}]}
    (for "new tasks available" notifications; also says whether the project is sensitive)."""
    rows = db.session.execute(
        sa.select(Project.skill_code, Project.id, Project.difficulty, Project.sensitive_content,
                  sa.func.sum(tasks.c.open_slots))
        .join(tasks, tasks.c.project_id == Project.id)
        .where(Project.status == "active", tasks.c.open_slots > ZERO)
        .group_by(Project.skill_code, Project.id, Project.difficulty, Project.sensitive_content)
        .order_by(Project.skill_code, Project.difficulty, Project.id)
    ).all()
    result: dict[str, list[dict]] = {}
    for skill_code, project_id, difficulty, sensitive, open_slots in rows:
        result.setdefault(skill_code, []).append({"project_id": project_id, "difficulty": difficulty,
                                                  "open_slots": int(open_slots),
                                                  "sensitive_content": sensitive})
    return result
