"""LabelPath: the app factory, the composition root that wires every package together."""

from __future__ import annotations

import logging
from pathlib import Path

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_cors import CORS

from backend import errors, observability, web
from backend.config import load_config
from backend.database import configure_engine
from backend.extensions import api, db, limiter, migrate

log = logging.getLogger("labelpath")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    app.config.update(load_config(Path(app.instance_path), config))
    app.json = web.JSONProvider(app)
    web.install_url_converters(app)
    observability.configure_logging(app)
    _init_extensions(app)
    errors.register_error_handlers(app)
    observability.install_request_logging(app)
    web.install_request_hooks(app)
    web.install_security_headers(app)
    _register_blueprints(app)
    _register_commands(app)
    _register_events_and_jobs(app)
    _describe_outside_services(app)
    return app


def _import_models() -> None:
    """Every model module, so the metadata (and Alembic's autogenerate) sees every table."""
    import backend.accounts.models  # noqa: F401
    import backend.audit.models  # noqa: F401
    import backend.idempotency  # noqa: F401
    import backend.microtasks.collection.models  # noqa: F401
    import backend.microtasks.models  # noqa: F401
    import backend.notifications.models  # noqa: F401
    import backend.payouts.models  # noqa: F401
    import backend.quality.models  # noqa: F401
    import backend.skills.models  # noqa: F401
    import backend.workforce.models  # noqa: F401
    import courses.models  # noqa: F401
    import quizzes.models  # noqa: F401


def _init_extensions(app: Flask) -> None:
    _import_models()
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    limiter.init_app(app)
    if app.config["CORS_ORIGINS"]:
        CORS(app, origins=app.config["CORS_ORIGINS"], expose_headers=["Retry-After", "ETag", "X-Request-ID"])
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "bearerFormat": "JWT"})


def _register_blueprints(app: Flask) -> None:
    import courses.views
    import mobile_api
    import quizzes.views
    from backend import health
    from backend.audit import views as audit_views
    from backend.microtasks import views as microtasks_views
    from backend.microtasks.collection import views as collection_views
    from backend.payouts import views as payouts_views
    from backend.quality import review_views
    from backend.quality import views as quality_views
    from backend.workforce import dashboard as workforce_dashboard
    from backend.workforce import views as workforce_views

    api.register_blueprint(health.blp)
    api.register_blueprint(review_views.blp)
    api.register_blueprint(quality_views.blp)
    api.register_blueprint(collection_views.blp)
    for blueprint in mobile_api.BLUEPRINTS:
        api.register_blueprint(blueprint)
    for blueprint in (courses.views.blp, quizzes.views.blp, microtasks_views.blp, payouts_views.blp,
                      audit_views.blp, workforce_views.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(workforce_dashboard.bp)  # HTML pages under /dashboard (not in the OpenAPI document)

    # Swagger UI assets come from an installed package, never from a CDN (TRAPS.md).
    @app.route("/api/docs/static/<path:filename>")
    def swagger_ui_static(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def _register_commands(app: Flask) -> None:
    from backend import cli

    for command in cli.COMMANDS:
        app.cli.add_command(command)


def _register_events_and_jobs(app: Flask) -> None:
    import courses.jobs
    import quizzes.jobs
    from backend import jobs as platform_jobs
    from backend.microtasks import jobs as microtasks_jobs
    from backend.microtasks import services as microtasks
    from backend.microtasks.collection import jobs as collection_jobs
    from backend.microtasks.collection import services as collection
    from backend.notifications import jobs as notifications_jobs
    from backend.notifications import services as notifications
    from backend.payouts import jobs as payouts_jobs
    from backend.payouts import services as payouts
    from backend.quality import jobs as quality_jobs
    from backend.quality import results as quality_results
    from backend.quality import review as quality_review
    from backend.skills import services as skills
    from backend.workforce import jobs as workforce_jobs

    skills.connect_handlers()
    payouts.connect_handlers()
    notifications.connect_handlers()
    collection.connect_handlers()
    microtasks.connect_handlers()
    quality_review.connect_handlers()
    quality_results.connect_handlers()
    _register_personal_data()
    app.extensions["labelpath_jobs"] = [
        *platform_jobs.JOBS, *courses.jobs.JOBS, *quizzes.jobs.JOBS, *microtasks_jobs.JOBS,
        *payouts_jobs.JOBS, *notifications_jobs.JOBS, *collection_jobs.JOBS, *quality_jobs.JOBS,
        *workforce_jobs.JOBS,
    ]


def _register_personal_data() -> None:
    from backend import privacy
    from backend.accounts import services as accounts
    from backend.microtasks.collection import services as collection
    from backend.skills import services as skills

    privacy.register(privacy.DataSection("account", accounts.export_account))
    privacy.register(privacy.DataSection("skills", skills.export_levels))
    privacy.register(privacy.DataSection("collection", collection.export_collection, collection.erase_collection))


def _describe_outside_services(app: Flask) -> None:
    if app.config["TESTING"]:
        return
    if not app.config["STRIPE_API_KEY"]:
        log.info("Stripe: no STRIPE_API_KEY; payouts stay queued in the ledger and nothing is paid.")
    if not app.config["FIREBASE_CREDENTIALS"]:
        log.info("Push: no Firebase credentials; notifications go to the in-app feed and the log.")
