"""Scheduled jobs of quality (aggregation, review). Append your Job entries."""

from backend.scheduler import Job

JOBS: list[Job] = []
