"""The task types: one class per type, registered by name (like CTFd's challenge plugins).

Each type knows its project `config` schema, its task `payload` schema, how a worker's answer and
a gold answer are checked, and how an answer is scored against the gold. Answer shapes, gold keys
and scoring come from the shared comparison (backend.quality.compare); this module adds what only
a project knows: its labels, its rating dimensions and scale, the image size of a bbox task.

Every check raises marshmallow.ValidationError whose messages name the offending field
(`label`, `boxes.0.label`, `scores.fluency`, …); callers prefix it (`answer.`, `payload.`).
"""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.microtasks.collection.task_type import Collection
from backend.quality import compare

MAX_TEXT = 50_000
MAX_LABELS = 200
MAX_DATA_URL = 300_000  # characters; small inline media only
_SAFE_PATH = re.compile(r"^/[^/\\\s][^\s\\]*$")
_DATA_URL = re.compile(r"^data:(image|audio)/[a-z0-9.+-]+(;[a-z0-9=.-]+)*;base64,[A-Za-z0-9+/=]+$")


def _no_nul(value: str) -> None:
    if "\x00" in value:  # PostgreSQL cannot store U+0000 in JSON
        raise ValidationError("Must not contain NUL characters.")


def _text(required=False, min_len=1, max_len=MAX_TEXT) -> fields.String:
    return fields.String(required=required, validate=[validate.Length(min=min_len, max=max_len), _no_nul])


class MediaUrl(fields.String):
    """An http(s) URL, a path on this server (/media/…), or a small data: URL of the right kind."""

    def __init__(self, media: str, **kwargs):
        super().__init__(**kwargs)
        self.media = media

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value.startswith("data:"):
            match = _DATA_URL.match(value)
            if not match or match.group(1) != self.media or len(value) > MAX_DATA_URL:
                raise ValidationError(f"Must be a base64 data: URL of {self.media} "
                                      f"up to {MAX_DATA_URL:,} characters.")
            return value
        if len(value) > 2000:
            raise ValidationError("Longer than 2000 characters.")
        if _SAFE_PATH.match(value):
            return value
        validate.URL(schemes={"http", "https"}, require_tld=False)(value)
        return value


def _unique_strings(max_items: int, max_len: int = 100) -> fields.List:
    def unique(values):
        if len(set(values)) != len(values):
            raise ValidationError("Must not repeat a value.")

    return fields.List(fields.String(validate=[validate.Length(min=1, max=max_len), _no_nul]),
                       required=True, validate=[validate.Length(min=1, max=max_items), unique])


class _LabelsConfig(Schema):
    labels = _unique_strings(MAX_LABELS)


class _EmptyConfig(Schema):
    pass


class _RatingConfig(Schema):
    dimensions = _unique_strings(20, 60)
    scale = fields.List(fields.Integer(strict=True, validate=validate.Range(min=-100, max=100)),
                        load_default=lambda: [1, 5], validate=validate.Length(equal=2))

    @validates_schema
    def _scale_order(self, data, **_):
        low, high = data.get("scale", [1, 5])
        if low >= high:
            raise ValidationError("Must be [lowest, highest] with lowest < highest.", "scale")


class _TextOrImage(Schema):
    text = _text()
    image_url = MediaUrl("image")

    @validates_schema
    def _something(self, data, **_):
        if not data.get("text") and not data.get("image_url"):
            raise ValidationError("Give text, image_url or both.", "_schema")


class _BBoxPayload(Schema):
    image_url = MediaUrl("image", required=True)
    width = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=100_000))
    height = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=100_000))


class _TranscriptionPayload(Schema):
    image_url = MediaUrl("image")
    audio_url = MediaUrl("audio")

    @validates_schema
    def _something(self, data, **_):
        if not data.get("image_url") and not data.get("audio_url"):
            raise ValidationError("Give image_url or audio_url.", "_schema")


class _RatingPayload(Schema):
    prompt = _text(required=True)
    response = _text(required=True)


class _PairwisePayload(Schema):
    prompt = _text(required=True)
    a = _text(required=True)
    b = _text(required=True)


class TaskType:
    """A micro-task type. Subclasses set the schemas and add the project-specific answer checks."""

    name: str
    kind: str  # the backend.quality.compare kind of its answers
    config_schema: type[Schema] = _EmptyConfig
    payload_schema: type[Schema]

    def __init__(self):
        self._config = self.config_schema()
        self._payload = self.payload_schema()

    def validate_config(self, config) -> dict:
        if not isinstance(config, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        return self._config.load(config)

    def validate_payload(self, payload) -> dict:
        if not isinstance(payload, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        return self._payload.load(payload)

    def validate_answer(self, answer, config: dict, payload: dict) -> dict:
        if not isinstance(answer, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        cleaned = compare.validate_answer(self.kind, answer)
        self._check(cleaned, config, payload, gold=False)
        return cleaned

    def validate_gold(self, gold, config: dict, payload: dict) -> dict:
        if not isinstance(gold, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        cleaned = compare.validate_key(self.kind, gold)
        self._check(cleaned, config, payload, gold=True)
        return cleaned

    def grade(self, gold: dict, answer: dict) -> compare.Grade:
        return compare.grade(self.kind, gold, answer)

    def _check(self, value: dict, config: dict, payload: dict, *, gold: bool) -> None:
        """Project-specific checks of an answer (or of a gold answer when `gold`)."""


class Classification(TaskType):
    name, kind = "classification", "classification"
    config_schema = _LabelsConfig
    payload_schema = _TextOrImage

    def _check(self, value, config, payload, *, gold):
        if value["label"] not in config["labels"]:
            raise ValidationError({"label": ["Not one of the project's labels."]})


class MultiLabel(TaskType):
    name, kind = "multi_label", "multi_label"
    config_schema = _LabelsConfig
    payload_schema = _TextOrImage

    def _check(self, value, config, payload, *, gold):
        labels = value["labels"]
        errors = {i: ["Not one of the project's labels."] for i, v in enumerate(labels)
                  if v not in config["labels"]}
        if errors:
            raise ValidationError({"labels": errors})
        if len(set(labels)) != len(labels):
            raise ValidationError({"labels": ["Must not repeat a label."]})


class BBox(TaskType):
    name, kind = "bbox", "bbox"
    config_schema = _LabelsConfig
    payload_schema = _BBoxPayload

    def _check(self, value, config, payload, *, gold):
        errors: dict = {}
        for i, box in enumerate(value["boxes"]):
            problems = {}
            if box["label"] not in config["labels"]:
                problems["label"] = ["Not one of the project's labels."]
            if box["x"] + box["w"] > payload["width"] + compare.EPS:
                problems["w"] = [f"The box leaves the image (width {payload['width']})."]
            if box["y"] + box["h"] > payload["height"] + compare.EPS:
                problems["h"] = [f"The box leaves the image (height {payload['height']})."]
            if problems:
                errors[i] = problems
        if errors:
            raise ValidationError({"boxes": errors})


class Transcription(TaskType):
    name, kind = "transcription", "transcription"
    payload_schema = _TranscriptionPayload


class Rating(TaskType):
    name, kind = "rating", "rating"
    config_schema = _RatingConfig
    payload_schema = _RatingPayload

    def _check(self, value, config, payload, *, gold):
        dimensions = config["dimensions"]
        low, high = config.get("scale", [1, 5])
        scores = value["scores"]
        errors = {dim: ["Not one of the project's rating dimensions."] for dim in scores
                  if dim not in dimensions}
        if not gold:  # a worker rates every dimension; a gold answer may name a subset
            errors.update({dim: ["Missing a score."] for dim in dimensions if dim not in scores})
        errors.update({dim: [f"Must be between {low} and {high}."] for dim, score in scores.items()
                       if dim in dimensions and not low <= score <= high})
        if errors:
            raise ValidationError({"scores": errors})


class Pairwise(TaskType):
    name, kind = "pairwise", "pairwise"
    payload_schema = _PairwisePayload


# `collection` (photos, recordings, videos sent from the phone) lives in its own package with the
# same interface; it has no gold answers.
REGISTRY: dict[str, TaskType] = {cls.name: cls() for cls in
                                 (Classification, MultiLabel, BBox, Transcription, Rating, Pairwise, Collection)}
TASK_TYPES: tuple[str, ...] = tuple(REGISTRY)


def task_type(name: str) -> TaskType:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown task type {name!r}") from None
