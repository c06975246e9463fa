"""Fixtures: `app`, `client`, `auth`, on SQLite (a fresh database per test, copied from a migrated
template) or PostgreSQL (one database per session, each test inside a rolled-back transaction).

TEST_DB=sqlite|postgresql picks the database; TEST_DATABASE_URL points at the PostgreSQL server.
Tests that use no database fixture run only in the SQLite pass (they don't depend on it).
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass

import flask_migrate
import pytest
import sqlalchemy as sa
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy.orm import scoped_session, sessionmaker

from backend import create_app
from backend.extensions import db

TEST_DB = os.environ.get("TEST_DB", "sqlite")
PG_SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/")
DB_FIXTURES = {"database_url", "app", "committing_app", "client", "auth"}


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres_only: runs only in the PostgreSQL pass")
    config.addinivalue_line("markers", "sqlite_only: runs only in the SQLite pass (database-light, e.g. a browser)")


def pytest_collection_modifyitems(config, items):
    if TEST_DB == "sqlite":
        selected = [item for item in items if not item.get_closest_marker("postgres_only")]
    else:
        selected = [item for item in items if (DB_FIXTURES & set(getattr(item, "fixturenames", ()))
                                               or item.get_closest_marker("postgres_only"))
                    and not item.get_closest_marker("sqlite_only")]
    deselected = [item for item in items if item not in selected]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def test_config(database_url: str, **extra) -> dict:
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, **extra}


def _pg_url(database: str) -> str:
    url = sa.engine.make_url(PG_SERVER_URL).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def migrate_to_head(url: str) -> None:
    app = create_app(test_config(url))
    with app.app_context():
        flask_migrate.upgrade()
        # Tables of models whose migration is not written yet; test_migrations_match_the_models
        # fails until it is, so this never hides a missing migration.
        db.create_all()
        _add_unmigrated_columns(db.engine)
        db.engine.dispose()


def _add_unmigrated_columns(engine) -> None:
    """Nullable columns added to existing models whose migration is not written yet, as
    create_all above does for whole tables (it never adds a column to a table that exists)."""
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table in db.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" '
                                         f'{column.type.compile(dialect=engine.dialect)}')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if TEST_DB == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
        migrate_to_head(url)
        yield url
        return
    name = f"labelpath_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(_pg_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        pytest.exit(f"PostgreSQL is not reachable at {PG_SERVER_URL}: {error.orig}", returncode=3)
    try:
        migrate_to_head(_pg_url(name))
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _fresh_sqlite_copy(template_url: str, tmp_path) -> str:
    path = tmp_path / "test.db"
    shutil.copy(sa.engine.make_url(template_url).database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    """The app on a clean database; on PostgreSQL everything a test commits is rolled back."""
    if TEST_DB == "sqlite":
        app = create_app(test_config(_fresh_sqlite_copy(database_url, tmp_path)))
        yield app
        with app.app_context():
            db.engine.dispose()
        return
    app = create_app(test_config(database_url))
    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    original_session = db.session
    # A plain SQLAlchemy Session bound to the connection: Flask-SQLAlchemy's own get_bind would
    # pick the engine and commit for real (TRAPS.md); commits become savepoint releases.
    db.session = scoped_session(
        sessionmaker(bind=connection, join_transaction_mode="create_savepoint"), scopefunc=_app_ctx_id
    )
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.session = original_session
            outer.rollback()
            connection.close()
            db.engine.dispose()


@pytest.fixture
def committing_app(database_url, tmp_path):
    """For race tests that need real commits from several connections; cleans up after itself."""
    if TEST_DB == "sqlite":
        app = create_app(test_config(_fresh_sqlite_copy(database_url, tmp_path)))
        yield app
        with app.app_context():
            db.engine.dispose()
        return
    app = create_app(test_config(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20, "max_overflow": 60}))
    _truncate_all(app)  # start clean even if an earlier test's subprocess left rows behind
    try:
        yield app
    finally:
        _truncate_all(app)
        with app.app_context():
            db.engine.dispose()


def _truncate_all(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in db.metadata.sorted_tables if t.name != "skills"]
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture(autouse=True)
def _repeatable_draws():
    """Gold draws, lease shuffles and review sampling are random; seed them so every run of a test
    sees the same draws (a test needing a gold and a normal task must not depend on luck)."""
    from backend.microtasks.services import leasing
    from backend.quality import review

    leasing._random.seed(20310302)
    review._random.seed(20310302)


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Account:
    id: int
    email: str
    password: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access_token}"}


class AuthActions:
    """Make accounts of any role and log them in, through the public API where there is one."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self._count = 0

    def _email(self, role: str) -> str:
        self._count += 1
        return f"{role}{self._count}-{secrets.token_hex(3)}@example.com"

    def register(self, email: str | None = None, password: str = "correct horse 1", **fields) -> Account:
        email = email or self._email("worker")
        body = {"email": email, "password": password, "display_name": fields.pop("display_name", "테스트 작업자"),
                **fields}
        response = self.client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        return Account(data["user"]["id"], email, password, "worker", data["access_token"],
                       data["refresh_token"])

    def create(self, role: str = "worker", email: str | None = None, password: str = "correct horse 1",
               **fields) -> Account:
        from backend.accounts import services as accounts

        email = email or self._email(role)
        with self.app.app_context():
            accounts.create_user(email, password, fields.pop("display_name", role.title()), role=role,
                                 **fields)
            db.session.commit()
        return self.login(email, password, role)

    def login(self, email: str, password: str, role: str = "worker") -> Account:
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        return Account(data["user"]["id"], email, password, data["user"]["role"], data["access_token"],
                       data["refresh_token"])


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)
