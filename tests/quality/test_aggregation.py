"""Hand-made tests for every aggregator in backend/quality/aggregation.py (no database)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from backend.quality.aggregation import (
    aggregate_boxes,
    aggregate_categorical,
    aggregate_multi_label,
    aggregate_pairwise,
    aggregate_rating,
    aggregate_transcription,
    is_confident,
    rank_items,
    tie_break_key,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "truth-inference"


def test_importing_the_module_does_not_import_crowd_kit_or_pandas():
    code = (
        "import sys, backend.quality.aggregation, backend.quality.cli\n"
        "heavy = sorted(m for m in ('crowdkit', 'pandas', 'sklearn', 'numpy') if m in sys.modules)\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# --- categorical: majority vote -------------------------------------------------------------


def test_majority_vote_label_share_and_answers():
    rows = [("t1", "w1", "cat"), ("t1", "w2", "cat"), ("t1", "w3", "dog"), ("t2", "w1", "dog")]
    result = aggregate_categorical(rows, method="mv")
    assert list(result) == ["t1", "t2"]
    assert result["t1"].label == "cat"
    assert result["t1"].confidence == pytest.approx(2 / 3)
    assert result["t1"].answers == 3
    assert result["t1"].method == "mv"
    assert (result["t2"].label, result["t2"].confidence, result["t2"].answers) == ("dog", 1.0, 1)


@pytest.mark.parametrize(
    "labels, winner",
    [
        (["1", "0"], "0"),  # ties go to the lowest label
        (["b", "a"], "a"),
        (["10", "2"], "2"),  # numbers compare as numbers
        (["a", "10"], "10"),  # numbers before text
        (["b", "b", "a", "a", "c"], "a"),
    ],
)
def test_majority_vote_tie_rule_is_the_lowest_label_whatever_the_order(labels, winner):
    for attempt in range(5):
        shuffled = labels[:]
        random.Random(attempt).shuffle(shuffled)
        rows = [("t", f"w{i}", label) for i, label in enumerate(shuffled)]
        result = aggregate_categorical(rows, method="mv")["t"]
        assert result.label == winner
        assert result.confidence == pytest.approx(labels.count(winner) / len(labels))


def test_tie_break_key_orders_numbers_before_text():
    assert sorted(["b", "10", "2", "a", "-1", "nan"], key=tie_break_key) == ["-1", "2", "10", "a", "b", "nan"]


def test_a_repeated_answer_counts_once_and_the_last_one_wins():
    rows = [("t", "w1", "a"), ("t", "w2", "b"), ("t", "w1", "b")]
    result = aggregate_categorical(rows, method="mv")["t"]
    assert (result.label, result.confidence, result.answers) == ("b", 1.0, 2)


def test_labels_stay_as_given():
    result = aggregate_categorical([("t", "w1", "0"), ("t", "w2", "0")], method="mv")["t"]
    assert result.label == "0" and isinstance(result.label, str)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method"):
        aggregate_categorical([("t", "w", "a")], method="wawa")


# --- categorical: models ----------------------------------------------------------------------


def _colluders_rows():
    """Three honest workers; two 'yes-men' who always say "1". On task x only one honest worker
    answered, and the two yes-men outvote it: majority vote says "1", Dawid-Skene learns that the
    yes-men's "1" means nothing and follows the honest worker."""
    truth = {f"t{i}": "0" if i % 2 else "1" for i in range(12)}
    rows = []
    for task, label in truth.items():
        rows += [
            (task, "h1", label),
            (task, "h2", label),
            (task, "h3", label),
            (task, "y1", "1"),
            (task, "y2", "1"),
        ]
    rows += [("x", "h1", "0"), ("x", "y1", "1"), ("x", "y2", "1")]
    return truth, rows


def test_dawid_skene_beats_majority_vote_against_colluders():
    truth, rows = _colluders_rows()
    mv = aggregate_categorical(rows, method="mv")
    ds = aggregate_categorical(rows, method="ds")
    assert mv["x"].label == "1"
    assert ds["x"].label == "0"
    assert ds["x"].method == "ds" and ds["x"].answers == 3
    assert all(ds[task].label == label for task, label in truth.items())
    assert 0.5 < ds["x"].confidence <= 1.0


def test_dawid_skene_confidence_is_the_crowd_kit_posterior():
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    _, rows = _colluders_rows()
    rows += [("y", "h2", "0"), ("y", "y1", "1"), ("y", "h3", "1")]
    frame = pd.DataFrame(sorted(rows), columns=["task", "worker", "label"])
    probas = DawidSkene(n_iter=100, tol=1e-5).fit_predict_proba(frame)
    ours = aggregate_categorical(rows, method="ds")
    for task, result in ours.items():
        assert result.confidence == pytest.approx(probas.loc[task].max(), abs=1e-12)
        assert result.label == probas.loc[task].idxmax()


def test_model_results_do_not_depend_on_row_order():
    _, rows = _colluders_rows()
    first = aggregate_categorical(rows, method="ds")
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    second = aggregate_categorical(shuffled, method="ds")
    assert {t: (r.label, r.confidence) for t, r in first.items()} == {
        t: (r.label, r.confidence) for t, r in second.items()
    }


def test_tasks_with_few_answers_fall_back_to_majority_vote():
    truth, rows = _colluders_rows()
    rows += [("few", "y1", "1"), ("few", "h1", "0")]  # 2 answers < 3
    result = aggregate_categorical(rows, method="ds", min_answers_for_model=3)
    assert result["few"].method == "mv"
    assert (result["few"].label, result["few"].confidence) == ("0", 0.5)  # a tie: lowest label
    assert result["x"].method == "ds"
    assert all(result[task].method == "ds" for task in truth)
    everywhere = aggregate_categorical(rows, method="ds", min_answers_for_model=1)
    assert everywhere["few"].method == "ds"


def test_the_model_is_skipped_when_no_task_has_enough_answers():
    result = aggregate_categorical([("t", "w1", "a"), ("t", "w2", "b")], method="ds", min_answers_for_model=3)
    assert result["t"].method == "mv"


@pytest.mark.parametrize("method", ["glad", "mace"])
def test_glad_and_mace_agree_with_a_clear_crowd(method):
    truth, rows = _colluders_rows()
    result = aggregate_categorical(rows, method=method)
    assert all(result[task].label == label for task, label in truth.items())
    assert all(0.0 <= r.confidence <= 1.0 and r.method == method for r in result.values())
    assert result["t0"].answers == 5


def test_our_majority_vote_equals_crowd_kit_on_every_untied_task_of_d_possent():
    import pandas as pd
    from crowdkit.aggregation import MajorityVote

    from backend.quality.offline import read_answers

    rows = read_answers(DATA / "d_possent" / "answer.csv")
    ours = aggregate_categorical(rows, method="mv")
    theirs = MajorityVote().fit_predict(pd.DataFrame(rows, columns=["task", "worker", "label"]))
    untied = [task for task, result in ours.items() if result.confidence > 0.5]
    assert len(untied) == len(ours) - 43  # the README's 43 tied tasks
    assert all(ours[task].label == theirs[task] for task in untied)


# --- multi-label ------------------------------------------------------------------------------

MULTI = [
    ("t1", "w1", ["house", "tree"]),
    ("t1", "w2", ["house"]),
    ("t1", "w3", ["house", "tree", "grass"]),
    ("t2", "w1", ["car"]),
    ("t2", "w2", ["car", "human"]),
    ("t2", "w3", ["train"]),
]


def test_multi_label_binary_relevance_matches_crowd_kit():
    import pandas as pd
    from crowdkit.aggregation import BinaryRelevance, DawidSkene

    ours = aggregate_multi_label(MULTI, method="ds")
    theirs = BinaryRelevance(DawidSkene(n_iter=100, tol=1e-5)).fit_predict(
        pd.DataFrame(MULTI, columns=["task", "worker", "label"])
    )
    assert ours["t1"].labels == ["house", "tree"]
    assert ours["t2"].labels == ["car"]
    for task, result in ours.items():
        assert sorted(result.labels) == sorted(theirs[task])
        assert 0.5 <= result.confidence <= 1.0
        assert result.answers == 3 and result.method == "ds"


def test_multi_label_majority_vote_and_its_confidence():
    result = aggregate_multi_label(MULTI, method="mv")
    assert result["t1"].labels == ["house", "tree"]
    # the weakest yes/no decision of t1: "tree" chosen by 2 of 3
    assert result["t1"].confidence == pytest.approx(2 / 3)
    tie = aggregate_multi_label([("t", "w1", ["a"]), ("t", "w2", [])], method="mv")["t"]
    assert tie.labels == [] and tie.confidence == 0.5  # a tie means "not chosen"


def test_multi_label_with_nothing_chosen():
    result = aggregate_multi_label([("t", "w1", []), ("t", "w2", [])])["t"]
    assert (result.labels, result.confidence, result.answers) == ([], 1.0, 2)


# --- transcription ----------------------------------------------------------------------------


def test_rover_on_korean_and_confidence_as_mean_one_minus_cer():
    rows = [("t", "w1", "안녕 하세요 세계"), ("t", "w2", "안녕  하세요 세계 "), ("t", "w3", "안녕 하세여")]
    result = aggregate_transcription(rows)["t"]
    assert result.text == "안녕 하세요 세계"
    # w3: 요→여 plus the missing " 세계": 4 edits over 9 characters
    assert result.confidence == pytest.approx((1 + 1 + (1 - 4 / 9)) / 3)
    assert result.answers == 3


def test_rover_votes_word_by_word():
    rows = [("t", "w1", "the cat sat"), ("t", "w2", "the bat sat"), ("t", "w3", "the cat sad")]
    assert aggregate_transcription(rows)["t"].text == "the cat sat"


def test_transcription_normalizes_hangul_and_handles_single_and_empty_answers():
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "한국어")
    result = aggregate_transcription(
        [
            ("a", "w1", decomposed),
            ("a", "w2", "한국어"),
            ("b", "w1", "혼자"),
            ("c", "w1", ""),
            ("c", "w2", " "),
        ]
    )
    assert result["a"].text == "한국어" and result["a"].confidence == 1.0
    assert (result["b"].text, result["b"].confidence) == ("혼자", 1.0)
    assert (result["c"].text, result["c"].confidence) == ("", 1.0)


def test_transcription_confidence_is_clipped_at_zero():
    rows = [("t", "w1", "가"), ("t", "w2", "가"), ("t", "w3", "아주 길고 전혀 다른 문장")]
    result = aggregate_transcription(rows)["t"]
    assert result.text == "가"
    assert result.confidence == pytest.approx(2 / 3)


# --- pairwise ---------------------------------------------------------------------------------


def test_pairwise_preference_share_and_tie():
    rows = [("p1", "w1", "a"), ("p1", "w2", "b"), ("p1", "w3", "a"), ("p2", "w1", "b"), ("p2", "w2", "a")]
    result = aggregate_pairwise(rows)
    assert (result["p1"].label, result["p1"].confidence, result["p1"].answers) == (
        "a",
        pytest.approx(2 / 3),
        3,
    )
    assert (result["p2"].label, result["p2"].confidence) == ("a", 0.5)


def test_pairwise_refuses_other_answers():
    with pytest.raises(ValueError, match="'a' or 'b'"):
        aggregate_pairwise([("p", "w", "left")])


def test_rank_items_with_noisy_bradley_terry():
    import numpy as np

    strength = {"A": 3, "B": 2, "C": 1, "D": 0}
    rows = []
    for worker in ("w1", "w2", "w3"):
        for left in strength:
            for right in strength:
                if left < right:
                    winner = left if strength[left] > strength[right] else right
                    rows.append((worker, left, right, winner))
    rows.append(("w4", "A", "B", "B"))  # one upset
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    scores = rank_items(rows)
    assert np.random.rand() == expected_next  # the global random state is left alone
    assert list(scores) == ["A", "B", "C", "D"]
    assert all(0.0 < score < 1.0 for score in scores.values())
    assert scores["A"] > scores["B"] > scores["C"] > scores["D"]
    assert rank_items(list(reversed(rows))) == pytest.approx(scores)


def test_rank_items_checks_its_rows():
    assert rank_items([]) == {}
    with pytest.raises(ValueError, match="neither"):
        rank_items([("w", "A", "B", "C")])
    with pytest.raises(ValueError, match="itself"):
        rank_items([("w", "A", "A", "A")])


# --- rating -----------------------------------------------------------------------------------


def test_rating_median_mean_mad_and_confidence():
    rows = [
        ("t", "w1", {"helpful": 4, "safe": 1}),
        ("t", "w2", {"helpful": 5, "safe": 3}),
        ("t", "w3", {"helpful": 5, "safe": 5}),
        ("u", "w1", {"helpful": 3}),
        ("u", "w2", {"helpful": 4}),
        ("u", "w3", {"helpful": 5}),
    ]
    result = aggregate_rating(rows, scale=(1, 5))
    helpful = result["t"].dimensions["helpful"]
    assert (helpful.median, helpful.spread, helpful.confidence, helpful.answers) == (5.0, 0.0, 1.0, 3)
    assert helpful.mean == pytest.approx(14 / 3)
    safe = result["t"].dimensions["safe"]
    assert (safe.median, safe.spread, safe.confidence) == (3.0, 2.0, 0.0)  # split between the ends
    assert result["t"].confidence == 0.0 and result["t"].answers == 3
    assert result["u"].dimensions["helpful"].confidence == 0.5  # MAD 1 on a half-range of 2
    assert list(result["u"].dimensions) == ["helpful"]


def test_rating_scale_is_inferred_when_not_given_and_one_answer_is_certain():
    result = aggregate_rating([("t", "w1", {"q": 2}), ("t", "w2", {"q": 4}), ("v", "w1", {"q": 3})])
    assert result["t"].dimensions["q"].confidence == 0.0  # MAD 1 on the observed half-range (4-2)/2
    assert result["v"].dimensions["q"].confidence == 1.0


def test_rating_refuses_non_numbers():
    with pytest.raises(ValueError, match="not a number"):
        aggregate_rating([("t", "w1", {"q": "5"})])
    with pytest.raises(ValueError, match="not a number"):
        aggregate_rating([("t", "w1", {"q": True})])


# --- boxes ------------------------------------------------------------------------------------

CAR = {"x": 100, "y": 50, "w": 80, "h": 40, "label": "car"}
PERSON = {"x": 20, "y": 30, "w": 30, "h": 90, "label": "person"}


def _jitter(box, dx, dy, dw=0, dh=0, label=None):
    return {
        "x": box["x"] + dx,
        "y": box["y"] + dy,
        "w": box["w"] + dw,
        "h": box["h"] + dh,
        "label": label or box["label"],
    }


def _near(box, truth, tolerance):
    return box["label"] == truth["label"] and all(
        abs(box[k] - truth[k]) <= tolerance for k in ("x", "y", "w", "h")
    )


def test_three_workers_two_objects_with_jitter_give_two_boxes_near_the_truth():
    rows = [
        ("img", "w1", [_jitter(CAR, 2, -1), _jitter(PERSON, -1, 1, 1)]),
        ("img", "w2", [_jitter(PERSON, 1, 0, -1, 2), _jitter(CAR, -2, 1, 2)]),
        ("img", "w3", [_jitter(CAR, 0, 1, -2, -1), _jitter(PERSON, 0, -2)]),
    ]
    result = aggregate_boxes(rows)["img"]
    assert result.answers == 3 and result.dropped == 0
    assert len(result.boxes) == 2
    person, car = result.boxes  # sorted top to bottom
    assert _near(car, CAR, 2) and _near(person, PERSON, 2)
    assert all(box["support"] == 1.0 and 0.9 < box["confidence"] <= 1.0 for box in result.boxes)
    assert result.confidence == min(box["confidence"] for box in result.boxes)


def test_an_adversarial_far_away_box_is_ignored():
    far = {"x": 600, "y": 400, "w": 50, "h": 50, "label": "car"}
    rows = [("img", "w1", [CAR]), ("img", "w2", [_jitter(CAR, 2, 2)]), ("img", "bad", [far])]
    result = aggregate_boxes(rows)["img"]
    assert len(result.boxes) == 1
    assert _near(result.boxes[0], CAR, 1)
    assert result.boxes[0]["support"] == pytest.approx(2 / 3)
    assert result.dropped == 1
    assert result.confidence <= 2 / 3


def test_gold_accuracy_weights_pull_the_box_toward_the_accurate_worker():
    rows = [("img", "good", [CAR]), ("img", "sloppy", [_jitter(CAR, 10, 4)])]
    plain = aggregate_boxes(rows)["img"].boxes[0]
    weighted = aggregate_boxes(rows, worker_weight={"good": 0.95, "sloppy": 0.4})["img"].boxes[0]
    assert plain["x"] == pytest.approx(105)
    assert weighted["x"] == pytest.approx(100 + 10 * 0.4 / 1.35)
    assert abs(weighted["x"] - CAR["x"]) < abs(plain["x"] - CAR["x"])
    assert abs(weighted["y"] - CAR["y"]) < abs(plain["y"] - CAR["y"])


def test_weights_decide_support():
    rows = [("img", "good", [CAR]), ("img", "spam1", []), ("img", "spam2", [])]
    assert aggregate_boxes(rows)["img"].boxes == []  # 1 of 3 heads
    kept = aggregate_boxes(rows, worker_weight={"good": 0.9, "spam1": 0.2, "spam2": 0.2})["img"]
    assert len(kept.boxes) == 1 and kept.boxes[0]["support"] == pytest.approx(0.9 / 1.3)
    # a worker without a known weight gets the mean of the known ones
    partial = aggregate_boxes(rows, worker_weight={"good": 0.9, "spam1": 0.1})["img"]
    assert partial.boxes[0]["support"] == pytest.approx(0.9 / (0.9 + 0.1 + 0.5))


def test_label_disagreement_majority_label_wins():
    rows = [
        ("img", "w1", [CAR]),
        ("img", "w2", [_jitter(CAR, 1, 1)]),
        ("img", "w3", [_jitter(CAR, 0, 1, label="truck")]),
    ]
    result = aggregate_boxes(rows)["img"]
    assert [box["label"] for box in result.boxes] == ["car"]
    assert result.boxes[0]["support"] == pytest.approx(2 / 3)
    assert result.dropped == 1


def test_label_disagreement_tie_keeps_one_box_by_the_tie_rule():
    rows = [("img", "w1", [_jitter(CAR, 0, 0, label="truck")]), ("img", "w2", [_jitter(CAR, 1, 0)])]
    result = aggregate_boxes(rows)["img"]
    assert [box["label"] for box in result.boxes] == ["car"]
    assert result.boxes[0]["confidence"] == pytest.approx(0.5)
    assert result.confidence == pytest.approx(0.5)
    assert result.dropped == 1


def test_one_box_per_worker_per_cluster():
    rows = [("img", "w1", [CAR, _jitter(CAR, 1, 1)]), ("img", "w2", [_jitter(CAR, 0, 1)]), ("img", "w3", [])]
    result = aggregate_boxes(rows)["img"]
    assert len(result.boxes) == 1
    assert result.boxes[0]["support"] == pytest.approx(2 / 3)
    assert result.dropped == 1


def test_empty_images_agree_on_nothing():
    rows = [("img", "w1", []), ("img", "w2", []), ("img", "w3", [PERSON])]
    result = aggregate_boxes(rows)["img"]
    assert result.boxes == [] and result.confidence == pytest.approx(2 / 3) and result.answers == 3
    assert aggregate_boxes([("e", "w1", []), ("e", "w2", [])])["e"].confidence == 1.0


def test_iou_threshold_separates_distant_boxes():
    shifted = _jitter(CAR, 40, 0)  # IoU with CAR = 40*40 / (2*3200 - 1600) = 1/3
    rows = [("img", "w1", [CAR]), ("img", "w2", [shifted])]
    assert aggregate_boxes(rows, iou_threshold=0.5)["img"].dropped == 0  # two kept boxes at 1/2 support
    assert len(aggregate_boxes(rows, iou_threshold=0.5)["img"].boxes) == 2
    merged = aggregate_boxes(rows, iou_threshold=0.3)["img"]
    assert len(merged.boxes) == 1 and merged.boxes[0]["x"] == pytest.approx(120)


# --- is_confident and to_dict -----------------------------------------------------------------


def test_is_confident_and_to_dict():
    result = aggregate_categorical([("t", "w1", "a"), ("t", "w2", "a"), ("t", "w3", "b")], method="mv")["t"]
    assert is_confident(result, 0.6)
    assert not is_confident(result, 0.7)
    assert not is_confident(result, 0.6, min_answers=4)
    lone = aggregate_categorical([("t", "w1", "a")], method="mv")["t"]
    assert is_confident(lone, 0.9) and not is_confident(lone, 0.9, min_answers=2)
    assert result.to_dict() == {
        "label": "a",
        "confidence": pytest.approx(2 / 3),
        "answers": 3,
        "method": "mv",
    }
    rating = aggregate_rating([("t", "w", {"q": 3})], scale=(1, 5))["t"].to_dict()
    assert rating["dimensions"]["q"]["median"] == 3.0
