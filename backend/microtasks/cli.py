"""`flask --app wsgi tasks import PROJECT_ID FILE`: load tasks from a JSON list or JSONL file."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from backend.errors import DomainError
from backend.extensions import db
from backend.microtasks import services as microtasks

tasks_cli = AppGroup("tasks", help="Micro-task projects and tasks.")


@tasks_cli.command("import")
@click.argument("project_id", type=int)
@click.argument("file", type=click.File("rb"))
@click.option("--show", default=20, show_default=True, help="How many rejected lines to print.")
def import_command(project_id: int, file, show: int):
    """Import tasks into a project: one JSON task per line (JSONL) or a JSON list.

    Good lines are stored even when others are rejected; the exit status is 1 when any line was
    rejected, so scripts notice.
    """
    try:
        with file:
            result = microtasks.import_tasks(project_id, microtasks.records_from_stream(file))
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.detail) from None
    click.echo(f"created {result['created']} tasks in project {project_id}")
    if result["rejected_count"]:
        click.echo(f"rejected {result['rejected_count']} lines:", err=True)
        for item in result["rejected"][:show]:
            errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(item["errors"].items()))
            click.echo(f"  line {item['line']}: {errors}", err=True)
        raise SystemExit(1)
