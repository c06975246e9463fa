"""`flask --app wsgi quizzes import PATH`: load exam bank files (all or nothing)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from backend.errors import Invalid
from backend.extensions import db
from quizzes import services as quizzes

quizzes_cli = AppGroup("quizzes", help="Certification exams: question banks.")


@quizzes_cli.command("import")
@click.argument("path", type=click.Path(exists=False))
@click.option("--dry-run", is_flag=True, help="Only check the bank files; change nothing.")
def import_command(path: str, dry_run: bool):
    """Import exam bank files: PATH is a bank .yaml file or a folder of them (e.g. quizzes/banks).

    Everything is checked first; any problem is listed as file:line and nothing is imported.
    Re-importing updates exams in place by exam key and question key; attempts and certificates stay.
    """
    try:
        report = quizzes.import_banks(path, dry_run=dry_run)
    except Invalid as error:
        db.session.rollback()
        for line in (error.errors or {}).get("banks", [error.detail]):
            click.echo(line, err=True)
        raise click.ClickException(error.detail) from None
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for row in report:
        exam = f"exam {row['exam_id']}, " if row["exam_id"] else ""
        click.echo(f"{row['key']}: {row['action']} ({exam}{row['questions']} questions)")
