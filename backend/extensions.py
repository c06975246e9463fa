"""Flask extensions, created unbound and bound to the app in create_app."""

from __future__ import annotations

import click
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy

from backend.api import ProblemApi
from backend.database import Base


class LazyMigrate:
    """Flask-Migrate, imported (with Alembic, ≈ 11 MB per process) only when migrations run: by
    `flask db …` or by a call such as `flask_migrate.upgrade()` in a deployment or test script.
    The web and scheduler processes never touch it.

    `init_app` does what `flask_migrate.Migrate.init_app` does without importing it: it puts the
    configuration where Flask-Migrate's functions and migrations/env.py read it
    (`app.extensions["migrate"]`) and adds the `db` command group to the app's CLI (`db_cli`
    below, which loads Flask-Migrate's own group the moment it is invoked)."""

    def __init__(self) -> None:
        self.db = None
        self.options: dict = {}
        self._migrate = None

    def init_app(self, app, db, **options) -> None:
        self.db = db
        self.options = options
        self._migrate = None
        app.extensions["migrate"] = _MigrateConfig(self)
        app.cli.add_command(db_cli)

    @property
    def migrate(self):
        """The real `flask_migrate.Migrate`, made on first use (not bound to an app: its
        init_app would only repeat what init_app above did)."""
        if self._migrate is None:
            from flask_migrate import Migrate

            self._migrate = Migrate(db=self.db, **self.options)
        return self._migrate


class _MigrateConfig:
    """What `flask_migrate.Migrate.init_app` stores in app.extensions["migrate"] (its
    `_MigrateConfig`), with the Migrate object made on first use."""

    def __init__(self, lazy: LazyMigrate) -> None:
        self._lazy = lazy

    @property
    def migrate(self):
        return self._lazy.migrate

    @property
    def db(self):
        return self._lazy.db

    @property
    def directory(self) -> str:
        return self._lazy.migrate.directory

    @property
    def configure_args(self) -> dict:
        return self._lazy.migrate.alembic_ctx_kwargs

    @property
    def metadata(self):
        return self._lazy.db.metadata


class _LazyCommandGroup(click.Group):
    """A CLI group whose real implementation is imported when it is invoked, not when the CLI
    lists its commands. Commands added to this group (`@db_cli.command(...)`) join the real one."""

    def __init__(self, name: str, loader: str, help: str) -> None:  # noqa: A002 - click's name
        super().__init__(name, help=help)
        self._loader = loader
        self._real: click.Group | None = None

    def real(self) -> click.Group:
        if self._real is None:
            import importlib

            module_name, attribute = self._loader.split(":")
            group = getattr(importlib.import_module(module_name), attribute)
            for name, command in self.commands.items():
                group.add_command(command, name)
            self._real = group
        return self._real

    def make_context(self, info_name, args, parent=None, **extra):
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        return self.real().invoke(ctx)


db_cli = _LazyCommandGroup("db", "flask_migrate.cli:db", "Perform database migrations.")

db = SQLAlchemy(model_class=Base)
migrate = LazyMigrate()
api = ProblemApi()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, retry_after="delta-seconds")
