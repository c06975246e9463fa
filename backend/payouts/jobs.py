"""Scheduled jobs of payouts."""

JOBS = []
