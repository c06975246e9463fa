"""The `collection` task type: the worker sends photos, recordings or videos instead of a label.

It has the task-type interface of backend.microtasks.services.task_types (name, kind,
validate_config, validate_payload, validate_answer, validate_gold, grade) without importing that
module, so the registry there can import this class without an import cycle.

Project config:
    {"media": "image" | "audio" | "video",
     "formats": ["jpeg", "png"],            # optional; default every format of the kind
     "min_bytes": 1, "max_bytes": 10485760, # optional; max defaults per kind, ≤ UPLOAD_MAX_BYTES
     "min_width": 800, "min_height": 600,   # images, optional; either orientation counts
     "min_duration_s": 2, "max_duration_s": 30,  # audio and video, optional
     "min_files": 1, "max_files": 1,        # files per submission
     "prompt": "…" | {"ko": "…", "en": "…"},    # what to collect, optional
     "consent": {"version": "2026-11", "text": "…" | {"ko": "…", "en": "…"}}}
Task payload: {"prompt"?: text} (e.g. the sentence to read aloud; overrides the project's).
Answer: {"uploads": [upload_id, …], "consent": {"version": "2026-11", "accepted": true}}.
Collection tasks have no gold answers.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.i18n import LocalizedText
from backend.microtasks.collection.media import FORMATS, KINDS

DEFAULT_MAX_BYTES = {"image": 20 * 1024 * 1024, "audio": 50 * 1024 * 1024, "video": 200 * 1024 * 1024}
MAX_FILES = 20
MAX_DURATION_S = 4 * 3600


def upload_ceiling() -> int:
    return int(current_app.config["UPLOAD_MAX_BYTES"]) if has_app_context() else 200 * 1024 * 1024


class _ConsentConfig(Schema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    text = LocalizedText(required=True, max_length=10_000)


class _Config(Schema):
    media = fields.String(required=True, validate=validate.OneOf(KINDS))
    formats = fields.List(fields.String(validate=validate.Length(min=1, max=10)),
                          validate=validate.Length(min=1, max=10))
    min_bytes = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1))
    max_bytes = fields.Integer(strict=True, validate=validate.Range(min=1))
    min_width = fields.Integer(strict=True, validate=validate.Range(min=1, max=100_000))
    min_height = fields.Integer(strict=True, validate=validate.Range(min=1, max=100_000))
    min_duration_s = fields.Float(validate=validate.Range(min=0, max=MAX_DURATION_S))
    max_duration_s = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=MAX_DURATION_S))
    min_files = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=MAX_FILES))
    max_files = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=MAX_FILES))
    prompt = LocalizedText(max_length=5000)
    consent = fields.Nested(_ConsentConfig, required=True)

    @validates_schema
    def _coherent(self, data, **_):
        kind = data.get("media")
        if kind not in FORMATS:
            return
        errors: dict = {}
        unknown = [f for f in data.get("formats", []) if f not in FORMATS[kind]]
        if unknown:
            errors["formats"] = [f"Not {kind} formats: {', '.join(unknown)} (accepted: "
                                 f"{', '.join(FORMATS[kind])})."]
        ceiling = upload_ceiling()
        max_bytes = data.get("max_bytes", min(DEFAULT_MAX_BYTES[kind], ceiling))
        if max_bytes > ceiling:
            errors["max_bytes"] = [f"At most {ceiling:,} bytes (UPLOAD_MAX_BYTES)."]
        if data.get("min_bytes", 1) > max_bytes:
            errors["min_bytes"] = ["Must not exceed max_bytes."]
        if kind != "image":
            errors.update({name: ["Only for images."] for name in ("min_width", "min_height") if name in data})
        else:
            errors.update({name: ["Only for audio and video."] for name in ("min_duration_s", "max_duration_s")
                           if name in data})
        if data.get("min_duration_s", 0) > data.get("max_duration_s", MAX_DURATION_S):
            errors["min_duration_s"] = ["Must not exceed max_duration_s."]
        if data.get("min_files", 1) > data.get("max_files", 1):
            errors["min_files"] = ["Must not exceed max_files."]
        if errors:
            raise ValidationError(errors)


class _Payload(Schema):
    prompt = LocalizedText(max_length=5000)


class _ConsentAnswer(Schema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    accepted = fields.Boolean(required=True)


class _Answer(Schema):
    uploads = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1)), required=True,
                          validate=validate.Length(min=1, max=MAX_FILES))
    consent = fields.Nested(_ConsentAnswer, required=True)


def effective_config(config: dict) -> dict:
    """The project config with its defaults filled in (formats, max_bytes)."""
    kind = config["media"]
    return {**config, "formats": config.get("formats") or list(FORMATS[kind]),
            "max_bytes": min(config.get("max_bytes") or DEFAULT_MAX_BYTES[kind], upload_ceiling()),
            "min_bytes": config.get("min_bytes", 1), "min_files": config.get("min_files", 1),
            "max_files": config.get("max_files", 1)}


class Collection:
    name = "collection"
    kind = "collection"

    def __init__(self):
        self._config = _Config()
        self._payload = _Payload()
        self._answer = _Answer()

    def validate_config(self, config) -> dict:
        if not isinstance(config, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        return self._config.load(config)

    def validate_payload(self, payload) -> dict:
        if not isinstance(payload, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        return self._payload.load(payload)

    def validate_answer(self, answer, config: dict, payload: dict) -> dict:
        """The answer's shape, file count and consent; whose uploads they are and whether they
        are ready is checked when the submission is recorded (services.attach_uploads)."""
        if not isinstance(answer, dict):
            raise ValidationError({"_schema": ["Must be an object."]})
        cleaned = self._answer.load(answer)
        settings = effective_config(config)
        uploads = cleaned["uploads"]
        errors: dict = {}
        if len(set(uploads)) != len(uploads):
            errors["uploads"] = ["Must not name an upload twice."]
        elif not settings["min_files"] <= len(uploads) <= settings["max_files"]:
            wanted = (str(settings["min_files"]) if settings["min_files"] == settings["max_files"]
                      else f"{settings['min_files']} to {settings['max_files']}")
            errors["uploads"] = [f"This task takes {wanted} file(s); {len(uploads)} given."]
        consent = cleaned["consent"]
        if not consent["accepted"]:
            errors["consent.accepted"] = ["The consent must be accepted to submit."]
        if consent["version"] != config["consent"]["version"]:
            errors["consent.version"] = [f"The consent text is now version {config['consent']['version']}; "
                                         f"show it and ask again."]
        if errors:
            raise ValidationError(errors)
        return {"uploads": uploads, "consent": {"version": consent["version"], "accepted": True}}

    def validate_gold(self, gold, config: dict, payload: dict) -> dict:
        raise ValidationError({"_schema": ["Collection tasks have no gold answers."]})

    def grade(self, gold: dict, answer: dict):
        raise ValueError("collection tasks have no gold answers")
