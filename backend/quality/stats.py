"""Small statistics shared by quality, skills and workforce: pure functions, no database."""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion: (lower, upper), both within [0, 1].

    `successes` of `n` trials; `z` the normal quantile (1.96 ≈ 95 % two-sided). With no trials
    nothing is known: (0.0, 1.0). Unlike the plain p ± z·√(p(1−p)/n), it stays inside [0, 1] and
    is honest for small n and for p near 0 or 1 (8 of 10 → 0.490–0.943; 10 of 10 → 0.722–1.0).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if z <= 0:
        raise ValueError("z must be positive")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def median(values) -> float | None:
    """The median of some numbers (None for none)."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2
