"""Demo content of quizzes for `make run`: the four starter exams from quizzes/banks/."""

from quizzes import services


def seed() -> None:
    """Load the demo content of this domain (idempotent: an unchanged bank is left as it is)."""
    services.import_banks(services.BANKS_DIR)
