"""Simulated crowds of known accuracy through the aggregation services (no HTTP, seeded RNG).

40 workers — 12 good (90 % right), 14 average (70 %), 8 random clickers, 6 adversarial (always
the next label after the true one) — label 2,000 tasks of 4 labels. Answers are written as
claim + submit account them (tests/quality/test_results_support.py); aggregation, the stored
results and the dynamic-overlap slot changes are the real services on the real database.

1. Fixed overlap 5: Dawid-Skene (the stored results) must be at least as accurate as majority
   vote over the same answers.
2. Dynamic overlap (min 3, max 7, confidence target 0.95): rounds of "every open slot gets an
   answer, then the aggregation job runs" until no slot is open. It must spend fewer answers
   than fixed overlap 5 and be at least as accurate. After every round the slot invariant holds.

The numbers are printed (pytest -s) for the record.
"""

from __future__ import annotations

import datetime as dt
import random

import time_machine

from backend.extensions import db
from backend.quality import aggregation, results
from tests.quality.test_results_support import (
    LABELS,
    Crowd,
    answers_of,
    fill_open_slots,
    make_project,
    make_workers,
    slot_rows,
    task_ids,
)

TASKS = 2000
SEED = 20310302
MAX_ROUNDS = 12
START = dt.datetime(2031, 3, 2, 9, 0, tzinfo=dt.UTC)
ROUND = dt.timedelta(minutes=2)  # a round is a job run or two apart: past the watermark's settle time


def _accuracy(labels: dict[int, str], truth: dict[int, str]) -> float:
    return sum(labels.get(t) == label for t, label in truth.items()) / len(truth)


def _stored_labels(project_id: int) -> dict[int, str]:
    _, items = results.export_results(project_id)
    return {item["task_id"]: item["result"]["label"] for item in items}


def _project_with_truth(rng: random.Random, **fields) -> tuple[int, dict[int, str]]:
    items = [{"payload": {"text": f"사진 {i}"}, "external_id": f"t{i}"} for i in range(TASKS)]
    project_id = make_project(items=items, **fields)
    truth = {task_id: rng.choice(LABELS) for task_id in task_ids(project_id)}
    return project_id, truth


def test_dawid_skene_beats_majority_vote_and_dynamic_overlap_spends_less(app):
    with app.app_context(), time_machine.travel(START, tick=False) as clock:
        workers = make_workers(40)
        rng = random.Random(SEED)

        # 1. Fixed overlap 5.
        fixed_id, fixed_truth = _project_with_truth(rng, overlap=5)
        crowd = Crowd(workers, SEED + 1)
        fixed_spent = fill_open_slots(fixed_id, workers,
                                      lambda t, u: {"label": crowd.label(u, fixed_truth[t])}, rng)
        db.session.commit()
        summary = results.aggregate_pending()
        db.session.commit()
        assert summary["projects"] == 1 and summary["results_written"] == TASKS
        ds_accuracy = _accuracy(_stored_labels(fixed_id), fixed_truth)
        rows = [(t, u, a["label"]) for t, u, a in answers_of(fixed_id)]
        mv = aggregation.aggregate_categorical(rows, "mv")
        mv_accuracy = _accuracy({t: r.label for t, r in mv.items()}, fixed_truth)

        # 2. Dynamic overlap, same crowd, new tasks.
        dynamic_id, truth = _project_with_truth(rng, min_overlap=3, max_overlap=7, confidence_target=0.95)
        crowd = Crowd(workers, SEED + 2)
        spent, rounds = 0, 0
        while rounds < MAX_ROUNDS:
            written = fill_open_slots(dynamic_id, workers, lambda t, u: {"label": crowd.label(u, truth[t])}, rng)
            if not written:
                break
            spent += written
            rounds += 1
            db.session.commit()
            clock.shift(ROUND)
            results.aggregate_pending()
            db.session.commit()
            for task_id, open_slots, answer_count in slot_rows(dynamic_id):
                # Nothing is leased here, so the allowance is open_slots + answers: never past max,
                # never below what is held.
                assert open_slots >= 0 and open_slots + answer_count <= 7, (task_id, open_slots, answer_count)
        dynamic_accuracy = _accuracy(_stored_labels(dynamic_id), truth)
        _, items = results.export_results(dynamic_id)
        items = list(items)
        answers_used = sorted({item["answers"] for item in items})
        unfinished = [item for item in items if not item["finished"]]

    print(f"\nfixed overlap 5: {fixed_spent} answers, Dawid-Skene {ds_accuracy:.4f}, majority vote {mv_accuracy:.4f}")
    print(f"dynamic 3..7 @0.95: {spent} answers in {rounds} rounds, accuracy {dynamic_accuracy:.4f}, "
          f"answers per task {answers_used[0]}..{answers_used[-1]}")
    assert fixed_spent == 5 * TASKS
    assert ds_accuracy >= mv_accuracy
    assert ds_accuracy >= 0.95  # adversarial workers are inverted, random ones ignored
    assert rounds < MAX_ROUNDS  # it converged: no slot left open
    assert spent < fixed_spent
    assert dynamic_accuracy >= ds_accuracy
    assert answers_used[0] == 3 and answers_used[-1] == 7  # some stopped at min, some went to max
    assert all(item["answers"] == 7 for item in unfinished)  # unsettled only where max was reached


def _rate(rng: random.Random, kind: str, truth: int) -> int:
    if kind == "good":
        score = truth + rng.choice([0, 0, 0, 0, 1, -1])
    elif kind == "average":
        score = truth + rng.choice([0, 0, 1, -1, 1, -1, 2, -2])
    elif kind == "random":
        score = rng.randint(1, 5)
    else:  # adversarial: the mirror image of the truth
        score = 6 - truth
    return min(5, max(1, score))


def test_dynamic_overlap_spends_less_on_ratings_too():
    """Database-free (the same aggregation and settling rule as the job, no slots): 3,000 ratings
    on a 1–5 scale by the same four kinds of workers; right = the median within 0.5 of the truth."""
    rng = random.Random(SEED)
    kinds = dict(enumerate(kind for kind, n in Crowd.KINDS for _ in range(n)))
    truth = {task: rng.randint(1, 5) for task in range(3000)}
    config = {"dimensions": ["quality"], "scale": [1, 5]}

    def answer(task: int, worker: int) -> tuple:
        return task, worker, {"scores": {"quality": _rate(rng, kinds[worker], truth[task])}}

    def accuracy(found) -> float:
        return sum(abs(found[t].result["scores"]["quality"] - truth[t]) <= 0.5 for t in truth) / len(truth)

    fixed_rows = [answer(task, worker) for task in truth for worker in rng.sample(list(kinds), 5)]
    fixed = accuracy(results.aggregate_answers("rating", fixed_rows, config))

    low, high, target = 3, 7, 0.75
    rows, had, allowance = [], {task: set() for task in truth}, dict.fromkeys(truth, low)
    for _ in range(MAX_ROUNDS):
        fresh = [answer(task, worker) for task in truth
                 for worker in rng.sample([w for w in kinds if w not in had[task]], allowance[task] - len(had[task]))]
        if not fresh:
            break
        for task, worker, _ in fresh:
            had[task].add(worker)
        rows += fresh
        for task, outcome in results.aggregate_answers("rating", rows, config).items():
            if not results.is_settled(outcome, low, high, target) and len(had[task]) >= allowance[task]:
                allowance[task] += 1
    dynamic = accuracy(results.aggregate_answers("rating", rows, config))
    print(f"\nratings, fixed overlap 5: {len(fixed_rows)} answers, accuracy {fixed:.4f}; "
          f"dynamic 3..7 @0.75: {len(rows)} answers, accuracy {dynamic:.4f}")
    assert len(rows) < len(fixed_rows) and dynamic >= fixed
    assert max(allowance.values()) == high and min(allowance.values()) == low
