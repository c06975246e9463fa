"""Scheduled jobs of notifications: drain the push outbox, the daily checks, housekeeping."""

from backend.notifications import services
from backend.scheduler import Job

JOBS = [
    # Every few seconds; each run is bounded (MAX_ROUNDS rounds of at most one batch each).
    Job("notifications.drain_outbox", services.drain_outbox, "interval", {"seconds": 5}),
    # 00:30 UTC = 09:30 in Korea; pushes still wait for each worker's quiet hours.
    Job("notifications.remind_expiring_certificates", services.remind_expiring_certificates, "cron",
        {"hour": 0, "minute": 30}),
    Job("notifications.announce_new_work", services.announce_new_work, "interval", {"minutes": 15}),
    Job("notifications.purge_old", services.purge_old, "cron", {"hour": 4, "minute": 40}),
]
