"""Answer aggregation for every task type: plain rows in, plain results out.

No database and no Flask here. crowd-kit (and with it pandas, scikit-learn, transformers: about
200 MB once imported) is imported only inside the functions that run one of its models, never at
module import, so the web process can import this module for free. Majority vote, ratings and
boxes are pure Python and never import crowd-kit.

Conventions shared by every aggregator:

* Rows are tuples; ids (task, worker) and labels are kept exactly as given (the CSV path gives
  strings end to end; "0" stays "0").
* One answer per (task, worker): when a worker answered a task twice, the LAST row wins.
* Results are returned as ``{task: result}`` in the order in which tasks first appear in the rows.
  Every result carries ``answers`` (how many answers went in) and ``confidence`` (0..1), and has
  ``to_dict()``.
* Models see the rows sorted by (task, worker), so a result never depends on row order.

TIE RULE (every place a choice between labels is a tie, including equal model posteriors within
1e-9): the label that sorts first in natural order wins: labels that read as numbers compare as
numbers and come before all other labels ("2" < "10" < "a"); other labels compare as plain
strings. For "0"/"1" data this is "ties go to 0", the same outcome crowd-kit's MajorityVote gives
with pandas 2 (TRAPS.md). crowd-kit's own MajorityVote is NOT used: with pandas 3 its ties go to
the label that happens to come first in the data instead, so it is not stable across versions.
"""

from __future__ import annotations

import math
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from backend.quality.compare import iou

__all__ = [
    "CATEGORICAL_METHODS",
    "BoxesResult",
    "DimensionStats",
    "MultiLabelResult",
    "RatingResult",
    "Result",
    "TextResult",
    "aggregate_boxes",
    "aggregate_categorical",
    "aggregate_multi_label",
    "aggregate_pairwise",
    "aggregate_rating",
    "aggregate_transcription",
    "is_confident",
    "rank_items",
    "tie_break_key",
]

CATEGORICAL_METHODS = ("mv", "ds", "glad", "mace")
TIE_TOLERANCE = 1e-9

# Model settings. They are fixed so that the same rows always give the same result.
DS_N_ITER = 100
DS_TOL = 1e-5
GLAD_N_ITER = 100
GLAD_TOL = 1e-5
MACE_N_ITER = 50
# crowd-kit 1.4.2's MACE seeds every restart with the same random_state, so its 10 default
# restarts are 10 identical runs: one is the same result at a tenth of the cost.
MACE_RESTARTS = 1
MACE_SEED = 0
NBT_N_ITER = 100
NBT_SEED = 0


# ----------------------------------------------------------------------------------------------
# Results


class _AsDict:
    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Result(_AsDict):
    """One label per task (categorical and pairwise tasks).

    ``method`` is the method that actually decided this task: "mv" for a task that fell back to
    majority vote because it had fewer than ``min_answers_for_model`` answers.
    """

    label: Any
    confidence: float
    answers: int
    method: str = "mv"


@dataclass(frozen=True)
class MultiLabelResult(_AsDict):
    labels: list
    confidence: float
    answers: int
    method: str = "mv"


@dataclass(frozen=True)
class TextResult(_AsDict):
    text: str
    confidence: float
    answers: int


@dataclass(frozen=True)
class DimensionStats(_AsDict):
    median: float
    mean: float
    spread: float  # MAD: median absolute deviation from the median
    confidence: float
    answers: int


@dataclass(frozen=True)
class RatingResult(_AsDict):
    dimensions: dict  # {dimension: DimensionStats}
    confidence: float  # the lowest of the dimensions' confidences
    answers: int


@dataclass(frozen=True)
class BoxesResult(_AsDict):
    boxes: list  # [{x, y, w, h, label, confidence, support}]
    confidence: float
    answers: int
    dropped: int = 0  # clusters that lacked support (or lost to another label at the same place)


def is_confident(result: Any, target: float, min_answers: int = 1) -> bool:
    """True when a result is settled: confidence ≥ target and at least ``min_answers`` answers.

    ``min_answers`` matters because one answer alone has confidence 1.0 under majority vote.
    """
    return result.answers >= min_answers and result.confidence >= target - TIE_TOLERANCE


# ----------------------------------------------------------------------------------------------
# Helpers


def tie_break_key(label: Any) -> tuple:
    """Sort key of the tie rule: numbers first, by value; then everything else as text."""
    text = str(label)
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    if math.isnan(number):
        return (1, 0.0, text)
    return (0, number, text)


def _pick(scores: Mapping[Any, float]) -> Any:
    """The best-scoring label; ties (within TIE_TOLERANCE) go by the tie rule."""
    best = max(scores.values())
    tied = [label for label, score in scores.items() if score >= best - TIE_TOLERANCE]
    return min(tied, key=tie_break_key)


def _group(rows: Iterable[Sequence], what: str) -> dict[Hashable, dict[Hashable, Any]]:
    """{task: {worker: answer}} in first-appearance order of tasks; the last answer wins."""
    grouped: dict[Hashable, dict[Hashable, Any]] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) != 3:
            raise ValueError(f"{what} row {number}: expected (task, worker, answer), got {row!r}")
        task, worker, answer = row
        answers = grouped.setdefault(task, {})
        answers.pop(worker, None)  # a repeated answer moves to the end: the last one wins
        answers[worker] = answer
    return grouped


def _sorted_rows(grouped: Mapping[Hashable, Mapping[Hashable, Any]]) -> list[tuple]:
    rows = [(task, worker, answer) for task, answers in grouped.items() for worker, answer in answers.items()]
    rows.sort(key=lambda row: (str(row[0]), str(row[1])))
    return rows


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


# ----------------------------------------------------------------------------------------------
# Categorical


def _majority(answers: Iterable[Any]) -> tuple[Any, float, int]:
    counts = Counter(answers)
    total = sum(counts.values())
    label = _pick(counts)
    return label, counts[label] / total, total


def _fit_model(method: str, rows: list[tuple]) -> dict[Hashable, dict[Any, float]]:
    """Run a crowd-kit model; {task: {label: posterior}}. Imports crowd-kit here, not above."""
    import pandas as pd
    from crowdkit.aggregation import GLAD, MACE, DawidSkene

    frame = pd.DataFrame(rows, columns=["task", "worker", "label"], dtype=object)
    if method == "ds":
        model = DawidSkene(n_iter=DS_N_ITER, tol=DS_TOL)
    elif method == "glad":
        model = GLAD(n_iter=GLAD_N_ITER, tol=GLAD_TOL, silent=True)
    elif method == "mace":
        model = MACE(n_restarts=MACE_RESTARTS, n_iter=MACE_N_ITER, random_state=MACE_SEED, verbose=0)
    else:  # pragma: no cover - checked by the caller
        raise ValueError(method)
    probas = model.fit_predict_proba(frame)
    return {
        task: {label: float(p) for label, p in row.items() if not (isinstance(p, float) and math.isnan(p))}
        for task, row in probas.to_dict(orient="index").items()
    }


def aggregate_categorical(
    rows: Iterable[tuple[Hashable, Hashable, Any]],
    method: str = "ds",
    min_answers_for_model: int = 3,
) -> dict[Hashable, Result]:
    """Aggregate single-label answers ``(task, worker, label)`` into one label per task.

    Methods:

    * ``"mv"`` majority vote (pure Python, no crowd-kit): the most frequent label;
      confidence = its share of the task's answers. Ties: see the module's TIE RULE (lowest label
      in natural order: for 0/1 labels, ties go to "0").
    * ``"ds"`` Dawid-Skene (crowd-kit ``DawidSkene(n_iter=100, tol=1e-5)``), ``"glad"`` (crowd-kit
      ``GLAD``), ``"mace"`` (crowd-kit ``MACE``, fixed seed): the label with the highest posterior
      (``predict_proba``); confidence = that posterior. Equal posteriors follow the same tie rule.

    The model is fitted on all rows (every answer tells it about its worker), but a task with
    fewer than ``min_answers_for_model`` answers takes the majority vote instead (its ``method`` is
    then "mv"). Use ``min_answers_for_model=1`` for the model everywhere. When no task reaches
    the threshold the model is not run (and crowd-kit is not imported).
    """
    if method not in CATEGORICAL_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(CATEGORICAL_METHODS)}")
    grouped = _group(rows, "categorical")
    use_model = method != "mv" and any(len(answers) >= min_answers_for_model for answers in grouped.values())
    posteriors = _fit_model(method, _sorted_rows(grouped)) if use_model else {}

    results: dict[Hashable, Result] = {}
    for task, answers in grouped.items():
        if use_model and len(answers) >= min_answers_for_model:
            scores = posteriors[task]
            label = _pick(scores)
            results[task] = Result(label, _clip01(scores[label]), len(answers), method)
        else:
            label, share, total = _majority(answers.values())
            results[task] = Result(label, share, total, "mv")
    return results


# ----------------------------------------------------------------------------------------------
# Multi-label


def aggregate_multi_label(
    rows: Iterable[tuple[Hashable, Hashable, Iterable[Any]]],
    method: str = "ds",
    min_answers_for_model: int = 3,
) -> dict[Hashable, MultiLabelResult]:
    """Aggregate multi-label answers ``(task, worker, [labels])`` by binary relevance.

    Every label that anyone chose anywhere in the rows becomes one yes/no question per task
    ("1"/"0" for each answer), aggregated by :func:`aggregate_categorical` with ``method``
    (Dawid-Skene by default, one model per label, fitted across all tasks), with the same
    majority-vote fallback and tie rule (a tie means "not chosen"). This is what crowd-kit's
    ``BinaryRelevance(DawidSkene())`` computes, run here directly: crowd-kit's class keeps its
    per-label models in a dict shared by every instance (a class attribute), the only place its
    probabilities can be read, which makes it unsafe for two aggregations at once.

    The task's labels are returned in tie-rule order; confidence = the lowest confidence among
    all its yes/no decisions (the weakest decision of the set).
    """
    grouped = _group(rows, "multi_label")
    chosen: dict[Hashable, dict[Hashable, set]] = {
        task: {worker: set(labels or ()) for worker, labels in answers.items()}
        for task, answers in grouped.items()
    }
    universe = sorted(
        {label for answers in chosen.values() for labels in answers.values() for label in labels},
        key=tie_break_key,
    )
    per_label = {
        label: aggregate_categorical(
            [
                (task, worker, "1" if label in labels else "0")
                for task, answers in chosen.items()
                for worker, labels in answers.items()
            ],
            method=method,
            min_answers_for_model=min_answers_for_model,
        )
        for label in universe
    }
    results: dict[Hashable, MultiLabelResult] = {}
    for task, answers in chosen.items():
        decisions = [per_label[label][task] for label in universe]
        labels = [label for label, decision in zip(universe, decisions, strict=True) if decision.label == "1"]
        confidence = min((decision.confidence for decision in decisions), default=1.0)
        used = decisions[0].method if decisions else "mv"
        results[task] = MultiLabelResult(labels, confidence, len(answers), used)
    return results


# ----------------------------------------------------------------------------------------------
# Transcription


def _normalize_text(text: Any) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text or "")).split())


def _char_agreement(answer: str, output: str) -> float:
    """1 - CER of an answer against the output (edit distance / output length), clipped at 0."""
    from rapidfuzz.distance import Levenshtein

    if not output:
        return 1.0 if not answer else 0.0
    return max(0.0, 1.0 - Levenshtein.distance(output, answer) / len(output))


def aggregate_transcription(rows: Iterable[tuple[Hashable, Hashable, str]]) -> dict[Hashable, TextResult]:
    """Aggregate texts ``(task, worker, text)`` with crowd-kit ``ROVER``.

    Texts are NFC-normalized and whitespace-collapsed, then split into words on whitespace (which
    suits Korean: eojeol are whitespace-separated) and joined back with single spaces. ROVER
    aligns the answers word by word and takes the majority word at every position; crowd-kit
    breaks a tie at a position by the longer word, then the larger string. Answers go in sorted by
    worker, so the result does not depend on row order.

    confidence = mean over the answers of max(0, 1 - CER(answer vs output)), CER being the
    character edit distance (rapidfuzz) divided by the output's length.
    """
    grouped = _group(rows, "transcription")
    texts = {
        task: {worker: _normalize_text(text) for worker, text in answers.items()}
        for task, answers in grouped.items()
    }
    if not texts:
        return {}

    import pandas as pd
    from crowdkit.aggregation import ROVER

    frame = pd.DataFrame(_sorted_rows(texts), columns=["task", "worker", "text"], dtype=object)
    rover = ROVER(tokenizer=str.split, detokenizer=" ".join, silent=True)
    outputs = rover.fit_predict(frame).to_dict()

    results: dict[Hashable, TextResult] = {}
    for task, answers in texts.items():
        output = outputs.get(task, "")
        agreement = [_char_agreement(answer, output) for answer in answers.values()]
        results[task] = TextResult(output, sum(agreement) / len(agreement), len(answers))
    return results


# ----------------------------------------------------------------------------------------------
# Pairwise


def aggregate_pairwise(
    rows: Iterable[tuple[Hashable, Hashable, str]],
    method: str = "mv",
    min_answers_for_model: int = 3,
) -> dict[Hashable, Result]:
    """Aggregate pairwise preferences ``(task, worker, "a"|"b")``: the preferred side per task.

    Same as :func:`aggregate_categorical` over the labels "a"/"b" (majority vote by default;
    "ds" models per-worker bias, e.g. a worker who always picks the left side). confidence = the
    share (or posterior) of the chosen side. A tie goes to "a" (tie rule) with confidence 0.5.
    """
    checked = []
    for task, worker, side in rows:
        if side not in ("a", "b"):
            raise ValueError(
                f"pairwise answer for task {task!r} by {worker!r} must be 'a' or 'b', got {side!r}"
            )
        checked.append((task, worker, side))
    return aggregate_categorical(checked, method=method, min_answers_for_model=min_answers_for_model)


def rank_items(rows: Iterable[tuple[Hashable, Hashable, Hashable, Hashable]]) -> dict[Hashable, float]:
    """Score items from comparisons ``(worker, left_item, right_item, winner_item)``.

    crowd-kit ``NoisyBradleyTerry`` (Bradley-Terry with a skill and a left-bias per worker),
    fixed seed. Scores lie in (0, 1); a higher score is a better item. Returned sorted best
    first (ties by the tie rule). The global numpy random state, which crowd-kit reseeds, is
    put back afterwards.
    """
    comparisons = []
    for number, (worker, left, right, winner) in enumerate(rows, start=1):
        if left == right:
            raise ValueError(f"comparison {number}: an item cannot be compared with itself ({left!r})")
        if winner not in (left, right):
            raise ValueError(f"comparison {number}: winner {winner!r} is neither {left!r} nor {right!r}")
        comparisons.append((worker, left, right, winner))
    if not comparisons:
        return {}

    import numpy as np
    import pandas as pd
    from crowdkit.aggregation import NoisyBradleyTerry

    comparisons.sort(key=lambda row: tuple(str(value) for value in row))
    frame = pd.DataFrame(comparisons, columns=["worker", "left", "right", "label"], dtype=object)
    state = np.random.get_state()
    try:
        scores = NoisyBradleyTerry(n_iter=NBT_N_ITER, random_state=NBT_SEED).fit_predict(frame)
    finally:
        np.random.set_state(state)
    ranked = sorted(
        ((item, float(score)) for item, score in scores.items()),
        key=lambda pair: (-pair[1], tie_break_key(pair[0])),
    )
    return dict(ranked)


# ----------------------------------------------------------------------------------------------
# Rating


def aggregate_rating(
    rows: Iterable[tuple[Hashable, Hashable, Mapping[str, float]]],
    scale: tuple[float, float] | None = None,
) -> dict[Hashable, RatingResult]:
    """Aggregate ratings ``(task, worker, {dimension: score})`` per dimension (pure Python).

    For each dimension of each task: the median, the mean, the spread = MAD (median absolute
    deviation from the median) and

        confidence = max(0, 1 - MAD / ((high - low) / 2))

    where (low, high) is ``scale`` (the project's ``config.scale``, e.g. (1, 5)); without it, the
    lowest and highest score given in that dimension anywhere in the rows (confidence 1 when they
    are equal). (high - low) / 2 is the largest MAD possible on the scale (half the answers at
    each end), so full agreement gives 1, a split between the ends gives 0, and a lone outlier
    among three does not lower it (MAD is robust). The task's confidence is its lowest
    dimension's. A dimension is summarized over the answers that scored it.
    """
    grouped = _group(rows, "rating")
    per_task: dict[Hashable, dict[str, list[float]]] = {}
    seen: dict[str, list[float]] = defaultdict(list)
    for task, answers in grouped.items():
        dims: dict[str, list[float]] = defaultdict(list)
        for worker, scores in answers.items():
            for dimension, value in (scores or {}).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(
                        f"rating of {dimension!r} for task {task!r} by {worker!r} is not a number: {value!r}"
                    )
                dims[dimension].append(value)
                seen[dimension].append(value)
        per_task[task] = dims

    results: dict[Hashable, RatingResult] = {}
    for task, dims in per_task.items():
        stats = {}
        for dimension in sorted(dims, key=tie_break_key):
            values = dims[dimension]
            low, high = scale if scale is not None else (min(seen[dimension]), max(seen[dimension]))
            median = float(statistics.median(values))
            mad = float(statistics.median(abs(value - median) for value in values))
            half_range = (high - low) / 2
            confidence = 1.0 if half_range <= 0 else max(0.0, 1.0 - mad / half_range)
            stats[dimension] = DimensionStats(
                median, float(statistics.fmean(values)), mad, confidence, len(values)
            )
        confidence = min((s.confidence for s in stats.values()), default=1.0)
        results[task] = RatingResult(stats, confidence, len(grouped[task]))
    return results


# ----------------------------------------------------------------------------------------------
# Bounding boxes


@dataclass
class _Cluster:
    label: Any
    members: list = field(default_factory=list)  # [(worker, weight, box)]

    def consensus(self) -> dict:
        total = sum(weight for _, weight, _ in self.members)
        if total <= 0:  # only zero-weight workers: plain mean
            weights = [1.0] * len(self.members)
            total = float(len(self.members))
        else:
            weights = [weight for _, weight, _ in self.members]
        box = {
            k: sum(w * float(b[k]) for w, (_, _, b) in zip(weights, self.members, strict=True)) / total
            for k in ("x", "y", "w", "h")
        }
        box["label"] = self.label
        return box

    def support(self) -> float:
        return sum(weight for _, weight, _ in self.members)


def aggregate_boxes(
    rows: Iterable[tuple[Hashable, Hashable, Sequence[Mapping[str, Any]]]],
    worker_weight: Mapping[Hashable, float] | None = None,
    iou_threshold: float = 0.5,
    min_support: float = 0.5,
    default_weight: float | None = None,
) -> dict[Hashable, BoxesResult]:
    """Aggregate bounding boxes ``(task, worker, [{x, y, w, h, label}])`` (pure Python).

    No crowd-kit aggregator exists for this. Per task:

    1. Weights: ``worker_weight[worker]`` (e.g. the worker's gold accuracy, clipped at 0); a
       worker missing from it gets ``default_weight``, which defaults to the mean of the given
       weights (1.0 for everyone when ``worker_weight`` is None).
    2. Clustering: workers are taken heaviest first (then by id); each worker's boxes are matched
       to the existing clusters of the same label by IoU with the cluster's current consensus
       box, greedily by highest IoU, only pairs with IoU ≥ ``iou_threshold``, at most one box of
       a worker per cluster and one cluster per box. An unmatched box starts a new cluster.
    3. A cluster is kept when its members' weight is at least ``min_support`` (half) of the
       weight of all workers who answered the task (an empty list is an answer: "nothing here").
       When kept clusters of different labels overlap (IoU ≥ threshold), only the best supported
       stays (then the higher mean IoU, then the tie rule on the label).
    4. A kept box = the weight-averaged x, y, w, h of its members; its confidence = support share
       × weighted mean IoU of the members with it; ``support`` = the support share.

    The task's confidence = the lowest of its boxes' confidences and of (1 - the largest support
    share among the dropped clusters): an image with no boxes kept is as certain as the share of
    workers who did not draw the best-supported dropped box. ``dropped`` counts dropped clusters.
    """
    if worker_weight is None:
        weights: dict = {}
        fallback = 1.0 if default_weight is None else float(default_weight)
    else:
        weights = {worker: max(0.0, float(value)) for worker, value in worker_weight.items()}
        if default_weight is not None:
            fallback = max(0.0, float(default_weight))
        else:
            fallback = sum(weights.values()) / len(weights) if weights else 1.0

    results: dict[Hashable, BoxesResult] = {}
    for task, answers in _group(rows, "bbox").items():
        weight_of = {worker: weights.get(worker, fallback) for worker in answers}
        total = sum(weight_of.values())
        if total <= 0:  # nobody has any weight: count heads instead
            weight_of = {worker: 1.0 for worker in answers}
            total = float(len(answers))

        clusters: list[_Cluster] = []
        for worker in sorted(answers, key=lambda w: (-weight_of[w], str(w))):
            boxes = list(answers[worker] or ())
            pairs = []
            for b, box in enumerate(boxes):
                for c, cluster in enumerate(clusters):
                    if cluster.label == box["label"]:
                        overlap = iou(box, cluster.consensus())
                        if overlap >= iou_threshold:
                            pairs.append((-overlap, b, c))
            pairs.sort()
            used_boxes: set = set()
            used_clusters: set = set()
            assigned = []
            for _, b, c in pairs:
                if b not in used_boxes and c not in used_clusters:
                    used_boxes.add(b)
                    used_clusters.add(c)
                    assigned.append((b, c))
            for b, c in assigned:
                clusters[c].members.append((worker, weight_of[worker], boxes[b]))
            for b, box in enumerate(boxes):
                if b not in used_boxes:
                    clusters.append(_Cluster(box["label"], [(worker, weight_of[worker], box)]))

        candidates = []
        dropped_shares = []
        for cluster in clusters:
            share = cluster.support() / total
            if share >= min_support - TIE_TOLERANCE:
                box = cluster.consensus()
                member_weights = [weight for _, weight, _ in cluster.members]
                ious = [iou(b, box) for _, _, b in cluster.members]
                if sum(member_weights) > 0:
                    mean_iou = sum(w * i for w, i in zip(member_weights, ious, strict=True)) / sum(
                        member_weights
                    )
                else:
                    mean_iou = sum(ious) / len(ious)
                candidates.append((share, mean_iou, box))
            else:
                dropped_shares.append(share)

        candidates.sort(key=lambda c: (-c[0], -c[1], tie_break_key(c[2]["label"]), c[2]["y"], c[2]["x"]))
        kept = []
        for share, mean_iou, box in candidates:
            if any(
                other["label"] != box["label"] and iou(box, other) >= iou_threshold for _, _, other in kept
            ):
                dropped_shares.append(share)
                continue
            kept.append((share, mean_iou, box))

        out = []
        for share, mean_iou, box in kept:
            out.append({**box, "confidence": _clip01(share * mean_iou), "support": _clip01(share)})
        out.sort(key=lambda b: (b["y"], b["x"], tie_break_key(b["label"])))
        confidence = min([b["confidence"] for b in out] + [1.0 - max(dropped_shares, default=0.0)])
        results[task] = BoxesResult(out, _clip01(confidence), len(answers), len(dropped_shares))
    return results
