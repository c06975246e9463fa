"""The worker-facing HTTP API for phones (/api/v1/...). Only create_app imports this package."""

from mobile_api import accounts, exams, money, notifications, reviews, skills, tasks, training, uploads

BLUEPRINTS = (accounts.blp, skills.blp, training.blp, exams.blp, tasks.blp, money.blp, notifications.blp,
               uploads.blp, reviews.blp)
