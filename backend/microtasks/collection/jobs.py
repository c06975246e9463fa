"""Scheduled jobs of collection uploads."""

from backend.microtasks.collection import services as collection
from backend.scheduler import Job

JOBS = [
    # Unfinished, rejected and never-submitted uploads past their time, with their stored bytes.
    Job("collection.purge_expired_uploads", collection.purge_expired_uploads, "interval", {"minutes": 15}),
]
