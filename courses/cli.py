"""`flask --app wsgi courses import PATH`: check course packs and import them, all or nothing."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from backend.extensions import db
from courses import services
from courses.packs import PackInvalid

courses_cli = AppGroup("courses", help="Training courses and course packs.")


@courses_cli.command("import")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--draft", is_flag=True, help="Leave newly created courses unpublished.")
@click.option("--dry-run", is_flag=True, help="Only check the packs; change nothing.")
def import_command(path: Path, draft: bool, dry_run: bool):
    """Import a course pack, or every pack in a folder (folders starting with _ are skipped).

    Every problem is listed with its file and line, and nothing is imported when there is one.
    Re-importing updates courses in place: lessons keep their ids and everyone keeps their progress.
    """
    try:
        results = services.import_packs(path, publish_new=not draft, dry_run=dry_run)
    except PackInvalid as error:
        db.session.rollback()
        for problem in error.problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(f"{len(error.problems)} problem(s); nothing was imported.") from None
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for result in results:
        status = result["status"]
        if dry_run and status != "unchanged":
            status = f"would be {status}"
        click.echo(f"{result['slug']}: {status} (version {result['version']}, {result['lessons']} lessons, "
                   f"{result['examples']} examples, {result['media']} media files)")
        for warning in result["warnings"]:
            click.echo(f"  warning: {warning}")
