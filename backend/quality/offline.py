"""Offline evaluation: answers CSV in, aggregated labels CSV out, accuracy against a truth CSV.

Files: a header line (its names are ignored: columns are taken by position), then rows.
Answers: ``task,worker,label``; truth: ``task,true_label``; extra columns are ignored, blank lines
skipped, a UTF-8 BOM and CRLF line endings tolerated, fields stripped of surrounding spaces. Ids
and labels stay strings end to end: "0" is compared with "0", never with 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .aggregation import aggregate_categorical

__all__ = ["Evaluation", "accuracy", "evaluate", "read_answers", "read_truth", "results_csv", "write_results"]


def _rows(path: str | Path, columns: int, what: str) -> Iterator[tuple[int, list[str]]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header: names differ between files, so they are not used
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < columns:
                raise ValueError(
                    f"{path}: line {reader.line_num}: expected {columns} columns ({what}), got {len(row)}"
                )
            yield reader.line_num, [cell.strip() for cell in row[:columns]]


def read_answers(path: str | Path) -> list[tuple[str, str, str]]:
    """``[(task, worker, label), ...]`` from an answers CSV (header, then task,worker,label)."""
    return [(task, worker, label) for _, (task, worker, label) in _rows(path, 3, "task,worker,label")]


def read_truth(path: str | Path) -> dict[str, str]:
    """``{task: true_label}`` from a truth CSV (header, then task,true_label); the last row wins."""
    return {task: label for _, (task, label) in _rows(path, 2, "task,true_label")}


def write_results(results: dict, handle: IO[str]) -> None:
    """Write ``task,label,confidence`` (with a header line), tasks in first-appearance order."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["task", "label", "confidence"])
    for task, result in results.items():
        writer.writerow([task, result.label, f"{result.confidence:.6f}"])


def accuracy(results: dict, truth: dict[str, str]) -> tuple[float, int]:
    """(share of truth tasks whose aggregated label equals the true label, number of truth tasks).

    A truth task without any answer counts as wrong. Labels are compared as strings.
    """
    if not truth:
        return 0.0, 0
    right = sum(
        1 for task, label in truth.items() if task in results and str(results[task].label) == str(label)
    )
    return right / len(truth), len(truth)


@dataclass(frozen=True)
class Evaluation:
    results: dict
    accuracy: float | None = None
    truth_tasks: int = 0

    def accuracy_line(self) -> str:
        return f"accuracy {self.accuracy:.4f} on {self.truth_tasks} tasks"


def evaluate(
    answers_path: str | Path,
    method: str = "ds",
    truth_path: str | Path | None = None,
    out: str | Path | IO[str] | None = None,
    min_answers_for_model: int = 1,
) -> Evaluation:
    """Aggregate an answers CSV with ``method``; write the results to ``out`` (a path or an open
    text file; nothing is written when it is None); score against ``truth_path`` when given.

    ``min_answers_for_model`` defaults to 1 here, so that "ds" means Dawid-Skene on every task.
    """
    results = aggregate_categorical(
        read_answers(answers_path), method=method, min_answers_for_model=min_answers_for_model
    )
    if isinstance(out, (str, Path)):
        with open(out, "w", newline="", encoding="utf-8") as handle:
            write_results(results, handle)
    elif out is not None:
        write_results(results, out)
    if truth_path is None:
        return Evaluation(results)
    share, count = accuracy(results, read_truth(truth_path))
    return Evaluation(results, share, count)


def results_csv(results: dict) -> str:
    buffer = io.StringIO()
    write_results(results, buffer)
    return buffer.getvalue()
