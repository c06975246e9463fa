"""Scheduled jobs of microtasks."""

JOBS = []
