"""Skill levels that follow the work: promotion and demotion rules, as data.

A rule governs the workers who are at `level` of a skill:

- promote to level + 1 once they have at least `min_gold` gold answers at this level and the
  Wilson lower bound (95 %) of their accuracy is ≥ `promote_at` — or, when `requires_exam` names an
  exam, only by passing that exam (the certificate raises the level, as for level 1);
- demote to level − 1 when the Wilson upper bound over their last `window` scored answers at this
  level is below `demote_below`. Never below level 1: level 1 comes from a certificate, and a
  worker who falls under the floor there is paused per project (backend/quality/floors.py).

"Scored answers" are gold answers and final human review decisions (a reviewer's approval counts
as right, a rejection as wrong once it is final: appeal window closed or appeal lost; automatic
approvals count for nothing). They are counted per level in `SkillTally`, which restarts at every
level change, so a worker is judged on the work of the level they are at.

Rules have defaults in code (DEFAULT_RULES); admins override them per skill and level
(`level_rules` rows). Evaluation runs after each scored answer (`record_outcome`: one row lock and
a rule lookup) and nightly for everyone (`evaluate_all`, which also rebuilds every tally from the
submissions and reviews). Every level change goes through skills.set_level (history + event).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend import events
from backend.audit import services as audit
from backend.database import utcnow
from backend.errors import Invalid
from backend.extensions import db
from backend.quality.models import LevelRule, Review, SkillTally
from backend.quality.stats import wilson_interval
from backend.skills import services as skills
from backend.skills.models import LevelChange, Skill, WorkerSkill

MAX_WINDOW = 200  # SkillTally.recent holds this many outcomes
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Rule:
    skill: str
    level: int
    min_gold: int
    promote_at: float | None
    demote_below: float | None
    window: int
    requires_exam: str | None = None
    source: str = "default"  # default | custom
    updated_at: dt.datetime | None = None


# The defaults, by level (a skill with more levels repeats the last one).
DEFAULT_RULES: dict[int, dict] = {
    1: {"min_gold": 30, "promote_at": 0.85, "demote_below": None, "window": 50},
    2: {"min_gold": 40, "promote_at": 0.88, "demote_below": 0.70, "window": 50},
    3: {"min_gold": 60, "promote_at": 0.90, "demote_below": 0.75, "window": 60},
    4: {"min_gold": 80, "promote_at": 0.92, "demote_below": 0.80, "window": 80},
    5: {"min_gold": 100, "promote_at": None, "demote_below": 0.85, "window": 100},
}


def default_rule(skill_code: str, level: int) -> Rule:
    values = DEFAULT_RULES.get(level) or DEFAULT_RULES[max(DEFAULT_RULES)]
    return Rule(skill=skill_code, level=level, **values)


def _from_row(row: LevelRule) -> Rule:
    return Rule(skill=row.skill_code, level=row.level, min_gold=row.min_gold, promote_at=row.promote_at,
                demote_below=row.demote_below, window=row.window, requires_exam=row.requires_exam,
                source="custom", updated_at=row.updated_at)


def rule_for(skill_code: str, level: int) -> Rule:
    row = db.session.execute(sa.select(LevelRule).where(LevelRule.skill_code == skill_code,
                                                        LevelRule.level == level)).scalar_one_or_none()
    return _from_row(row) if row is not None else default_rule(skill_code, level)


def _custom_rules() -> dict[tuple[str, int], Rule]:
    return {(row.skill_code, row.level): _from_row(row)
            for row in db.session.execute(sa.select(LevelRule)).scalars()}


def rule_view(rule: Rule) -> dict:
    return asdict(rule)


def list_rules(skill_code: str | None = None) -> list[dict]:
    """Every skill's rules for levels 1..max_level (custom where set, else the default)."""
    custom = _custom_rules()
    items = []
    for skill in skills.list_skills():
        if skill_code and skill.code != skill_code:
            continue
        for level in range(1, skill.max_level + 1):
            items.append(rule_view(custom.get((skill.code, level)) or default_rule(skill.code, level)))
    return items


def _check_rule(skill: Skill, level: int, data: dict) -> None:
    if not 1 <= level <= skill.max_level:
        raise Invalid.field("level", f"The skill {skill.code!r} has levels 1 to {skill.max_level}.")
    if data.get("window") is not None and not 1 <= data["window"] <= MAX_WINDOW:
        raise Invalid.field("window", f"Must be between 1 and {MAX_WINDOW}.")
    for name in ("promote_at", "demote_below"):
        value = data.get(name)
        if value is not None and not 0.0 < value < 1.0:
            raise Invalid.field(name, "Must be a share between 0 and 1 (exclusive).")
    if data.get("demote_below") is not None and level == 1:
        raise Invalid.field("demote_below", "Level 1 comes from a certificate: workers under the floor there "
                                            "are paused per project, never demoted to 0.")
    if data.get("promote_at") is not None and data.get("demote_below") is not None \
            and data["demote_below"] >= data["promote_at"]:
        raise Invalid.field("demote_below", "Must be below promote_at.")
    exam_key = data.get("requires_exam")
    if exam_key is not None:
        if level >= skill.max_level:
            raise Invalid.field("requires_exam", "There is no level above this one.")
        exam = _exam(exam_key)
        if exam is None or exam.skill_code != skill.code or exam.grants_level < level + 1:
            raise Invalid.field("requires_exam", f"No exam {exam_key!r} granting level {level + 1} in "
                                                 f"{skill.code!r}.")


def _exams_table() -> sa.Table:
    """quizzes' exams table, read through the shared metadata: skills sit below quizzes in the
    layering (courses import skills and must never import quizzes), so no import of quizzes here."""
    return db.metadata.tables["exams"]


def _exam(key: str):
    exams = _exams_table()
    return db.session.execute(sa.select(exams.c.skill_code, exams.c.grants_level).where(exams.c.key == key)).first()


def update_rule(skill_code: str, level: int, data: dict, *, actor_id: int) -> dict:
    """PUT /manage/level-rules/{skill}/{level}: store an admin's rule (all fields given)."""
    skill = skills.get_skill(skill_code)
    _check_rule(skill, level, data)
    row = db.session.execute(sa.select(LevelRule).where(LevelRule.skill_code == skill_code,
                                                        LevelRule.level == level)).scalar_one_or_none()
    before = rule_view(_from_row(row) if row else default_rule(skill_code, level))
    if row is None:
        row = LevelRule(skill_code=skill_code, level=level)
        db.session.add(row)
    for name in ("min_gold", "promote_at", "demote_below", "window", "requires_exam"):
        setattr(row, name, data.get(name))
    row.updated_by, row.updated_at = actor_id, utcnow()
    db.session.flush()
    after = rule_view(_from_row(row))
    audit.record(actor_id=actor_id, action="level_rule.update", target_type="level_rule",
                 target_id=f"{skill_code}:{level}", reason=data.get("reason"),
                 before=_jsonable(before), after=_jsonable(after))
    return after


def reset_rule(skill_code: str, level: int, *, actor_id: int) -> dict:
    """DELETE /manage/level-rules/{skill}/{level}: back to the default."""
    skills.get_skill(skill_code)
    row = db.session.execute(sa.select(LevelRule).where(LevelRule.skill_code == skill_code,
                                                        LevelRule.level == level)).scalar_one_or_none()
    if row is not None:
        before = rule_view(_from_row(row))
        db.session.delete(row)
        db.session.flush()
        audit.record(actor_id=actor_id, action="level_rule.reset", target_type="level_rule",
                     target_id=f"{skill_code}:{level}", before=_jsonable(before),
                     after=_jsonable(rule_view(default_rule(skill_code, level))))
    return rule_view(default_rule(skill_code, level))


def _jsonable(view: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in view.items()}


# ----------------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class Numbers:
    """What a tally says, for the pure decision."""

    level: int
    gold_answers: int
    gold_correct: int
    reviewed: int = 0
    review_rejected: int = 0
    recent: str = ""

    @property
    def scored(self) -> int:
        return self.gold_answers + self.reviewed

    @property
    def correct(self) -> int:
        return self.gold_correct + self.reviewed - self.review_rejected

    def add(self, correct: bool, *, gold: bool) -> Numbers:
        """One more scored answer (a gold answer, or a final human review decision)."""
        right = bool(correct)
        return replace(
            self,
            gold_answers=self.gold_answers + int(gold), gold_correct=self.gold_correct + int(gold and right),
            reviewed=self.reviewed + int(not gold), review_rejected=self.review_rejected + int(not gold and not right),
            recent=(self.recent + ("1" if right else "0"))[-MAX_WINDOW:])


def decide(rule: Rule, numbers: Numbers, max_level: int) -> tuple[str | None, str]:
    """("promote" | "demote" | None, why) for a worker at rule.level. Pure."""
    level = numbers.level
    if level >= 2 and rule.demote_below is not None and len(numbers.recent) >= rule.window:
        window = numbers.recent[-rule.window:]
        right = window.count("1")
        high = wilson_interval(right, rule.window)[1]
        if high < rule.demote_below:
            return "demote", (f"최근 {rule.window}개 정확도 {_pct(right / rule.window)} (기준 {_pct(rule.demote_below)}) · "
                              f"accuracy {_pct(right / rule.window)} over the last {rule.window} checked answers "
                              f"(needs {_pct(rule.demote_below)})")
    if (level < max_level and rule.requires_exam is None and rule.promote_at is not None
            and numbers.gold_answers >= rule.min_gold and numbers.scored):
        low = wilson_interval(numbers.correct, numbers.scored)[0]
        if low >= rule.promote_at:
            accuracy = numbers.correct / numbers.scored
            return "promote", (f"골드 {numbers.gold_answers}개, 정확도 {_pct(accuracy)} (기준 {_pct(rule.promote_at)}) · "
                               f"{numbers.gold_answers} gold answers, accuracy {_pct(accuracy)} "
                               f"(at least {_pct(low)} for sure; needs {_pct(rule.promote_at)})")
    return None, ""


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


# ----------------------------------------------------------------------------- tallies


def _numbers(row: SkillTally) -> Numbers:
    return Numbers(level=row.level, gold_answers=row.gold_answers, gold_correct=row.gold_correct,
                   reviewed=row.reviewed, review_rejected=row.review_rejected, recent=row.recent or "")


def _level_since(user_id: int, skill_code: str) -> dt.datetime:
    """When the worker reached their current level (the latest change in the history)."""
    at = db.session.execute(sa.select(sa.func.max(LevelChange.created_at)).where(
        LevelChange.user_id == user_id, LevelChange.skill_code == skill_code)).scalar()
    return at or EPOCH


def _counted_outcomes(user_id: int, skill_code: str, since: dt.datetime) -> tuple[dict, str]:
    """Recount a worker's scored answers in a skill since a time: the counts, and the latest
    outcomes as '1'/'0' (gold answers by answer time, reviews by the time they became final)."""
    from backend.microtasks.models import Project, Submission  # the engine's tables, read only

    in_skill = sa.and_(Submission.user_id == user_id, Submission.is_gold == sa.true(),
                       Submission.created_at >= since, Project.skill_code == skill_code)
    gold_n, gold_right = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Submission.correct.is_(True)))
        .select_from(Submission).join(Project, Project.id == Submission.project_id).where(in_skill)).one()
    gold_recent = db.session.execute(
        sa.select(Submission.created_at, Submission.correct).join(Project, Project.id == Submission.project_id)
        .where(in_skill).order_by(Submission.id.desc()).limit(MAX_WINDOW)).all()
    reviews = db.session.execute(
        sa.select(Review.final_at, Review.outcome)
        .join(Submission, Submission.id == Review.submission_id)
        .join(Project, Project.id == Review.project_id)
        .where(Review.user_id == user_id, Review.final == sa.true(), Review.auto == sa.false(),
               Submission.created_at >= since, Project.skill_code == skill_code)
        .order_by(Review.final_at.desc()).limit(MAX_WINDOW)).all()
    reviewed, rejected = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Review.outcome == "rejected"))
        .join(Submission, Submission.id == Review.submission_id)
        .join(Project, Project.id == Review.project_id)
        .where(Review.user_id == user_id, Review.final == sa.true(), Review.auto == sa.false(),
               Submission.created_at >= since, Project.skill_code == skill_code)).one()
    merged = sorted([(at, bool(ok)) for at, ok in gold_recent] +
                    [(at, outcome == "approved") for at, outcome in reviews], key=lambda pair: pair[0])
    recent = "".join("1" if ok else "0" for _at, ok in merged)[-MAX_WINDOW:]
    return ({"gold_answers": gold_n, "gold_correct": gold_right, "reviewed": reviewed,
             "review_rejected": rejected}, recent)


def _rebuild(row: SkillTally, level: int) -> None:
    since = _level_since(row.user_id, row.skill_code)
    counts, recent = _counted_outcomes(row.user_id, row.skill_code, since)
    row.level, row.since, row.recent, row.updated_at = level, since, recent, utcnow()
    for name, value in counts.items():
        setattr(row, name, value)


def _locked_tally(user_id: int, skill_code: str, level: int) -> SkillTally:
    """The worker's tally row, locked (PostgreSQL) and belonging to their current level. A missing
    one starts empty (the nightly job counts what came before it from the records; counting here
    would count the answer being recorded twice, as it is already written)."""
    stmt = (sa.select(SkillTally).where(SkillTally.user_id == user_id, SkillTally.skill_code == skill_code)
            .with_for_update().execution_options(populate_existing=True))
    row = db.session.execute(stmt).scalar_one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                row = SkillTally(user_id=user_id, skill_code=skill_code, level=level,
                                 since=_level_since(user_id, skill_code), recent="", gold_answers=0,
                                 gold_correct=0, reviewed=0, review_rejected=0, updated_at=utcnow())
                db.session.add(row)
                db.session.flush()
        except IntegrityError:  # created concurrently
            row = db.session.execute(stmt).scalar_one()
    if row.level != level:  # a level change that bypassed the event: start the new level afresh
        row.level, row.since, row.recent, row.updated_at = level, _level_since(user_id, skill_code), "", utcnow()
        row.gold_answers = row.gold_correct = row.reviewed = row.review_rejected = 0
    return row


def record_outcome(user_id: int, skill_code: str, correct: bool, *, gold: bool,
                   answered_at: dt.datetime | None = None) -> str | None:
    """Count one scored answer (a gold answer, or a final human review) at the worker's current
    level and evaluate the rules: "promote" | "demote" | None. Cheap: one level lookup, one row
    lock, one rule lookup. A review of work done before the current level counts for nothing."""
    level = skills.level_of(user_id, skill_code)
    if level < 1:
        return None
    row = _locked_tally(user_id, skill_code, level)
    if answered_at is not None and answered_at < row.since:
        return None
    numbers = _numbers(row).add(correct, gold=gold)
    row.gold_answers, row.gold_correct = numbers.gold_answers, numbers.gold_correct
    row.reviewed, row.review_rejected, row.recent = numbers.reviewed, numbers.review_rejected, numbers.recent
    row.updated_at = utcnow()
    db.session.flush()
    return _apply(row)


def _apply(row: SkillTally) -> str | None:
    skill = skills.get_skill(row.skill_code)
    action, why = decide(rule_for(row.skill_code, row.level), _numbers(row), skill.max_level)
    if action == "promote":
        skills.set_level(row.user_id, row.skill_code, row.level + 1, why, source="promotion")
    elif action == "demote":
        skills.set_level(row.user_id, row.skill_code, row.level - 1, why, source="demotion")
    return action


def evaluate_worker(user_id: int, skill_code: str, *, rebuild: bool = False) -> str | None:
    """Evaluate one worker's level in a skill now (rebuild: recount the tally from the records)."""
    level = skills.level_of(user_id, skill_code)
    if level < 1:
        return None
    row = _locked_tally(user_id, skill_code, level)
    if rebuild:
        _rebuild(row, level)
        db.session.flush()
    return _apply(row)


def evaluate_all(batch: int = 500) -> dict:
    """Nightly: recount and evaluate every certified worker in every skill. Idempotent (a second
    run finds the levels already right); one level step per worker and skill per run."""
    counts = {"evaluated": 0, "promote": 0, "demote": 0}
    after = (0, "")
    while True:
        rows = db.session.execute(
            sa.select(WorkerSkill.user_id, WorkerSkill.skill_code)
            .where(WorkerSkill.level >= 1, sa.tuple_(WorkerSkill.user_id, WorkerSkill.skill_code) > after)
            .order_by(WorkerSkill.user_id, WorkerSkill.skill_code).limit(batch)).all()
        for user_id, skill_code in rows:
            action = evaluate_worker(user_id, skill_code, rebuild=True)
            counts["evaluated"] += 1
            if action:
                counts[action] += 1
        if len(rows) < batch:
            return counts
        after = tuple(rows[-1])


def on_level_changed(_sender=None, *, user_id: int, skill: str, new_level: int, **_):
    """A new level starts a new tally (the work at the old level no longer counts)."""
    row = db.session.execute(
        sa.select(SkillTally).where(SkillTally.user_id == user_id, SkillTally.skill_code == skill)
        .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        return
    row.level, row.since, row.recent, row.updated_at = new_level, utcnow(), "", utcnow()
    row.gold_answers = row.gold_correct = row.reviewed = row.review_rejected = 0


def connect_handlers() -> None:
    events.level_changed.connect(on_level_changed)


# ----------------------------------------------------------------------------- what workers see


def _requirement_texts(rule: Rule, level: int, numbers: Numbers, accuracy: float | None,
                       exam_title: dict | None) -> dict:
    nxt = level + 1
    if rule.requires_exam:
        title = exam_title or {"ko": rule.requires_exam, "en": rule.requires_exam}
        return {"ko": f"레벨 {nxt}: 심화 시험 「{title['ko']}」에 합격하세요.",
                "en": f"Level {nxt}: pass the advanced exam “{title['en']}”."}
    need = _pct(rule.promote_at or 1.0)
    shown = _pct(accuracy) if accuracy is not None else "—"
    return {
        "ko": f"레벨 {nxt}: 레벨 {level}에서 골드 답변 {rule.min_gold}개 이상, 정확도 {need} 이상(95% 신뢰 하한)이 "
              f"필요합니다. 현재 골드 답변 {min(numbers.gold_answers, rule.min_gold)}/{rule.min_gold}개, "
              f"정확도 {shown} — {need} 필요.",
        "en": f"Level {nxt}: at least {rule.min_gold} gold answers at level {level} with an accuracy of at least "
              f"{need} (95% lower bound). Now {min(numbers.gold_answers, rule.min_gold)} of {rule.min_gold} "
              f"gold answers, accuracy {shown} — need {need}.",
    }


FIRST_LEVEL = {"ko": "레벨 1: 이 기술의 과정을 마치고 레벨 1 인증 시험에 합격하세요.",
               "en": "Level 1: complete this skill's course and pass its level 1 certification exam."}


def next_levels(user_id: int, levels: dict[str, int], max_levels: dict[str, int]) -> dict[str, dict | None]:
    """For GET /me/skills: per skill, the next level's requirements ({ko, en}) and the worker's
    progress toward them; None at the top level. Two queries for all skills."""
    custom = _custom_rules()
    tallies = {row.skill_code: row for row in db.session.execute(
        sa.select(SkillTally).where(SkillTally.user_id == user_id)).scalars()}
    exam_keys = {rule.requires_exam for rule in custom.values() if rule.requires_exam}
    titles = _exam_titles(exam_keys) if exam_keys else {}
    result: dict[str, dict | None] = {}
    for skill_code, max_level in max_levels.items():
        level = levels.get(skill_code, 0)
        if level >= max_level:
            result[skill_code] = None
            continue
        if level < 1:
            result[skill_code] = {"level": 1, "requirements": FIRST_LEVEL, "progress": {
                "gold_answers": 0, "needed": 0, "scored": 0, "accuracy": None, "wilson_low": None,
                "threshold": None, "exam": None}}
            continue
        rule = custom.get((skill_code, level)) or default_rule(skill_code, level)
        row = tallies.get(skill_code)
        numbers = _numbers(row) if row is not None and row.level == level else Numbers(level, 0, 0)
        accuracy = numbers.correct / numbers.scored if numbers.scored else None
        low = wilson_interval(numbers.correct, numbers.scored)[0] if numbers.scored else None
        result[skill_code] = {
            "level": level + 1,
            "requirements": _requirement_texts(rule, level, numbers, accuracy, titles.get(rule.requires_exam)),
            "progress": {
                "gold_answers": numbers.gold_answers, "needed": 0 if rule.requires_exam else rule.min_gold,
                "scored": numbers.scored,
                "accuracy": round(accuracy, 4) if accuracy is not None else None,
                "wilson_low": round(low, 4) if low is not None else None,
                "threshold": None if rule.requires_exam else rule.promote_at, "exam": rule.requires_exam,
            },
        }
    return result


def _exam_titles(keys: set[str]) -> dict[str, dict]:
    exams = _exams_table()
    rows = db.session.execute(sa.select(exams.c.key, exams.c.title).where(exams.c.key.in_(keys))).all()
    return {key: {"ko": (title or {}).get("ko") or (title or {}).get("en") or key,
                  "en": (title or {}).get("en") or (title or {}).get("ko") or key} for key, title in rows}
