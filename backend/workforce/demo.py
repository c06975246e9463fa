"""Demo workforce for `make run`."""


def seed() -> None:
    """Load the demo content of this domain (idempotent)."""
