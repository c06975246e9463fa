"""A simulated workforce of known accuracy answers thousands of gold tasks: good workers climb,
average ones stay put, random clickers are paused everywhere they may work (some demoted first when they started above
level 1),
an adversary who turns careless and fast after climbing is paused.

The simulation drives the same pure pieces the services use (rules.Numbers.add, rules.decide with
the default rules, floors.push / floor_broken / is_fast), in the order review.score_answer calls
them, so it needs no database and runs in a blink (seeded: every run sees the same workforce).
A second test plays a smaller workforce through the database-backed services themselves and
checks they end exactly where the model does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import sqlalchemy as sa

from backend.extensions import db
from backend.quality import floors, review
from backend.quality.models import ProjectPace, ProjectPause
from backend.skills import rules
from backend.skills import services as skills
from backend.skills.models import LevelChange

from .review_support import START, clock, make_project

MAX_LEVEL = 5
MEDIAN_MS = 20_000


@dataclass
class Worker:
    kind: str
    accuracy: float
    level: int
    start: int = 0
    answered: int = 0
    numbers: rules.Numbers | None = None
    stats: dict = field(default_factory=dict)  # project level → [recent_gold, recent_fast]
    paused: dict = field(default_factory=dict)  # project level → cause
    promotions: int = 0
    demotions: int = 0
    peak: int = 0

    def __post_init__(self):
        self.start = self.peak = self.level
        self.numbers = rules.Numbers(self.level, 0, 0)

    def answer(self, rng: random.Random) -> tuple[bool, int]:
        """(right?, duration ms) of the next gold answer."""
        if self.kind == "adversarial" and self.answered >= 90:  # climbed; now clicks fast and blindly
            return rng.random() < 0.5, rng.randint(800, 2_000)
        return rng.random() < self.accuracy, max(3_000, int(rng.gauss(MEDIAN_MS, 4_000)))

    def project(self) -> int | None:
        """The hardest project (by difficulty) the worker may work on, or None when paused everywhere."""
        open_levels = [d for d in range(1, self.level + 1) if d not in self.paused]
        return open_levels[-1] if open_levels else None


def workforce(scale: int = 1) -> list[Worker]:
    kinds = ([("good", 0.96, 1)] * 4 + [("average", 0.80, 1)] * 4 + [("random", 0.5, 1)] * 3
             + [("random", 0.5, 3)] * 2 + [("adversarial", 0.97, 1)] * 3) * scale
    return [Worker(kind, accuracy, level) for kind, accuracy, level in kinds]


def model_answer(worker: Worker, project: int, right: bool, duration_ms: int) -> None:
    """What review.score_answer does, on the worker's in-memory state."""
    recent = worker.stats.setdefault(project, ["", ""])
    recent[1] = floors.push(recent[1], floors.is_fast(duration_ms, MEDIAN_MS))
    recent[0] = floors.push(recent[0], right)
    broken = floors.floor_broken(*recent)
    if broken is not None and project not in worker.paused:
        worker.paused[project] = broken[0]
    worker.numbers = worker.numbers.add(right, gold=True)
    action, _why = rules.decide(rules.default_rule("llm_eval", worker.level), worker.numbers, MAX_LEVEL)
    if action:
        worker.level += 1 if action == "promote" else -1
        worker.promotions += action == "promote"
        worker.demotions += action == "demote"
        worker.peak = max(worker.peak, worker.level)
        worker.numbers = rules.Numbers(worker.level, 0, 0)


def simulate(workers: list[Worker], rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    total = 0
    for _ in range(rounds):
        for worker in workers:
            project = worker.project()
            if project is None:
                continue
            right, duration = worker.answer(rng)
            model_answer(worker, project, right, duration)
            worker.answered += 1
            total += 1
    return total


def test_good_workers_climb_and_random_clickers_are_stopped():
    workers = workforce(scale=2)
    total = simulate(workers, rounds=200, seed=20310504)
    print(f"\n{total} gold answers; per worker (start → end level, peak, answers, pauses):")
    for worker in workers:
        print(f"  {worker.kind:11} {worker.start} → {worker.level} (peak {worker.peak}) "
              f"{worker.answered:3} answers, paused: {sorted(worker.paused.values()) or '-'}")
    assert total >= 3000
    groups: dict[str, list[Worker]] = {}
    for worker in workers:
        groups.setdefault(worker.kind, []).append(worker)
    for worker in groups["good"]:  # promoted more than once, never demoted or paused
        assert worker.level >= 3 and worker.demotions == 0 and not worker.paused, worker
    for worker in groups["average"]:  # 80 %: kept at level 1, never paused (the floor is 70 %)
        assert worker.level == 1 and not worker.paused, worker
    for worker in groups["random"]:  # stopped: paused wherever they may work (some demoted first)
        assert worker.promotions == 0 and worker.project() is None and worker.answered < 200, worker
        assert set(worker.paused.values()) == {"accuracy_floor"} and worker.level <= worker.start
    assert any(w.demotions for w in groups["random"] if w.start > 1)  # demoted before the floors caught them
    for worker in groups["adversarial"]:  # climbed while careful, then paused for fast clicking
        assert worker.peak >= 2 and worker.project() is None, worker
        assert "fast_submit" in worker.paused.values(), worker


def test_the_model_is_repeatable_and_other_seeds_agree():
    first, second = workforce(), workforce()
    assert simulate(first, 200, seed=7) == simulate(second, 200, seed=7)
    assert [(w.level, w.answered, w.paused) for w in first] == [(w.level, w.answered, w.paused) for w in second]
    for seed in range(3):  # the conclusions hold for other draws too
        workers = workforce()
        simulate(workers, 200, seed=seed)
        assert all(w.level >= 3 for w in workers if w.kind == "good")
        assert all(w.project() is None for w in workers if w.kind in ("random", "adversarial"))
        assert all(w.level == 1 and not w.paused for w in workers if w.kind == "average")


def test_the_database_services_end_where_the_model_does(app, auth):
    """The same answers through review.score_answer (tallies, rules, floors in the database)."""
    kinds = [("good", 0.96, 1), ("average", 0.8, 1), ("random", 0.5, 3), ("adversarial", 0.97, 1)]
    model = [Worker(kind, accuracy, level) for kind, accuracy, level in kinds]
    real = [Worker(kind, accuracy, level) for kind, accuracy, level in kinds]
    rounds, seed = 130, 99
    simulate(model, rounds, seed)
    with clock():
        projects = {level: make_project(app, normal=0, difficulty=level) for level in range(1, MAX_LEVEL + 1)}
        ids = [auth.register().id for _ in real]
        rng = random.Random(seed)
        with app.app_context():
            for project_id in projects.values():  # the projects' usual pace, as real answers set it
                db.session.add(ProjectPace(project_id=project_id, median_ms=MEDIAN_MS, sample_size=500,
                                           computed_at=START))
            for worker, user_id in zip(real, ids, strict=True):
                skills.set_level(user_id, "llm_eval", worker.level, "certified", source="certificate")
            db.session.commit()
            for _ in range(rounds):
                for worker, user_id in zip(real, ids, strict=True):
                    worker.level = skills.level_of(user_id, "llm_eval")
                    paused = floors.paused_projects(user_id)
                    worker.paused = {d: "paused" for d, pid in projects.items() if pid in paused}
                    project = worker.project()
                    if project is None:
                        continue
                    right, duration = worker.answer(rng)
                    review.score_answer(user_id, projects[project], "llm_eval", gold=True, correct=right,
                                        duration_ms=duration, at=START)
                    worker.answered += 1
                db.session.commit()
            for worker, user_id in zip(real, ids, strict=True):
                worker.level = skills.level_of(user_id, "llm_eval")
                worker.paused = {level: cause for level, pid in projects.items() for cause in db.session.execute(
                    sa.select(ProjectPause.cause).where(ProjectPause.user_id == user_id,
                                                        ProjectPause.project_id == pid)).scalars()}
                changes = db.session.execute(sa.select(LevelChange.source).where(
                    LevelChange.user_id == user_id)).scalars().all()
                worker.promotions, worker.demotions = changes.count("promotion"), changes.count("demotion")
    assert [(w.kind, w.level, w.answered, w.paused, w.promotions, w.demotions) for w in real] == \
        [(w.kind, w.level, w.answered, w.paused, w.promotions, w.demotions) for w in model]
    assert any(w.promotions for w in real) and any(w.paused for w in real)
