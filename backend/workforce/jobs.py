"""Scheduled jobs of workforce analytics."""

JOBS = []
