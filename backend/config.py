"""Settings from the environment. One place lists every knob (the README's configuration table)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def _int(env, name: str, default: int) -> int:
    raw = env.get(name)
    return default if raw in (None, "") else int(raw)


def _float(env, name: str, default: float) -> float:
    raw = env.get(name)
    return default if raw in (None, "") else float(raw)


def _secret_key(env, instance_path: Path, testing: bool) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/.

    Generating a key per process would break tokens between gunicorn workers (TRAPS.md).
    """
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    if testing:
        return "test-secret-key-not-for-production-use-0123456789"
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    log.warning(
        "SECRET_KEY is not set: using the generated key in %s. Set SECRET_KEY in production.",
        key_file,
    )
    return key_file.read_text().strip()


def load_config(instance_path: Path, overrides: dict | None = None, env=os.environ) -> dict:
    overrides = overrides or {}
    testing = bool(overrides.get("TESTING")) or env.get("LABELPATH_ENV") == "testing"
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'labelpath.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://"):]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    config = {
        "ENV_NAME": "testing" if testing else env.get("LABELPATH_ENV", "development"),
        "TESTING": testing,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "pool_size": _int(env, "DB_POOL_SIZE", 5),
            "max_overflow": _int(env, "DB_MAX_OVERFLOW", 5),
        },
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024),
        "ACCESS_TOKEN_TTL_S": _int(env, "ACCESS_TOKEN_TTL_S", 15 * 60),
        "REFRESH_TOKEN_TTL_S": _int(env, "REFRESH_TOKEN_TTL_S", 30 * 24 * 3600),
        "LOGIN_LIMIT_PER_ACCOUNT": env.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per minute"),
        "LOGIN_LIMIT_PER_ADDRESS": env.get("LOGIN_LIMIT_PER_ADDRESS", "30 per minute"),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        # argon2id; cheap parameters only in tests (TRAPS.md).
        "ARGON2_TIME_COST": 1 if testing else _int(env, "ARGON2_TIME_COST", 3),
        "ARGON2_MEMORY_COST": 1024 if testing else _int(env, "ARGON2_MEMORY_COST", 65536),
        "CURRENCY": env.get("CURRENCY", "KRW"),
        "CORS_ORIGINS": [o for o in env.get("CORS_ORIGINS", "").split(",") if o],
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_CONNECT_WEBHOOK_SECRET": env.get("STRIPE_CONNECT_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", ""),
        "STRIPE_CONNECT_RETURN_URL": env.get("STRIPE_CONNECT_RETURN_URL")
        or f"http://127.0.0.1:{_int(env, 'PORT', 5000)}/api/v1/payout-account/return",
        "STRIPE_CONNECT_REFRESH_URL": env.get("STRIPE_CONNECT_REFRESH_URL")
        or f"http://127.0.0.1:{_int(env, 'PORT', 5000)}/api/v1/payout-account/refresh",
        # Payouts: seconds a reward stays pending for review (0 = available at once), and the
        # smallest payout in minor units of CURRENCY.
        "REVIEW_WINDOW_S": _int(env, "REVIEW_WINDOW_S", 0),
        "PAYOUT_MINIMUM": _int(env, "PAYOUT_MINIMUM", 10000),
        # Review (backend/quality/review.py, floors.py): appeal window; how long a sampled submission
        # waits for a reviewer (0 = REVIEW_WINDOW_S, or 3 days when that is 0); sampling rates
        # (everyone, new workers, low gold accuracy); fast = under this share of the project's
        # median time; gold accuracy floor and the window of latest gold answers it looks at.
        "APPEAL_WINDOW_S": _int(env, "APPEAL_WINDOW_S", 7 * 24 * 3600),
        "REVIEW_DEADLINE_S": _int(env, "REVIEW_DEADLINE_S", 0),
        "REVIEW_SAMPLE_RATE": _float(env, "REVIEW_SAMPLE_RATE", 0.05),
        "REVIEW_SAMPLE_RATE_NEW": _float(env, "REVIEW_SAMPLE_RATE_NEW", 0.25),
        "REVIEW_SAMPLE_RATE_LOW_ACCURACY": _float(env, "REVIEW_SAMPLE_RATE_LOW_ACCURACY", 0.5),
        "FAST_SUBMIT_RATIO": _float(env, "FAST_SUBMIT_RATIO", 0.25),
        "GOLD_ACCURACY_FLOOR": _float(env, "GOLD_ACCURACY_FLOOR", 0.7),
        "GOLD_FLOOR_WINDOW": _int(env, "GOLD_FLOOR_WINDOW", 40),
        "FIREBASE_CREDENTIALS": env.get("FIREBASE_CREDENTIALS")
        or env.get("GOOGLE_APPLICATION_CREDENTIALS", ""),
        # Push: FCM host (empty = Google; tests point it at a stand-in), project (empty = the
        # service account's), HTTP timeout per request, messages per send_each batch (≤ 500).
        "FCM_API_BASE": env.get("FCM_API_BASE", ""),
        "FCM_PROJECT_ID": env.get("FCM_PROJECT_ID", ""),
        "FCM_HTTP_TIMEOUT_S": float(env.get("FCM_HTTP_TIMEOUT_S") or 5),
        "FCM_BATCH_SIZE": min(500, _int(env, "FCM_BATCH_SIZE", 100)),
        # Media storage (backend/storage.py): local disk under instance/ or an S3-compatible
        # bucket (credentials from the standard AWS environment); signed URLs live this long.
        "STORAGE_BACKEND": env.get("STORAGE_BACKEND", "local"),
        "STORAGE_LOCAL_DIR": env.get("STORAGE_LOCAL_DIR") or str(instance_path / "media"),
        "S3_BUCKET": env.get("S3_BUCKET", ""),
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL", ""),
        "S3_REGION": env.get("S3_REGION", ""),
        "MEDIA_URL_TTL_S": _int(env, "MEDIA_URL_TTL_S", 300),
        # Collection uploads: largest chunk per request, largest file, hours an unfinished or
        # unsubmitted upload is kept.
        "UPLOAD_CHUNK_MAX_BYTES": _int(env, "UPLOAD_CHUNK_MAX_BYTES", 5 * 1024 * 1024),
        "UPLOAD_MAX_BYTES": _int(env, "UPLOAD_MAX_BYTES", 200 * 1024 * 1024),
        "UPLOAD_TTL_S": _int(env, "UPLOAD_TTL_S", 24 * 3600),
        "PORT": _int(env, "PORT", 5000),
        "LOG_FORMAT": env.get("LOG_FORMAT", "text"),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        # flask-smorest / OpenAPI
        "API_TITLE": "LabelPath API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/static/",
    }
    config.update(overrides)
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    config["SECRET_KEY"] = overrides.get("SECRET_KEY") or _secret_key(env, instance_path, testing)
    return config
