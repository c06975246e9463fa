"""The pure parts: the per-attempt draw and the item statistics. Database-free."""

import math
from dataclasses import dataclass, field

import pytest

from quizzes import scoring


@dataclass
class Q:
    id: int
    pool: str = "default"
    kind: str = "true_false"
    position: int = 0
    options: list = field(default_factory=list)


def _bank():
    choice = [{"id": c} for c in "abcd"]
    return ([Q(i, "basics", "single_choice", i, choice) for i in range(1, 11)]
            + [Q(i, "practical", "bbox", i) for i in range(11, 16)])


def test_draw_is_reproducible_from_the_seed_and_varies_between_seeds():
    spec = [{"pool": "basics", "count": 4}, {"pool": "practical", "count": 2}]
    first = scoring.draw(12345, _bank(), spec)
    assert first == scoring.draw(12345, list(reversed(_bank())), spec)  # input order does not matter
    assert [d.question_id <= 10 for d in first] == [True] * 4 + [False] * 2
    assert len({d.question_id for d in first}) == 6
    draws = {tuple(d.question_id for d in scoring.draw(seed, _bank(), spec)) for seed in range(30)}
    assert len(draws) > 20


def test_options_are_shuffled_for_choice_kinds_only():
    drawn = scoring.draw(7, _bank(), None)
    assert [d.question_id for d in drawn] == list(range(1, 16))  # no spec: every question, authored order
    assert all(sorted(d.option_order) == list("abcd") for d in drawn[:10])
    assert all(d.option_order is None for d in drawn[10:])
    assert len({tuple(d.option_order) for d in drawn[:10]}) > 1


def test_draw_never_takes_more_than_a_pool_holds():
    drawn = scoring.draw(1, _bank(), [{"pool": "practical", "count": 50}])
    assert sorted(d.question_id for d in drawn) == list(range(11, 16))


def test_point_biserial_matches_the_textbook_formula():
    correct = [True, True, True, False, False, True, False, False]
    totals = [90, 80, 75, 40, 55, 60, 30, 65]
    n = len(totals)
    mean = sum(totals) / n
    sd = math.sqrt(sum((t - mean) ** 2 for t in totals) / n)
    m1 = sum(t for c, t in zip(correct, totals, strict=True) if c) / 4
    m0 = sum(t for c, t in zip(correct, totals, strict=True) if not c) / 4
    expected = (m1 - m0) / sd * math.sqrt(0.5 * 0.5)
    assert scoring.point_biserial(correct, totals) == pytest.approx(expected)
    assert scoring.point_biserial([not c for c in correct], totals) == pytest.approx(-expected)


@pytest.mark.parametrize(("correct", "totals"), [
    ([True, True, True], [10, 20, 30]),  # everyone right
    ([False, False], [10, 20]),  # everyone wrong
    ([True, False], [50, 50]),  # scores do not vary
    ([True], [10]),
    ([], []),
])
def test_point_biserial_is_none_when_undefined(correct, totals):
    assert scoring.point_biserial(correct, totals) is None


def test_distribution_bins_percent_scores():
    bins = scoring.distribution([0, 9.99, 10, 55, 99.5, 100, 100])
    assert [b["from"] for b in bins] == list(range(0, 100, 10))
    assert {b["from"]: b["count"] for b in bins if b["count"]} == {0: 2, 10: 1, 50: 1, 90: 3}


def test_flags_need_enough_responses():
    assert scoring.item_flags(4, 0.0, -0.5) == []
    assert scoring.item_flags(5, 0.1, -0.5) == ["negative_discrimination", "nearly_everyone_wrong"]
    assert scoring.item_flags(50, 0.6, 0.3) == []
    assert scoring.item_flags(50, 0.19, None) == ["nearly_everyone_wrong"]
