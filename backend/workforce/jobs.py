"""Scheduled jobs of workforce analytics: keep the answer rollups current, recount them nightly."""

from backend.scheduler import Job
from backend.workforce import services

JOBS = [
    Job("workforce.refresh_rollups", services.refresh_rollups, "interval", {"minutes": 1}),
    Job("workforce.rebuild_rollups", services.rebuild_rollups, "cron", {"hour": 3, "minute": 40}),
]
