"""Scheduled jobs of microtasks."""

from backend.microtasks import services as microtasks
from backend.scheduler import Job

JOBS = [
    # Expired leases give their slots back (claims also reclaim on the spot when they find nothing).
    Job("microtasks.expire_leases", microtasks.expire_leases, "interval", {"seconds": 30}),
]
