"""`flask --app wsgi quality …`: offline quality tools. No app context and no database needed.

    flask --app wsgi quality aggregate ANSWERS.csv --method mv|ds|glad|mace \
        [--truth TRUTH.csv] [--out RESULTS.csv] [--min-answers-for-model N]

Writes ``task,label,confidence`` to --out (or to stdout); with --truth, the last line printed is
``accuracy 0.9397 on 8315 tasks``.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from .aggregation import CATEGORICAL_METHODS

__all__ = ["quality_cli"]

quality_cli = AppGroup("quality", help="Answer quality tools (aggregation, evaluation).")

_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@quality_cli.command("aggregate", with_appcontext=False)
@click.argument("answers", type=_FILE)
@click.option(
    "--method",
    type=click.Choice(CATEGORICAL_METHODS),
    default="ds",
    show_default=True,
    help="mv = majority vote, ds = Dawid-Skene, glad = GLAD, mace = MACE.",
)
@click.option("--truth", type=_FILE, help="CSV of task,true_label (after a header line): print the accuracy.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write task,label,confidence here instead of to stdout.",
)
@click.option(
    "--min-answers-for-model",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Tasks with fewer answers take the majority vote instead of the model.",
)
def aggregate_command(
    answers: Path, method: str, truth: Path | None, out: Path | None, min_answers_for_model: int
) -> None:
    """Aggregate ANSWERS.csv (a header, then task,worker,label rows) into one label per task."""
    from .offline import evaluate, results_csv

    try:
        evaluation = evaluate(
            answers, method=method, truth_path=truth, out=out, min_answers_for_model=min_answers_for_model
        )
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(str(error)) from error
    if out is None:
        click.echo(results_csv(evaluation.results), nl=False)
    else:
        click.echo(f"wrote {len(evaluation.results)} results to {out}", err=True)
    if truth is not None:
        click.echo(evaluation.accuracy_line())
