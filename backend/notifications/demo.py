"""Demo content of notifications for `make run`: a welcome note in the demo worker's feed."""

from backend.accounts import services as accounts
from backend.notifications import services

DEMO_WORKER = "worker@labelpath.local"


def seed() -> None:
    """Load the demo content of this domain (idempotent: the welcome note has a dedupe key)."""
    worker = accounts.find_by_email(DEMO_WORKER)
    if worker is None:
        return
    services.notify(worker.id, "welcome", data={"screen": "courses"}, dedupe_key="welcome")
