"""Scheduled jobs of courses."""

JOBS = []
