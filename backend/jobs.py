"""Platform-wide scheduled jobs."""

from backend import idempotency
from backend.accounts import services as accounts
from backend.scheduler import Job

JOBS = [
    Job("platform.purge_idempotency_keys", idempotency.purge_old, "interval", {"hours": 1}),
    Job("accounts.purge_expired_refresh_tokens", accounts.purge_expired_refresh_tokens, "cron",
        {"hour": 4, "minute": 10}),
]
