"""Scheduled jobs of quality (aggregation, review). Append your Job entries."""

from backend.scheduler import Job

JOBS: list[Job] = []

# Review, appeals and levels (backend/quality/review.py, backend/skills/rules.py).
from backend.quality import review as _review  # noqa: E402
from backend.skills import rules as _rules  # noqa: E402

JOBS += [
    Job("quality.auto_approve_reviews", _review.auto_approve_due, "interval", {"minutes": 5}),
    Job("quality.finalize_rejections", _review.finalize_due, "interval", {"minutes": 5}),
    Job("quality.evaluate_levels", _rules.evaluate_all, "cron", {"hour": 3, "minute": 30}),
]

# Answer aggregation and dynamic overlap (backend/quality/results.py): only projects with new
# answers; each in its own transactions (the job commits per project).
from backend.quality import results as _results  # noqa: E402

JOBS += [
    Job("quality.aggregate", _results.aggregation_job, "interval", {"seconds": 60}),
]
