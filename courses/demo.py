"""Demo content of courses for `make run`: every pack under courses/packs (published)."""

from courses import services


def seed() -> None:
    """Import the starter course packs (idempotent: unchanged packs are left alone)."""
    services.import_demo_packs()
