import pytest


@pytest.fixture(autouse=True)
def _repeatable_draws():
    """Gold draws, shuffles and review sampling are random; seed them so every run of a test sees
    the same draws (a test that needs a gold and a normal task must not depend on luck)."""
    from backend.microtasks.services import leasing
    from backend.quality import review

    leasing._random.seed(20310504)
    review._random.seed(20310504)
