"""Pure functions of certification: the per-attempt draw and the item statistics."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

CHOICE_KINDS = ("single_choice", "multi_choice")
MIN_RESPONSES_TO_FLAG = 5  # fewer answers say nothing about an item
HARD_ITEM_SHARE = 0.2  # fewer right than this: nearly everyone wrong


@dataclass(frozen=True)
class Drawn:
    question_id: int
    option_order: list[str] | None  # option ids in the order shown; None for kinds without options


def draw(seed: int, questions: Sequence, spec: list[dict] | None) -> list[Drawn]:
    """The questions of one attempt and their option order, reproducible from `seed`.

    `questions` are the exam's active questions (objects with id, pool, kind, options, position).
    With a draw spec, `count` questions are sampled from each pool, pools in the spec's order, in a
    random order within the pool; without one, every question in the authored order. Choice options
    are shuffled per attempt.
    """
    rng = random.Random(seed)
    ordered = sorted(questions, key=lambda q: (q.position, q.id))
    if spec:
        chosen = []
        for entry in spec:
            pool = [q for q in ordered if q.pool == entry["pool"]]
            chosen.extend(rng.sample(pool, min(entry["count"], len(pool))))
    else:
        chosen = ordered
    drawn = []
    for question in chosen:
        order = None
        if question.kind in CHOICE_KINDS:
            order = [option["id"] for option in question.options]
            rng.shuffle(order)
        drawn.append(Drawn(question.id, order))
    return drawn


def point_biserial(correct: Sequence[bool], totals: Sequence[float]) -> float | None:
    """Correlation of answering an item right (0/1) with a score; None when either does not vary."""
    n = len(correct)
    if n < 2 or n != len(totals):
        return None
    right = [t for c, t in zip(correct, totals, strict=True) if c]
    wrong = [t for c, t in zip(correct, totals, strict=True) if not c]
    if not right or not wrong:
        return None
    mean = sum(totals) / n
    sd = math.sqrt(sum((t - mean) ** 2 for t in totals) / n)
    if sd == 0:
        return None
    p = len(right) / n
    return (sum(right) / len(right) - sum(wrong) / len(wrong)) / sd * math.sqrt(p * (1 - p))


def distribution(percents: Sequence[float], width: int = 10) -> list[dict]:
    """Counts of percent scores in bins [0, 10), [10, 20), … [90, 100] (100 falls in the last)."""
    bins = [{"from": start, "to": start + width, "count": 0} for start in range(0, 100, width)]
    for percent in percents:
        index = min(int(percent // width), len(bins) - 1)
        bins[max(index, 0)]["count"] += 1
    return bins


def item_flags(responses: int, share_correct: float | None, discrimination: float | None) -> list[str]:
    """What makes an item look broken: it punishes the strong, or nearly everyone misses it."""
    if responses < MIN_RESPONSES_TO_FLAG:
        return []
    flags = []
    if discrimination is not None and discrimination < 0:
        flags.append("negative_discrimination")
    if share_correct is not None and share_correct < HARD_ITEM_SHARE:
        flags.append("nearly_everyone_wrong")
    return flags
