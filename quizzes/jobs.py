"""Scheduled jobs of quizzes."""

JOBS = []
