"""The task type registry (pure: no app, no database)."""

import pytest
from marshmallow import ValidationError

from backend.microtasks.services.task_types import REGISTRY, TASK_TYPES, task_type
from backend.quality import compare


def errors(call):
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.messages


LABELLING = ("classification", "multi_label", "bbox", "transcription", "rating", "pairwise")


def test_registry_has_one_class_per_type_on_the_shared_comparison():
    assert TASK_TYPES[:6] == LABELLING and set(TASK_TYPES) == {*LABELLING, "collection"}
    assert {REGISTRY[name].kind for name in LABELLING} <= set(compare.KINDS)
    assert len({type(kind) for kind in REGISTRY.values()}) == len(TASK_TYPES)
    with pytest.raises(ValueError):
        task_type("essay")


@pytest.mark.parametrize(("name", "config", "payload"), [
    ("classification", {"labels": ["a", "b"]}, {"text": "안녕"}),
    ("classification", {"labels": ["a"]}, {"image_url": "/api/v1/media/quizzes/x.png"}),
    ("multi_label", {"labels": ["a", "b"]}, {"text": "t", "image_url": "https://cdn.example.com/a.jpg"}),
    ("bbox", {"labels": ["car"]}, {"image_url": "data:image/png;base64,iVBORw0KGgo=", "width": 10, "height": 5}),
    ("transcription", {}, {"audio_url": "https://cdn.example.com/a.ogg"}),
    ("transcription", {}, {"image_url": "http://localhost:5000/a.png"}),
    ("rating", {"dimensions": ["accuracy"]}, {"prompt": "p", "response": "r"}),
    ("pairwise", {}, {"prompt": "p", "a": "x", "b": "y"}),
])
def test_valid_configs_and_payloads(name, config, payload):
    kind = task_type(name)
    cleaned = kind.validate_config(config)
    assert kind.validate_payload(payload) == payload
    if name == "rating":
        assert cleaned["scale"] == [1, 5]


@pytest.mark.parametrize(("name", "payload", "field"), [
    ("classification", {}, "_schema"),
    ("classification", {"image_url": "javascript:alert(1)"}, "image_url"),
    ("classification", {"image_url": "//evil.example/x.png"}, "image_url"),
    ("bbox", {"image_url": "https://x.example/a.png", "width": 0, "height": 5}, "width"),
    ("bbox", {"image_url": "https://x.example/a.png", "width": 5}, "height"),
    ("bbox", {"image_url": "data:audio/ogg;base64,AAAA", "width": 5, "height": 5}, "image_url"),
    ("transcription", {"audio_url": "data:image/png;base64,AAAA"}, "audio_url"),
    ("transcription", {}, "_schema"),
    ("rating", {"prompt": "p"}, "response"),
    ("pairwise", {"prompt": "p", "a": "x", "b": "y", "c": "z"}, "c"),
    ("pairwise", {"prompt": "p\x00", "a": "x", "b": "y"}, "prompt"),
])
def test_bad_payloads_name_the_field(name, payload, field):
    assert field in errors(lambda: task_type(name).validate_payload(payload))


def test_configs_are_checked():
    assert "labels" in errors(lambda: task_type("bbox").validate_config({"labels": []}))
    assert "labels" in errors(lambda: task_type("bbox").validate_config({"labels": ["a", "a"]}))
    assert "scale" in errors(lambda: task_type("rating").validate_config({"dimensions": ["a"], "scale": [3, 3]}))
    assert "labels" in errors(lambda: task_type("pairwise").validate_config({"labels": ["a"]}))


def test_answers_are_checked_against_the_project():
    multi = task_type("multi_label")
    config = {"labels": ["a", "b"]}
    assert multi.validate_answer({"labels": ["a"]}, config, {"text": "t"}) == {"labels": ["a"]}
    assert errors(lambda: multi.validate_answer({"labels": ["a", "z"]}, config, {})) == {
        "labels": {1: ["Not one of the project's labels."]}}
    assert "labels" in errors(lambda: multi.validate_answer({"labels": ["a", "a"]}, config, {}))
    pair = task_type("pairwise")
    assert "preferred" in errors(lambda: pair.validate_answer({"preferred": "c"}, {}, {}))


def test_gold_answers_and_grading_reuse_the_shared_comparison():
    bbox = task_type("bbox")
    config, payload = {"labels": ["car"]}, {"image_url": "https://x.example/a.png", "width": 100, "height": 100}
    gold = bbox.validate_gold({"boxes": [{"x": 10, "y": 10, "w": 20, "h": 20, "label": "car"}], "iou": 0.5},
                              config, payload)
    near = {"boxes": [{"x": 11, "y": 10, "w": 20, "h": 20, "label": "car"}]}
    far = {"boxes": [{"x": 60, "y": 60, "w": 20, "h": 20, "label": "car"}]}
    assert bbox.grade(gold, bbox.validate_answer(near, config, payload)).correct
    assert not bbox.grade(gold, bbox.validate_answer(far, config, payload)).correct
    rating = task_type("rating")
    config = {"dimensions": ["accuracy", "fluency"], "scale": [1, 5]}
    gold = rating.validate_gold({"scores": {"accuracy": 5}}, config, {})  # a subset is a valid key
    assert rating.grade(gold, {"scores": {"accuracy": 4, "fluency": 1}}).correct
    assert "scores" in errors(lambda: rating.validate_gold({"scores": {"accuracy": 7}}, config, {}))
    transcription = task_type("transcription")
    gold = transcription.validate_gold({"text": "주차금지", "max_cer": 0.0}, {}, {})
    assert transcription.grade(gold, {"text": " 주차금지 "}).correct
    assert not transcription.grade(gold, {"text": "주차 금지"}).correct
