"""Offline evaluation on real crowdsourcing data (shared/data/truth-inference) and the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from backend.quality.cli import quality_cli
from backend.quality.offline import accuracy, evaluate, read_answers, read_truth

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "truth-inference"

# Measured once, then fixed: every method here is deterministic (majority vote in pure Python
# with the lowest-label tie rule, Dawid-Skene with fixed n_iter/tol on rows sorted by task and
# worker). D_PosSent has 43 majority-vote ties, all resolved to "0".
EXPECTED = {
    ("d_product", "mv"): (0.8966, 8315),
    ("d_product", "ds"): (0.9397, 8315),
    ("d_possent", "mv"): (0.9320, 1000),
    ("d_possent", "ds"): (0.9600, 1000),
}


def _files(dataset: str) -> tuple[Path, Path]:
    return DATA / dataset / "answer.csv", DATA / dataset / "truth.csv"


@pytest.fixture(scope="module")
def evaluations():
    return {
        key: evaluate(*_files(key[0])[:1], method=key[1], truth_path=_files(key[0])[1]) for key in EXPECTED
    }


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda key: f"{key[0]}-{key[1]}")
def test_accuracy_on_real_data_is_exactly_as_measured(evaluations, key):
    expected, tasks = EXPECTED[key]
    evaluation = evaluations[key]
    assert evaluation.truth_tasks == tasks
    assert round(evaluation.accuracy, 4) == expected
    assert evaluation.accuracy_line() == f"accuracy {expected:.4f} on {tasks} tasks"
    assert len(evaluation.results) == tasks
    assert all(isinstance(r.label, str) and r.label in ("0", "1") for r in evaluation.results.values())
    assert all(0.0 <= r.confidence <= 1.0 for r in evaluation.results.values())


@pytest.mark.parametrize("dataset", ["d_product", "d_possent"])
def test_dawid_skene_is_at_least_as_good_as_majority_vote(evaluations, dataset):
    assert evaluations[(dataset, "ds")].accuracy >= evaluations[(dataset, "mv")].accuracy


def test_majority_vote_ties_on_d_possent_go_to_zero(evaluations):
    tied = [r for r in evaluations[("d_possent", "mv")].results.values() if r.confidence == 0.5]
    assert len(tied) == 43
    assert {r.label for r in tied} == {"0"}
    assert not [r for r in evaluations[("d_product", "mv")].results.values() if r.confidence == 0.5]


def test_readers_use_positions_tolerate_bom_and_crlf_and_keep_strings(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_bytes(
        "\ufeffquestion id,annotator,whatever\r\n007,w1,0\r\n007,w2,0\r\n007,w3,1\r\n\r\n8, w1 ,1\r\n".encode(
            "utf-8"
        )
    )
    truth = tmp_path / "truth.csv"
    truth.write_bytes("\ufeffid,gold\r\n007,0\r\n8,01\r\n".encode("utf-8"))
    assert read_answers(answers) == [
        ("007", "w1", "0"),
        ("007", "w2", "0"),
        ("007", "w3", "1"),
        ("8", "w1", "1"),
    ]
    assert read_truth(truth) == {"007": "0", "8": "01"}
    evaluation = evaluate(answers, method="mv", truth_path=truth)
    assert evaluation.results["007"].label == "0"
    # "1" is not "01": labels compare as strings, never as numbers
    assert (evaluation.accuracy, evaluation.truth_tasks) == (0.5, 2)


def test_a_truth_task_without_answers_counts_as_wrong(tmp_path):
    results = evaluate(*_files("d_possent")[:1], method="mv").results
    share, count = accuracy(results, {"0": "0", "no-such-task": "1"})
    assert (share, count) == (0.5, 2)


def test_cli_prints_results_then_the_accuracy_line_last():
    answers, truth = _files("d_possent")
    done = CliRunner().invoke(
        quality_cli, ["aggregate", str(answers), "--method", "mv", "--truth", str(truth)]
    )
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[-1] == "accuracy 0.9320 on 1000 tasks"
    rows = list(csv.reader(io.StringIO("\n".join(lines[:-1]))))
    assert rows[0] == ["task", "label", "confidence"]
    assert len(rows) == 1 + 1000
    assert rows[1][0] == "344" and rows[1][1] in ("0", "1")  # first task of the file comes first
    assert all(0.0 <= float(confidence) <= 1.0 for _, _, confidence in rows[1:])


def test_cli_registered_on_a_flask_app_writes_out_and_needs_no_app_context(tmp_path):
    app = Flask("bare")  # no database, no extensions: the command must not need them
    app.cli.add_command(quality_cli)
    answers, truth = _files("d_product")
    out = tmp_path / "results.csv"
    args = ["quality", "aggregate", str(answers), "--method", "ds", "--truth", str(truth), "--out", str(out)]
    done = app.test_cli_runner().invoke(args=args)  # click >= 8.2: stdout and stderr kept apart
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1] == "accuracy 0.9397 on 8315 tasks"
    assert "task,label,confidence" not in done.stdout
    assert done.stderr.startswith("wrote 8315 results to ")
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["task", "label", "confidence"] and len(rows) == 1 + 8315


def test_cli_without_truth_prints_no_accuracy(tmp_path):
    answers = tmp_path / "a.csv"
    answers.write_text("t,w,l\nx,w1,b\nx,w2,a\n", encoding="utf-8")
    done = CliRunner().invoke(quality_cli, ["aggregate", str(answers), "--method", "mv"])
    assert done.exit_code == 0, done.output
    assert done.output == "task,label,confidence\nx,a,0.500000\n"


def test_cli_reports_a_short_row_with_its_line(tmp_path):
    answers = tmp_path / "a.csv"
    answers.write_text("t,w,l\nx,w1,a\nbroken-row\n", encoding="utf-8")
    done = CliRunner().invoke(quality_cli, ["aggregate", str(answers), "--method", "mv"])
    assert done.exit_code == 1
    assert "line 3" in done.output


def test_cli_refuses_an_unknown_method():
    answers, _ = _files("d_possent")
    done = CliRunner().invoke(quality_cli, ["aggregate", str(answers), "--method", "wawa"])
    assert done.exit_code == 2
