"""Scheduled jobs of notifications."""

JOBS = []
