"""Scheduled jobs of quizzes: close timed-out attempts, expire certificates."""

from backend.scheduler import Job
from quizzes import services

JOBS = [
    Job("quizzes.close_expired_attempts", services.close_expired_attempts, "interval", {"minutes": 1}),
    Job("quizzes.expire_certificates", services.expire_certificates, "interval", {"minutes": 10}),
]
