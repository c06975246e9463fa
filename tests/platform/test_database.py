"""The test database itself: rollback isolation, migrations that match the models, UTC times."""

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.accounts import services as accounts
from backend.accounts.models import User
from backend.extensions import db

LEAK_PROBE_EMAIL = "leak-probe@example.com"


def _probe_count(app):
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(User).where(
            User.email == LEAK_PROBE_EMAIL)).scalar()


def test_isolation_part_1_commits_a_user(app):
    with app.app_context():
        accounts.create_user(LEAK_PROBE_EMAIL, "password 1234", "probe")
        db.session.commit()
    assert _probe_count(app) == 1


def test_isolation_part_2_sees_no_user_from_part_1(app):
    """Fails if the fixture lets committed data leak from one test into the next."""
    assert _probe_count(app) == 0


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "render_as_batch": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_datetimes_come_back_as_aware_utc(app):
    with app.app_context():
        user = accounts.create_user("tz@example.com", "password 1234", "tz")
        db.session.commit()
        db.session.expire_all()
        created = db.session.get(User, user.id).created_at
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
