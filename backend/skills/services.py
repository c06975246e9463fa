"""Skills and worker levels. Every level change goes through set_level (history + event)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from backend import events
from backend.audit import services as audit
from backend.database import utcnow
from backend.errors import Invalid, NotFound
from backend.extensions import db
from backend.skills.models import LevelChange, Skill, WorkerSkill

STARTER_SKILLS = (
    ("bbox", {"ko": "바운딩 박스", "en": "Bounding boxes"}, 5),
    ("ocr", {"ko": "한국어 OCR 전사", "en": "Korean OCR transcription"}, 5),
    ("audio_transcription", {"ko": "회의 음성 전사", "en": "Meeting audio transcription"}, 5),
    ("llm_eval", {"ko": "LLM 답변 평가", "en": "LLM answer evaluation"}, 5),
)


def ensure_starter_skills() -> None:
    existing = set(db.session.execute(sa.select(Skill.code)).scalars())
    for code, name, max_level in STARTER_SKILLS:
        if code not in existing:
            db.session.add(Skill(code=code, name=name, max_level=max_level))
    db.session.flush()


def list_skills() -> list[Skill]:
    return list(db.session.execute(sa.select(Skill).order_by(Skill.code)).scalars())


def get_skill(code: str) -> Skill:
    skill = db.session.get(Skill, code)
    if skill is None:
        raise NotFound(f"No skill {code!r}.")
    return skill


def require_skill(code: str, field: str = "skill") -> Skill:
    """Like get_skill, for input validation: an unknown code is a 422 on the field."""
    skill = db.session.get(Skill, code)
    if skill is None:
        raise Invalid.field(field, f"Unknown skill {code!r}.")
    return skill


def _worker_skill(user_id: int, skill_code: str) -> WorkerSkill | None:
    return db.session.execute(
        sa.select(WorkerSkill).where(WorkerSkill.user_id == user_id, WorkerSkill.skill_code == skill_code)
    ).scalar_one_or_none()


def level_of(user_id: int, skill_code: str) -> int:
    row = _worker_skill(user_id, skill_code)
    return row.level if row else 0


def levels_of(user_id: int) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(WorkerSkill.skill_code, WorkerSkill.level).where(WorkerSkill.user_id == user_id)
    )
    return dict(rows.all())


def set_level(user_id: int, skill_code: str, level: int, reason: str, *, actor_id: int | None = None,
              source: str = "override") -> WorkerSkill:
    """Set a worker's level, write a history row and emit level_changed (when it changed)."""
    skill = get_skill(skill_code)
    if not 0 <= level <= skill.max_level:
        raise Invalid.field("level", f"Must be between 0 and {skill.max_level}.")
    if not reason or not reason.strip():
        raise Invalid.field("reason", "A reason is required.")
    row = _worker_skill(user_id, skill_code)
    if row is None:
        row = WorkerSkill(user_id=user_id, skill_code=skill_code, level=0)
        db.session.add(row)
    old = row.level
    if old == level:
        return row
    row.level = level
    row.updated_at = utcnow()
    db.session.add(LevelChange(user_id=user_id, skill_code=skill_code, old_level=old, new_level=level,
                               reason=reason.strip()[:500], source=source, actor_id=actor_id))
    if actor_id is not None:
        audit.record(actor_id=actor_id, action="level.override", target_type="user", target_id=user_id,
                     reason=reason, before={"skill": skill_code, "level": old},
                     after={"skill": skill_code, "level": level})
    db.session.flush()
    events.level_changed.send(user_id=user_id, skill=skill_code, old_level=old, new_level=level,
                              reason=reason, source=source)
    return row


def level_history(user_id: int, skill_code: str | None = None) -> list[LevelChange]:
    stmt = sa.select(LevelChange).where(LevelChange.user_id == user_id)
    if skill_code:
        stmt = stmt.where(LevelChange.skill_code == skill_code)
    return list(db.session.execute(stmt.order_by(LevelChange.id)).scalars())


def worker_skills(user_id: int) -> list[dict]:
    """Every skill with the worker's level (0 when never certified), certificate date, and the next
    level's requirements with the worker's progress (backend/skills/rules.py)."""
    from backend.skills import rules  # imported late: the rules build on this module

    rows = {row.skill_code: row for row in db.session.execute(
        sa.select(WorkerSkill).where(WorkerSkill.user_id == user_id)).scalars()}
    catalogue = list_skills()
    next_levels = rules.next_levels(user_id, {code: row.level for code, row in rows.items()},
                                    {skill.code: skill.max_level for skill in catalogue})
    result = []
    for skill in catalogue:
        row = rows.get(skill.code)
        result.append({
            "skill": skill.code,
            "name": skill.name,
            "max_level": skill.max_level,
            "level": row.level if row else 0,
            "certified_until": row.certified_until if row else None,
            "next_level": next_levels.get(skill.code),
        })
    return result


def on_certificate_issued(_sender=None, *, user_id: int, skill: str, level: int,
                          expires_at: dt.datetime, code: str, **_):
    """A passed exam raises the level to what it grants (never lowers it) and records validity."""
    current = level_of(user_id, skill)
    if level > current:
        set_level(user_id, skill, level, f"certificate {code}", source="certificate")
    row = _worker_skill(user_id, skill)
    if row is not None and (row.certified_until is None or expires_at > row.certified_until):
        row.certified_until = expires_at


def on_certificate_lapsed(_sender=None, *, user_id: int, skill: str, code: str, status: str, **_):
    """An expired or revoked certificate suspends the skill's level until the worker passes again."""
    set_level(user_id, skill, 0, f"certificate {code} {status}", source="lapse")
    row = _worker_skill(user_id, skill)
    if row is not None:
        row.certified_until = None


def connect_handlers() -> None:
    events.certificate_issued.connect(on_certificate_issued)
    events.certificate_lapsed.connect(on_certificate_lapsed)


def export_levels(user_id: int) -> dict:
    return {
        "levels": [{"skill": s["skill"], "level": s["level"], "certified_until": s["certified_until"]}
                   for s in worker_skills(user_id)],
        "history": [{"skill": c.skill_code, "from": c.old_level, "to": c.new_level, "reason": c.reason,
                     "source": c.source, "at": c.created_at} for c in level_history(user_id)],
    }


# --------------------------------------------------------------------- aggregates (workforce analytics)


def _workforce_filter():
    """Rows of worker_skills that belong to the workforce (role worker, account not deleted): not
    one of the few accounts outside it, a small hashed set, so counts need no join with users."""
    from backend.accounts.models import User

    outsiders = sa.select(User.id).where(sa.or_(User.role != "worker", User.deleted_at.is_not(None)))
    return WorkerSkill.user_id.not_in(outsiders)


def level_counts() -> dict[str, dict[int, int]]:
    """{skill: {level: workers}} over the workforce's level rows (one grouped query on
    ix_worker_skills_skill_level). Workers without a row in a skill are level 0 and not counted."""
    rows = db.session.execute(sa.select(WorkerSkill.skill_code, WorkerSkill.level, sa.func.count())
                              .where(_workforce_filter())
                              .group_by(WorkerSkill.skill_code, WorkerSkill.level))
    counts: dict[str, dict[int, int]] = {}
    for skill_code, level, count in rows:
        counts.setdefault(skill_code, {})[level] = count
    return counts


def users_at_level(skill_code: str, *, level: int | None = None, min_level: int | None = None):
    """A statement selecting the workforce's user ids whose level in `skill_code` is `level` (or at
    least `min_level`), to compose into other queries (eligible workforce, the manager's worker list)."""
    stmt = sa.select(WorkerSkill.user_id).where(WorkerSkill.skill_code == skill_code, _workforce_filter())
    if level is not None:
        stmt = stmt.where(WorkerSkill.level == level)
    if min_level is not None:
        stmt = stmt.where(WorkerSkill.level >= min_level)
    return stmt


def levels_by_user(user_ids) -> dict[int, dict[str, int]]:
    """{user_id: {skill: level}} for many workers at once (levels above 0 only)."""
    ids = list(user_ids)
    result: dict[int, dict[str, int]] = {user_id: {} for user_id in ids}
    for start in range(0, len(ids), 1000):
        rows = db.session.execute(sa.select(WorkerSkill.user_id, WorkerSkill.skill_code, WorkerSkill.level).where(
            WorkerSkill.user_id.in_(ids[start:start + 1000]), WorkerSkill.level > 0))
        for user_id, skill_code, level in rows:
            result[user_id][skill_code] = level
    return result
