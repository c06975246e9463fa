"""The worker-facing HTTP API for phones (/api/v1/...). Only create_app imports this package."""

from mobile_api import accounts, skills

BLUEPRINTS = (accounts.blp, skills.blp)
