"""The Wilson interval against values computed by hand (and published tables)."""

import math

import pytest

from backend.quality.stats import median, wilson_interval


def close(pair, expected, places=4):
    return all(math.isclose(a, b, abs_tol=10 ** -places) for a, b in zip(pair, expected, strict=True))


def test_eight_of_ten():
    # p = 0.8, z² = 3.8416: centre (0.8 + 0.19208) / 1.38416 = 0.71674,
    # half 1.96 · √(0.016 + 0.009604) / 1.38416 = 0.22658
    assert close(wilson_interval(8, 10), (0.49016, 0.94332))


def test_all_and_none_right_stay_inside_zero_and_one():
    low, high = wilson_interval(10, 10)
    assert math.isclose(low, 1 / 1.38416, abs_tol=1e-5) and high == 1.0
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and math.isclose(high, 1 - 1 / 1.38416, abs_tol=1e-5)


def test_large_samples_narrow_around_the_proportion():
    # 900 of 1000: centre 0.9019208 / 1.0038416 = 0.89847, half 1.96 · √0.0000909604 / 1.0038416 = 0.01862
    assert close(wilson_interval(900, 1000), (0.87985, 0.91709))
    low, high = wilson_interval(90, 100)
    assert low < 0.87985 and high > 0.91709  # fewer answers, wider interval


def test_other_z_values():
    # 1 of 2 at z = 1: centre 0.5, half √(0.125 + 0.0625) / 1.5 = 0.28868
    assert close(wilson_interval(1, 2, z=1.0), (0.21132, 0.78868))


def test_no_trials_know_nothing_and_bad_input_is_refused():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for successes, n in ((3, 2), (-1, 5), (0, -1)):
        with pytest.raises(ValueError):
            wilson_interval(successes, n)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, z=0)


def test_median():
    assert median([]) is None
    assert median([5, 1, 3]) == 3.0
    assert median([4, 1, 3, 2]) == 2.5
