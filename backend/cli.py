"""Command line: `flask --app wsgi users create`, `seed-demo`, `scheduler run`."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from backend import demo, scheduler
from backend.accounts import services as accounts
from backend.accounts.models import ROLES
from backend.database import backup as database_backup
from backend.errors import DomainError
from backend.extensions import db, db_cli
from backend.microtasks.cli import tasks_cli
from backend.quality.cli import quality_cli
from courses.cli import courses_cli
from quizzes.cli import quizzes_cli

users_cli = AppGroup("users", help="Manage accounts.")
scheduler_cli = AppGroup("scheduler", help="Run the job scheduler (one process per deployment).")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", type=click.Choice(ROLES), default="worker", show_default=True)
@click.option("--name", "display_name", default=None, help="Display name (default: the email's name).")
def create_user(email: str, password: str, role: str, display_name: str | None):
    """Create an account, for example a manager: users create --email E --password P --role manager."""
    if len(password) < 8:
        raise click.BadParameter("must be at least 8 characters", param_hint="--password")
    try:
        user = accounts.create_user(email, password, display_name or email.split("@")[0], role=role)
        db.session.commit()
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@with_appcontext
def seed_demo_command(if_empty: bool):
    """Load demo data: accounts (credentials printed once), skills and later content."""
    if if_empty and not demo.database_is_empty():
        click.echo("database already has data; demo seed skipped")
        return
    created = demo.seed_demo()
    db.session.commit()
    for email, password, role in created:
        click.echo(f"demo {role:<8} {email}  password: {password}")
    if created:
        path = os.path.join(current_app.instance_path, "demo-credentials.txt")
        os.makedirs(current_app.instance_path, exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.writelines(f"{role} {email} {password}\n" for email, password, role in created)
        click.echo(f"(also written to {path})")


@scheduler_cli.command("run")
def run_scheduler():
    """Run every scheduled job until stopped; a second scheduler waits for the first."""
    scheduler.run(current_app._get_current_object())


COMMANDS = (users_cli, scheduler_cli, seed_demo_command, quality_cli, courses_cli, quizzes_cli, tasks_cli)


@db_cli.command("backup")  # joins `flask db` (Flask-Migrate's group, loaded when used)
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup_database(path: str):
    """Copy the SQLite database to PATH while the app runs (SQLite's online backup API)."""
    try:
        size = database_backup(db.engine, path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up {size} bytes to {path}")
