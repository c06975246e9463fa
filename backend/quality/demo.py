"""Demo content of quality for `make run`."""


def seed() -> None:
    """Load the demo content of this domain (idempotent)."""
