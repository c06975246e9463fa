"""Hand-computed cases for backend.quality.compare (pure: no app, no database)."""

import dataclasses
import json
import unicodedata

import pytest
from marshmallow import ValidationError

from backend.quality.compare import (
    KINDS,
    Grade,
    cer,
    grade,
    iou,
    validate_answer,
    validate_key,
)

OPTIONS = [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}]
WRONG = Grade(0.0, False, {})
RIGHT = Grade(1.0, True, {})
NOT_FINITE = "Special numeric values (nan or infinity) are not permitted."


def messages(kind, answer):
    with pytest.raises(ValidationError) as caught:
        validate_answer(kind, answer)
    return caught.value.messages


def key_messages(kind, key, options=None):
    with pytest.raises(ValidationError) as caught:
        validate_key(kind, key, options)
    return caught.value.messages


def box(x, y, w, h, label="car"):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


# ------------------------------------------------------------------ registry


def test_registered_kinds():
    assert KINDS == (
        "single_choice", "multi_choice", "true_false", "numeric", "short_text", "bbox",
        "transcription", "rating", "pairwise", "classification", "multi_label",
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: grade("essay", {}, {}),
        lambda: validate_answer("essay", {}),
        lambda: validate_key("essay", {}),
    ],
)
def test_unknown_kind_is_a_clear_value_error(call):
    with pytest.raises(ValueError, match=r"unknown question kind 'essay'; known kinds: single_ch"):
        call()


def test_grade_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RIGHT.credit = 0.5


def test_unknown_answer_fields_and_non_objects_are_rejected():
    assert messages("single_choice", {"choice": "a", "note": "x"}) == {"note": ["Unknown field."]}
    assert messages("single_choice", ["a"]) == {"_schema": ["Invalid input type."]}
    assert messages("single_choice", {}) == {"choice": ["Missing data for required field."]}


def test_string_and_list_limits():
    assert validate_answer("short_text", {"text": "x" * 10_000}) == {"text": "x" * 10_000}
    assert messages("short_text", {"text": "x" * 10_001}) == {
        "text": ["Longer than maximum length 10000."]
    }
    assert messages("transcription", {"text": "a\x00b"}) == {
        "text": ["Must not contain NUL characters."]
    }
    assert messages("multi_label", {"labels": ["x"] * 201}) == {
        "labels": ["Longer than maximum length 200."]
    }


# ------------------------------------------------------------------ single_choice


def test_single_choice():
    key = validate_key("single_choice", {"choice": "b"}, OPTIONS)
    assert key == {"choice": "b"}
    assert grade("single_choice", key, {"choice": "b"}) == RIGHT
    assert grade("single_choice", key, {"choice": "a"}) == WRONG
    assert grade("single_choice", key, {}) == WRONG
    assert grade("single_choice", key, None) == WRONG


def test_single_choice_key_must_name_an_existing_option():
    assert key_messages("single_choice", {"choice": "z"}, OPTIONS) == {
        "choice": ["Unknown option id 'z'."]
    }
    assert key_messages("single_choice", {"choice": "a"}) == {
        "options": ["Required for single_choice questions."]
    }


# ------------------------------------------------------------------ multi_choice


def test_multi_choice_partial_credit_is_jaccard():
    key = {"choices": ["a", "b", "c"]}
    # |{a,b} ∩ {a,b,c}| / |{a,b} ∪ {a,b,c}| = 2/3
    assert grade("multi_choice", key, {"choices": ["a", "b"]}) == Grade(
        2 / 3, False, {"matched": 2, "expected": 3, "answered": 2}
    )
    # {a, c} vs {a, b}: 1 shared of 3 distinct = 1/3
    assert grade("multi_choice", {"choices": ["a", "b"]}, {"choices": ["a", "c"]}).credit == 1 / 3
    assert grade("multi_choice", key, {"choices": ["c", "a", "b"]}) == Grade(
        1.0, True, {"matched": 3, "expected": 3, "answered": 3}
    )


def test_multi_choice_empty_answer_earns_nothing():
    expected = Grade(0.0, False, {"matched": 0, "expected": 2, "answered": 0})
    assert grade("multi_choice", {"choices": ["a", "b"]}, {"choices": []}) == expected
    assert grade("multi_choice", {"choices": ["a", "b"]}, {}) == expected


def test_multi_choice_key_checks():
    assert key_messages("multi_choice", {"choices": ["a", "z"]}, OPTIONS) == {
        "choices": {1: ["Unknown option id 'z'."]}
    }
    assert key_messages("multi_choice", {"choices": []}, OPTIONS) == {
        "choices": ["Length must be between 1 and 200."]
    }
    assert validate_key("multi_choice", {"choices": ["c", "a"]}, OPTIONS) == {"choices": ["c", "a"]}


# ------------------------------------------------------------------ true_false


def test_true_false():
    assert grade("true_false", {"value": False}, {"value": False}) == RIGHT
    assert grade("true_false", {"value": True}, {"value": False}) == WRONG
    assert grade("true_false", {"value": True}, {}) == WRONG
    # grade() itself does not treat 1 as True either
    assert grade("true_false", {"value": True}, {"value": 1}) == WRONG


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_true_false_is_strictly_boolean(value):
    expected = ["Field may not be null."] if value is None else ["Not a valid boolean."]
    assert messages("true_false", {"value": value}) == {"value": expected}


# ------------------------------------------------------------------ numeric


@pytest.mark.parametrize(
    ("answer", "correct"),
    [(10.4, True), (9.6, True), (10.0, True), (10.41, False), (9.59, False)],
)
def test_numeric_tolerance_edges(answer, correct):
    # 10.4 - 10 is 0.40000000000000036 in floating point: the edge must still count.
    key = {"value": 10, "tolerance": 0.4}
    assert grade("numeric", key, {"value": answer}) == (RIGHT if correct else WRONG)


def test_numeric_default_tolerance_is_zero_with_a_tiny_epsilon():
    assert grade("numeric", {"value": 0.3}, {"value": 0.1 + 0.2}) == RIGHT
    assert grade("numeric", {"value": 0.3}, {"value": 0.31}) == WRONG
    assert grade("numeric", {"value": 3}, {}) == WRONG


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), NOT_FINITE),
        (float("inf"), NOT_FINITE),
        ("3.5", "Not a valid number."),
        (True, "Not a valid number."),
        (1e9 + 1, "Must be between -1,000,000,000 and 1,000,000,000."),
    ],
)
def test_numeric_rejects_non_finite_and_non_numbers(value, error):
    assert messages("numeric", {"value": value}) == {"value": [error]}


def test_numeric_key_validation():
    assert validate_answer("numeric", {"value": -1e9}) == {"value": -1e9}
    assert key_messages("numeric", {"value": 1, "tolerance": -0.1}) == {
        "tolerance": ["Must be greater than or equal to 0."]
    }


# ------------------------------------------------------------------ short_text


SEOUL = {"text": "Seoul", "alternatives": ["서울", "Straße"]}


@pytest.mark.parametrize(
    "answer",
    [
        "  SEOUL ",
        "se\u200boul",  # zero-width space
        "\u200eSeoul\u200f\ufeff",  # bidi marks and BOM
        "서울",
        unicodedata.normalize("NFD", "서울"),  # jamo sequence
        "STRASSE",  # casefold: ß == ss
    ],
)
def test_short_text_normalises_both_sides(answer):
    assert grade("short_text", SEOUL, {"text": answer}) == RIGHT


def test_short_text_collapses_inner_whitespace_but_not_words():
    key = {"text": "New  York"}
    assert grade("short_text", key, {"text": "new\u00a0york"}) == RIGHT
    assert grade("short_text", key, {"text": "newyork"}) == WRONG
    assert grade("short_text", SEOUL, {"text": "Busan"}) == WRONG
    assert grade("short_text", SEOUL, {"text": ""}) == WRONG
    assert grade("short_text", SEOUL, {}) == WRONG
    # even a key that skipped validation never accepts a blank reply
    assert grade("short_text", {"text": "x", "alternatives": ["\u200b"]}, {"text": ""}) == WRONG


def test_short_text_key_must_not_be_blank():
    assert key_messages("short_text", {"text": " \u200b "}) == {"text": ["Must not be blank."]}
    assert key_messages("short_text", {"text": "x", "alternatives": ["y", "\ufeff"]}) == {
        "alternatives": {1: ["Must not be blank."]}
    }


# ------------------------------------------------------------------ bbox


def test_iou_hand_computed():
    assert iou(box(0, 0, 10, 10), box(0, 0, 10, 10)) == 1.0
    assert iou(box(0, 0, 10, 10), box(5, 5, 10, 10)) == 25 / 175  # overlap 5x5
    assert iou(box(0, 0, 10, 10), box(0, 0, 10, 5)) == 0.5
    assert iou(box(0, 0, 10, 10), box(10, 0, 10, 10)) == 0.0  # touching edges


def test_bbox_exact_match():
    key = {"boxes": [box(10, 10, 20, 20)]}
    assert grade("bbox", key, {"boxes": [box(11, 10, 20, 20)]}) == Grade(
        1.0, True, {"matched": 1, "expected": 1, "answered": 1}
    )


def test_bbox_iou_exactly_at_threshold_matches():
    answer = {"boxes": [box(0, 0, 10, 5)]}  # IoU with the key box is exactly 0.5
    assert grade("bbox", {"boxes": [box(0, 0, 10, 10)], "iou": 0.5}, answer).correct is True
    assert grade("bbox", {"boxes": [box(0, 0, 10, 10)]}, answer).correct is True  # default 0.5
    assert grade("bbox", {"boxes": [box(0, 0, 10, 10)], "iou": 0.51}, answer) == Grade(
        0.0, False, {"matched": 0, "expected": 1, "answered": 1}
    )


def test_bbox_wrong_label_does_not_match():
    key = {"boxes": [box(0, 0, 10, 10, "car")]}
    assert grade("bbox", key, {"boxes": [box(0, 0, 10, 10, "truck")]}) == Grade(
        0.0, False, {"matched": 0, "expected": 1, "answered": 1}
    )


def test_bbox_extra_and_missing_boxes_cost_credit():
    key = {"boxes": [box(0, 0, 10, 10), box(50, 50, 10, 10, "person")]}
    extra = {"boxes": [*key["boxes"], box(100, 100, 5, 5)]}
    assert grade("bbox", key, extra) == Grade(
        2 / 3, False, {"matched": 2, "expected": 2, "answered": 3}
    )
    missing = {"boxes": [box(50, 50, 10, 10, "person")]}
    assert grade("bbox", key, missing) == Grade(
        0.5, False, {"matched": 1, "expected": 2, "answered": 1}
    )


def test_bbox_matching_is_one_to_one():
    # One answered box overlaps both key boxes (IoU 1 and 2/3): it can match only one.
    key = {"boxes": [box(0, 0, 10, 10), box(2, 0, 10, 10)]}
    assert grade("bbox", key, {"boxes": [box(0, 0, 10, 10)]}).credit == 0.5
    both = {"boxes": [box(2, 0, 10, 10), box(0, 0, 10, 10)]}
    assert grade("bbox", key, both).correct is True


def test_bbox_empty_cases():
    assert grade("bbox", {"boxes": []}, {"boxes": []}) == Grade(
        1.0, True, {"matched": 0, "expected": 0, "answered": 0}
    )
    assert grade("bbox", {"boxes": [box(0, 0, 1, 1)]}, {}) == Grade(
        0.0, False, {"matched": 0, "expected": 1, "answered": 0}
    )
    assert grade("bbox", {"boxes": []}, {"boxes": [box(0, 0, 1, 1)]}).credit == 0.0


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        ({"w": 0}, {"w": ["Must be greater than 0."]}),
        ({"h": -3}, {"h": ["Must be greater than 0."]}),
        ({"x": -1}, {"x": ["Must be greater than or equal to 0."]}),
        ({"y": float("nan")}, {"y": [NOT_FINITE]}),
        ({"x": float("inf")}, {"x": [NOT_FINITE]}),
        ({"label": ""}, {"label": ["Length must be between 1 and 10000."]}),
        ({"angle": 5}, {"angle": ["Unknown field."]}),
    ],
)
def test_bbox_validation_names_the_field(bad, errors):
    boxes = [box(1, 1, 5, 5), {**box(0, 0, 10, 10), **bad}]
    assert messages("bbox", {"boxes": boxes}) == {"boxes": {1: errors}}


def test_bbox_limits_and_key_threshold():
    assert messages("bbox", {"boxes": [box(0, 0, 1, 1)] * 201}) == {
        "boxes": ["Longer than maximum length 200."]
    }
    assert validate_answer("bbox", {"boxes": []}) == {"boxes": []}
    assert key_messages("bbox", {"boxes": [], "iou": 0}) == {
        "iou": ["Must be greater than 0 and less than or equal to 1."]
    }


# ------------------------------------------------------------------ transcription

HELLO = "안녕하세요 여러분"  # 9 characters: 5 syllables, a space, 3 syllables


def test_korean_cer_counts_syllables():
    assert len(HELLO) == 9
    assert cer(HELLO, "안녕하세여 여러분") == 1 / 9  # one syllable substituted
    assert cer(HELLO, "안녕하세요여러분") == 1 / 9  # the space deleted
    assert cer(HELLO, HELLO) == 0.0


def test_korean_one_syllable_error_fails_default_max_cer():
    got = grade("transcription", {"text": HELLO}, {"text": "안녕하세여 여러분"})
    assert got == Grade(1 - 1 / 9, False, {"cer": 0.1111})
    lenient = grade("transcription", {"text": HELLO, "max_cer": 0.2}, {"text": "안녕하세여 여러분"})
    assert lenient == Grade(1.0, True, {"cer": 0.1111})


def test_nfd_korean_equals_nfc():
    decomposed = unicodedata.normalize("NFD", HELLO)
    # 안 녕 분 have 3 jamo, 하 세 요 여 러 have 2, plus the space: 3*3 + 5*2 + 1 = 20
    assert decomposed != HELLO and len(decomposed) == 20
    assert cer(HELLO, decomposed) == 0.0
    assert grade("transcription", {"text": decomposed}, {"text": HELLO}) == Grade(
        1.0, True, {"cer": 0.0}
    )


def test_cer_keeps_case_and_collapses_whitespace():
    assert cer("Hello", "hello") == 0.2
    assert cer("a b", "  a \n  b ") == 0.0
    assert cer("", "ab") == 2.0  # an empty reference divides by 1


def test_transcription_empty_answer():
    assert grade("transcription", {"text": "abcd"}, {}) == Grade(0.0, False, {"cer": 1.0})
    # 5 errors on 4 characters: CER 1.25, credit floored at 0
    assert grade("transcription", {"text": "abcd"}, {"text": "vwxyz"}) == Grade(
        0.0, False, {"cer": 1.25}
    )


def test_transcription_credit_between_max_cer_and_one():
    # 2 substitutions in 10 characters: CER 0.2 > 0.1, credit 0.8
    got = grade("transcription", {"text": "abcdefghij"}, {"text": "abcdefghXY"})
    assert got == Grade(0.8, False, {"cer": 0.2})
    assert key_messages("transcription", {"text": "x", "max_cer": 1.5}) == {
        "max_cer": ["Must be greater than or equal to 0 and less than or equal to 1."]
    }


# ------------------------------------------------------------------ rating

RATING_KEY = {"scores": {"helpful": 4, "harmless": 5, "honest": 2}}


def test_rating_default_tolerance_is_one_and_extras_are_ignored():
    answer = {"scores": {"helpful": 5, "harmless": 3, "honest": 2, "style": 1}}
    assert grade("rating", RATING_KEY, answer) == Grade(
        2 / 3, False, {"matched": 2, "expected": 3}
    )


def test_rating_explicit_tolerance_and_all_within():
    answer = {"scores": {"helpful": 5, "harmless": 4, "honest": 2}}
    assert grade("rating", {**RATING_KEY, "tolerance": 0}, answer).credit == 1 / 3
    assert grade("rating", RATING_KEY, answer) == Grade(1.0, True, {"matched": 3, "expected": 3})
    assert grade("rating", RATING_KEY, {}) == Grade(0.0, False, {"matched": 0, "expected": 3})


def test_rating_validation():
    assert messages("rating", {"scores": {"helpful": 4.5, "honest": True}}) == {
        "scores": {
            "helpful": {"value": ["Not a valid integer."]},
            "honest": {"value": ["Not a valid integer."]},
        }
    }
    assert key_messages("rating", {"scores": {}}) == {
        "scores": ["Length must be between 1 and 200."]
    }


# ------------------------------------------------------------------ pairwise and micro-tasks


def test_pairwise():
    assert grade("pairwise", {"preferred": "a"}, {"preferred": "a"}) == RIGHT
    assert grade("pairwise", {"preferred": "a"}, {"preferred": "b"}) == WRONG
    assert grade("pairwise", {"preferred": "a"}, {}) == WRONG
    for bad in ("c", "ab", "A"):
        assert messages("pairwise", {"preferred": bad}) == {"preferred": ["Must be one of: a, b."]}


def test_classification_is_exact_and_labels_are_checked_when_given():
    assert grade("classification", {"label": "cat"}, {"label": "cat"}) == RIGHT
    assert grade("classification", {"label": "cat"}, {"label": "Cat"}) == WRONG
    labels = [{"id": "cat"}, {"id": "dog"}]
    assert validate_key("classification", {"label": "cow"}) == {"label": "cow"}
    assert key_messages("classification", {"label": "cow"}, labels) == {
        "label": ["Unknown option id 'cow'."]
    }


def test_multi_label_jaccard():
    key = {"labels": ["cat", "dog"]}
    assert grade("multi_label", key, {"labels": ["cat", "bird"]}) == Grade(
        1 / 3, False, {"matched": 1, "expected": 2, "answered": 2}
    )
    assert grade("multi_label", key, {"labels": ["dog", "cat"]}).correct is True
    # "no label applies" is a valid gold answer
    assert grade("multi_label", {"labels": []}, {"labels": []}) == Grade(
        1.0, True, {"matched": 0, "expected": 0, "answered": 0}
    )
    assert key_messages("multi_label", {"labels": ["cat", "cow"]}, [{"id": "cat"}]) == {
        "labels": {1: ["Unknown option id 'cow'."]}
    }


def test_every_detail_is_json():
    grades = [
        grade("bbox", {"boxes": [box(0, 0, 2, 2)]}, {"boxes": [box(0, 0, 2, 2)]}),
        grade("transcription", {"text": HELLO}, {"text": "안녕"}),
        grade("rating", RATING_KEY, {"scores": {"helpful": 4}}),
        grade("multi_choice", {"choices": ["a"]}, {"choices": ["a", "b"]}),
    ]
    assert [json.loads(json.dumps(g.detail)) for g in grades] == [g.detail for g in grades]
