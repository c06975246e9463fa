"""Exam documents: one validation for the manager API (POST/PUT /manage/exams) and bank files.

`validate_exam(raw, skill_max_levels, bank=None)` returns the cleaned document and a flat
{dotted.path: [messages]} map of everything wrong with it (empty when it is valid). The API turns
the map into a 422; the bank importer turns each path into a file line. A bank file (`bank` given)
is held to the editorial rules of docs/contracts/FORMATS.md on top: both languages everywhere,
explanations, question keys, media files next to the bank, named after the bank and question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import marshmallow as ma
from marshmallow import fields, validate

from backend.errors import flatten_messages
from backend.i18n import LocalizedText
from backend.quality import compare

EXAM_KINDS = ("single_choice", "multi_choice", "true_false", "numeric", "short_text", "bbox",
              "transcription", "rating", "pairwise")
CHOICE_KINDS = ("single_choice", "multi_choice")
KEY_ONLY_FIELDS = ("tolerance", "alternatives", "iou", "max_cer")  # key parameters, not part of a reply
MEDIA_KINDS = ("image", "audio", "video")
MEDIA_EXTENSIONS = {"image": {"png", "jpg", "jpeg"}, "audio": {"ogg", "mp3", "wav"}, "video": {"mp4", "webm"}}
MEDIA_LIMITS = {"image": 60 * 1024, "audio": 80 * 1024, "video": 100 * 1024}  # bytes, per file
MAX_QUESTIONS = 500
KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN = re.compile(r"[A-Za-z]")
PAIRWISE_MARKS = {"ko": ("[답변 A]", "[답변 B]"), "en": ("[Response A]", "[Response B]")}


class StrictInteger(fields.Integer):
    """An integer written as one: no "3", no 3.5, no true."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _key_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(KEY_PATTERN, error="Use 1-100 lower-case letters, "
                                                  "digits, '-', '_' or '.'."), **kwargs)


class MediaSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(MEDIA_KINDS))
    url = fields.String(required=True, validate=validate.Length(min=1, max=500))


class OptionSchema(ma.Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^\S{1,50}$", error="1-50 characters, "
                                                               "no spaces."))
    text = LocalizedText(required=True, max_length=1000)


class QuestionSchema(ma.Schema):
    key = _key_field()
    kind = fields.String(required=True, validate=validate.OneOf(EXAM_KINDS))
    prompt = LocalizedText(required=True, max_length=10_000)
    media = fields.List(fields.Nested(MediaSchema), load_default=list, validate=validate.Length(max=10))
    options = fields.List(fields.Nested(OptionSchema), load_default=list, validate=validate.Length(max=20))
    answer = fields.Dict(required=True)
    points = StrictInteger(load_default=1, validate=validate.Range(min=1, max=100))
    explanation = LocalizedText(load_default=None, allow_none=True, max_length=10_000)
    pool = _key_field(load_default="default")
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list,
                       validate=validate.Length(max=20))


class DrawSchema(ma.Schema):
    pool = _key_field(required=True)
    count = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUESTIONS))


class RequiresSchema(ma.Schema):
    course = fields.String(load_default=None, allow_none=True,
                           validate=validate.Regexp(SLUG_PATTERN, error="Not a course slug."))
    skill_level = StrictInteger(load_default=0, validate=validate.Range(min=0, max=100))


class ExamSettingsSchema(ma.Schema):
    """An exam without its questions (loaded one by one, so every problem is reported at once)."""

    key = _key_field()
    version = StrictInteger(load_default=1, validate=validate.Range(min=1))
    title = LocalizedText(required=True, max_length=200)
    description = LocalizedText(load_default=None, allow_none=True, max_length=5000)
    skill = fields.String(required=True, validate=validate.Length(min=1, max=40))
    grants_level = StrictInteger(required=True, validate=validate.Range(min=1, max=100))
    requires = fields.Nested(RequiresSchema, load_default=lambda: {"course": None, "skill_level": 0})
    time_limit_s = StrictInteger(required=True, validate=validate.Range(min=30, max=24 * 3600))
    pass_percent = StrictInteger(required=True, validate=validate.Range(min=1, max=100))
    attempts_allowed = StrictInteger(required=True, validate=validate.Range(min=1, max=100))
    retake_cooldown_s = StrictInteger(required=True, validate=validate.Range(min=0, max=365 * 86400))
    validity_days = StrictInteger(required=True, validate=validate.Range(min=1, max=3650))
    draw = fields.List(fields.Nested(DrawSchema), load_default=None, allow_none=True,
                       validate=validate.Length(min=1, max=50))
    published = StrictBoolean(load_default=True)


class ExamDocumentSchema(ExamSettingsSchema):
    """The exam payload of ../shared/docs/API.md "Payloads" (and a bank file's content)."""

    questions = fields.List(fields.Nested(QuestionSchema), required=True,
                            validate=validate.Length(min=1, max=MAX_QUESTIONS))


@dataclass
class BankContext:
    """Where a bank file lives: its key is its file name, its media sit in <folder>/media/."""

    key: str
    folder: Path
    media_used: set[str] = field(default_factory=set)  # file names, filled while checking


class _Errors:
    def __init__(self):
        self.map: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.map.setdefault(path, []).append(message)

    def merge(self, prefix: str, messages) -> None:
        for name, msgs in flatten_messages(messages, prefix).items():
            for msg in msgs:
                self.add(name, msg)


def validate_exam(raw, skill_max_levels: dict[str, int], bank: BankContext | None = None
                  ) -> tuple[dict | None, dict[str, list[str]]]:
    """Check an exam document; returns (cleaned document or None, {path: [messages]}).

    Every problem is reported in one pass: the exam's settings and each question load separately,
    and the checks run on whatever loaded.
    """
    errors = _Errors()
    if not isinstance(raw, dict):
        errors.add("_schema", "An exam must be an object (a mapping).")
        return None, errors.map
    try:
        settings = ExamSettingsSchema().load({k: v for k, v in raw.items() if k != "questions"})
    except ma.ValidationError as error:
        errors.merge("", error.messages)
        settings = error.valid_data if isinstance(error.valid_data, dict) else {}
    raw_questions = raw.get("questions")
    loaded: list[tuple[int, dict]] = []
    if "questions" not in raw:
        errors.add("questions", "Missing data for required field.")
    elif not isinstance(raw_questions, list):
        errors.add("questions", "Not a valid list.")
    elif not 1 <= len(raw_questions) <= MAX_QUESTIONS:
        errors.add("questions", f"Length must be between 1 and {MAX_QUESTIONS}.")
    else:
        for index, item in enumerate(raw_questions):
            try:
                loaded.append((index, QuestionSchema().load(item)))
            except ma.ValidationError as error:
                errors.merge(f"questions.{index}", error.messages)
    if bank is not None:
        _check_bank_rules(raw, bank, errors)
    _check_exam(settings, skill_max_levels, errors)
    for index, question in loaded:
        _check_question(question, f"questions.{index}", errors, bank)
    _check_keys_and_draw(settings.get("draw"), raw_questions if isinstance(raw_questions, list) else [],
                         errors)
    if errors.map:
        return None, errors.map
    return {**settings, "questions": [question for _, question in loaded]}, {}


def _check_exam(settings: dict, skill_max_levels: dict[str, int], errors: _Errors) -> None:
    skill, grants = settings.get("skill"), settings.get("grants_level")
    if skill is not None:
        max_level = skill_max_levels.get(skill)
        if max_level is None:
            known = ", ".join(sorted(skill_max_levels))
            errors.add("skill", f"Unknown skill {skill!r}; known skills: {known}.")
        elif grants is not None and grants > max_level:
            errors.add("grants_level", f"The skill's highest level is {max_level}.")
    requires = settings.get("requires")
    if grants is not None and isinstance(requires, dict) and requires.get("skill_level", 0) >= grants:
        errors.add("requires.skill_level", "Must be below grants_level (the exam would grant nothing).")


def _check_keys_and_draw(draw: list[dict] | None, raw_questions: list, errors: _Errors) -> None:
    """Question keys are unique; a draw names pools that hold enough questions (read from the raw
    questions, so a question with another problem still counts here)."""
    seen: dict[str, int] = {}
    pools: dict[str, int] = {}
    for index, question in enumerate(raw_questions):
        if not isinstance(question, dict):
            continue
        key = question.get("key")
        if isinstance(key, str) and key:
            if key in seen:
                errors.add(f"questions.{index}.key", f"Key {key!r} is also used by question {seen[key]}.")
            seen.setdefault(key, index)
        pool = question.get("pool", "default")
        if isinstance(pool, str):
            pools[pool] = pools.get(pool, 0) + 1
    listed = set()
    for index, entry in enumerate(draw or ()):
        if not isinstance(entry, dict) or "pool" not in entry or "count" not in entry:
            continue  # its own problem is reported already
        pool, count = entry["pool"], entry["count"]
        if pool in listed:
            errors.add(f"draw.{index}.pool", f"Pool {pool!r} is listed twice.")
        listed.add(pool)
        if pool not in pools:
            errors.add(f"draw.{index}.pool", f"No question is in pool {pool!r}; pools: "
                                             f"{', '.join(sorted(pools))}.")
        elif count > pools[pool]:
            errors.add(f"draw.{index}.count", f"Pool {pool!r} has only {pools[pool]} questions.")


def reply_of_key(key: dict) -> dict:
    """The worker's reply that matches an answer key exactly (the key without its parameters)."""
    return {name: value for name, value in key.items() if name not in KEY_ONLY_FIELDS}


def _check_question(question: dict, where: str, errors: _Errors, bank: BankContext | None) -> None:
    kind, options, key = question["kind"], question["options"], question["answer"]
    ids = [option["id"] for option in options]
    if kind in CHOICE_KINDS:
        if len(options) < 2:
            errors.add(f"{where}.options", f"A {kind} question needs at least 2 options.")
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            errors.add(f"{where}.options", f"Option ids repeat: {', '.join(duplicates)}.")
        _check_option_references(question, ids, where, errors)
    elif options:
        errors.add(f"{where}.options", f"A {kind} question takes no options.")
    try:
        cleaned = compare.validate_key(kind, key, options if kind in CHOICE_KINDS else None)
    except ma.ValidationError as error:
        errors.merge(f"{where}.answer", error.messages)
        return
    question["answer"] = cleaned
    try:
        reply = compare.validate_answer(kind, reply_of_key(cleaned))
    except ma.ValidationError:
        reply = None
    if reply is None or not compare.grade(kind, cleaned, reply).correct:
        errors.add(f"{where}.answer", "The key does not grade itself as correct.")
    if kind == "multi_choice" and len(set(cleaned["choices"])) == len(ids) >= 2:
        errors.add(f"{where}.answer.choices", "Every option is marked correct: not a real question.")
    if kind == "multi_choice" and len(set(cleaned["choices"])) != len(cleaned["choices"]):
        errors.add(f"{where}.answer.choices", "An option is listed twice.")
    media_kinds = {item["kind"] for item in question["media"]}
    if kind == "bbox":
        if "image" not in media_kinds:
            errors.add(f"{where}.media", "A bbox question needs an image.")
        loose = {"boxes": [{**box, "x": max(0, box["x"] - 1), "y": max(0, box["y"] - 1),
                            "w": box["w"] + 2, "h": box["h"] + 2} for box in cleaned["boxes"]]}
        if not compare.grade(kind, cleaned, loose).correct:
            errors.add(f"{where}.answer.iou", "A box drawn 1 px looser on each side fails: the IoU "
                                              "threshold is too strict for people on phones.")
    if kind == "transcription" and not cleaned["text"].strip():
        errors.add(f"{where}.answer.text", "An empty transcript would accept an empty reply.")
    if kind == "transcription" and not media_kinds & {"image", "audio", "video"}:
        errors.add(f"{where}.media", "A transcription question needs an image, audio or video.")
    if kind == "rating":
        for dimension in cleaned["scores"]:
            for locale, text in question["prompt"].items():
                if dimension not in text:
                    errors.add(f"{where}.answer.scores.{dimension}",
                               f"The dimension is not named in the {locale} prompt.")
    if bank is None:
        for index, item in enumerate(question["media"]):
            if not item["url"].startswith(("https://", "http://", "/api/v1/media/")):
                errors.add(f"{where}.media.{index}.url", "Must be an http(s) URL or a /api/v1/media/… path.")
    image_sizes = _check_media(question, where, errors, bank) if bank else []
    if kind == "bbox" and image_sizes:
        width, height = image_sizes[0]
        for index, box in enumerate(cleaned["boxes"]):
            if box["x"] + box["w"] > width or box["y"] + box["h"] > height:
                errors.add(f"{where}.answer.boxes.{index}",
                           f"The box goes outside the {width}x{height} image.")
    if bank is not None and kind == "pairwise":
        for locale, (mark_a, mark_b) in PAIRWISE_MARKS.items():
            text = question["prompt"].get(locale, "")
            if mark_a not in text or mark_b not in text:
                errors.add(f"{where}.prompt.{locale}", f"Show both responses, marked {mark_a} and {mark_b}.")


_PARENTHESES = re.compile(r"\(([^()]{1,20})\)")


def _check_option_references(question: dict, ids: list[str], where: str, errors: _Errors) -> None:
    """Options are shown in a per-attempt order, so an explanation saying "(b)" points at the wrong one."""
    short_ids = {i for i in ids if len(i) <= 2}
    for locale, text in (question.get("explanation") or {}).items():
        for group in _PARENTHESES.findall(text):
            named = short_ids & set(re.split(r"[\s,~\u2013\u2014-]+", group))
            if named:
                errors.add(f"{where}.explanation.{locale}",
                           f"Refers to option {', '.join(sorted(named))} by id; options are shuffled for "
                           "each attempt, so name the option by its text.")
                break


def _check_media(question: dict, where: str, errors: _Errors, bank: BankContext) -> list[tuple[int, int]]:
    """A bank's media: media/<bank-key>-<question-key>[-…].<ext>, present, small, of its kind."""
    sizes = []
    for index, item in enumerate(question["media"]):
        at, url, kind = f"{where}.media.{index}.url", item["url"], item["kind"]
        name = url.removeprefix("media/")
        if not url.startswith("media/") or "/" in name or name in ("", ".", ".."):
            errors.add(at, "Must be media/<file name>, relative to the bank file.")
            continue
        stem, _, ext = name.rpartition(".")
        prefix = f"{bank.key}-{question.get('key')}"
        if stem != prefix and not stem.startswith(prefix + "-"):
            errors.add(at, f"Name the file {prefix}.<ext> (or {prefix}-<suffix>.<ext>).")
        if ext.lower() not in MEDIA_EXTENSIONS[kind]:
            errors.add(at, f"A .{ext} file is not a {kind} ({', '.join(sorted(MEDIA_EXTENSIONS[kind]))}).")
            continue
        path = bank.folder / "media" / name
        if not path.is_file():
            errors.add(at, f"Missing file {url}.")
            continue
        bank.media_used.add(name)
        size = path.stat().st_size
        if size > MEDIA_LIMITS[kind]:
            errors.add(at, f"{url} is {size} bytes, over the {MEDIA_LIMITS[kind]} bytes allowed for {kind}.")
        if kind == "image":
            # Imported here: only bank imports read images; the web app starts without Pillow.
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as image:
                    sizes.append(image.size)
            except (UnidentifiedImageError, OSError):
                errors.add(at, f"{url} is not a readable image.")
    return sizes


def _check_text(errors: _Errors, where: str, value, *, strict: bool, required: bool = True) -> None:
    """Bank texts come in both languages; strict: the Korean has Hangul and the English Latin letters."""
    if value is None:
        if required:
            errors.add(where, "Required: {ko: …, en: …}.")
        return
    if not isinstance(value, dict) or set(value) != {"ko", "en"}:
        errors.add(where, "Write it in both languages: {ko: …, en: …}.")
        return
    for locale in ("ko", "en"):
        if not isinstance(value[locale], str) or not value[locale].strip():
            errors.add(f"{where}.{locale}", "Empty text.")
            return
    if strict and not HANGUL.search(value["ko"]):
        errors.add(f"{where}.ko", "The Korean text has no Hangul.")
    if strict and not LATIN.search(value["en"]):
        errors.add(f"{where}.en", "The English text has no Latin letters.")


def _check_bank_rules(raw: dict, bank: BankContext, errors: _Errors) -> None:
    if raw.get("key") != bank.key:
        errors.add("key", f"Must equal the file name {bank.key!r}.")
    if "version" not in raw:
        errors.add("version", "Required (bump it when the content changes).")
    _check_text(errors, "title", raw.get("title"), strict=True)
    _check_text(errors, "description", raw.get("description"), strict=True)
    questions = raw.get("questions")
    if not isinstance(questions, list):
        return
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            continue
        where = f"questions.{index}"
        if "key" not in question:
            errors.add(f"{where}.key", "Required in bank files (re-import updates questions by key).")
        _check_text(errors, f"{where}.prompt", question.get("prompt"), strict=True)
        _check_text(errors, f"{where}.explanation", question.get("explanation"), strict=True)
        for number, option in enumerate(question.get("options") or ()):
            if isinstance(option, dict):
                _check_text(errors, f"{where}.options.{number}.text", option.get("text"), strict=False)
