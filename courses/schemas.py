"""Courses in and out. CourseIn is the authoring shape of ../shared/docs/API.md "Payloads" (Course);
course packs are read into the same shape, so one schema checks both (PackCourseIn adds `version`).
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from backend.i18n import LocalizedText
from backend.quality import compare
from backend.schemas import PageArgs, Timestamp, page_of

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SLUG = validate.Regexp(SLUG_PATTERN, error="Use lowercase letters, digits and single hyphens.")
QUESTION_KEY = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$",
                               error="Use letters, digits, '-', '_' or '.', at most 80 characters.")
QUESTION_KINDS = ("single_choice", "multi_choice", "true_false", "numeric", "short_text", "bbox",
                  "transcription", "rating", "pairwise")
BLOCK_FIELDS = {"markdown": {"text"}, "image": {"url", "alt"}, "video": {"url", "duration_s"},
                "example": {"question"}}
MEDIA_KINDS = ("image", "audio", "video")
RATING_SCALE = (1, 5)
# A media reference: a file of the course's pack (media/…) or an absolute http(s) URL.
MEDIA_URL = validate.Regexp(r"^(https?://[^\s]+|media/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)$",
                            error="Must be a pack file (media/…) or an http(s) URL.")


class StrictBoolean(fields.Boolean):
    """Only JSON true/false (fields.Boolean would also take "yes", 1 and "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _integer(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, **kwargs)


def _media_url(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(max=500), MEDIA_URL], **kwargs)


# ---------------------------------------------------------------------------------- authoring in

class ExampleOptionIn(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    text = LocalizedText(required=True, max_length=2000)


class ExampleMediaIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(MEDIA_KINDS))
    url = _media_url(required=True)


class ExampleQuestionIn(Schema):
    """A practice example (the shared Question format); `answer` is the key, checked by compare."""

    key = fields.String(validate=QUESTION_KEY, metadata={"description": "unique in the course; "
                                                         "generated from the lesson key when absent"})
    kind = fields.String(required=True, validate=validate.OneOf(QUESTION_KINDS))
    prompt = LocalizedText(required=True, max_length=5000)
    media = fields.List(fields.Nested(ExampleMediaIn), load_default=list, validate=validate.Length(max=10))
    options = fields.List(fields.Nested(ExampleOptionIn), load_default=None,
                          validate=validate.Length(min=1, max=50))
    answer = fields.Dict(required=True, metadata={"description": "the answer key (API.md Question kinds)"})
    points = _integer(load_default=1, validate=validate.Range(min=1, max=100))
    explanation = LocalizedText(load_default=None, max_length=5000)
    pool = fields.String(validate=validate.Length(max=40), metadata={"description": "ignored in courses"})

    @post_load
    def _check_answer_key(self, data, **_):
        option_ids = [option["id"] for option in data["options"] or ()]
        if len(set(option_ids)) != len(option_ids):
            raise ValidationError({"options": ["Option ids must be unique."]})
        try:
            data["answer"] = compare.validate_key(data["kind"], data["answer"], data["options"])
        except ValidationError as error:
            messages = error.messages
            raise ValidationError(messages if "options" in messages else {"answer": messages}) from None
        problems = _KIND_CHECKS.get(data["kind"], lambda _d, _ids: {})(data, option_ids)
        if problems:
            raise ValidationError(problems)
        return data


def _check_choices(data, option_ids) -> dict:
    if len(option_ids) < 2:
        return {"options": ["A choice question needs at least two options."]}
    choices = data["answer"].get("choices")
    if choices is not None and len(set(choices)) != len(choices):
        return {"answer": {"choices": ["List each option once."]}}
    return {}


def _check_rating(data, option_ids) -> dict:
    scores, low, high = data["answer"]["scores"], *RATING_SCALE
    wrong = {dim: [f"Must be between {low} and {high}."] for dim, value in scores.items()
             if not low <= value <= high}
    if wrong:
        return {"answer": {"scores": wrong}}
    tolerance = data["answer"].get("tolerance")
    if tolerance is not None and tolerance != int(tolerance):
        return {"answer": {"tolerance": ["Must be a whole number."]}}
    if option_ids and set(scores) != set(option_ids):
        return {"answer": {"scores": [f"Score every dimension listed in options ({', '.join(option_ids)})."]}}
    return {}


def _check_pairwise(data, option_ids) -> dict:
    if option_ids and option_ids != ["a", "b"]:
        return {"options": ["A pairwise question has exactly the options a and b."]}
    return {}


def _check_transcription(data, option_ids) -> dict:
    if not data["answer"]["text"].strip():
        return {"answer": {"text": ["Must not be blank."]}}
    if data["answer"].get("max_cer", 0) >= 1:
        return {"answer": {"max_cer": ["Must be below 1."]}}
    return {}


def _check_bbox(data, option_ids) -> dict:
    if not any(item["kind"] == "image" for item in data["media"]):
        return {"media": ["A bbox question needs an image."]}
    if not data["answer"]["boxes"]:
        return {"answer": {"boxes": ["Give at least one box."]}}
    return {}


_KIND_CHECKS = {"single_choice": _check_choices, "multi_choice": _check_choices, "rating": _check_rating,
                "pairwise": _check_pairwise, "transcription": _check_transcription, "bbox": _check_bbox}


class CourseBlockIn(Schema):
    """{kind: markdown, text} · {kind: image, url, alt} · {kind: video, url, duration_s} · {kind: example,
    question}."""

    kind = fields.String(required=True, validate=validate.OneOf(tuple(BLOCK_FIELDS)))
    text = LocalizedText(max_length=20000)
    url = _media_url()
    alt = LocalizedText(max_length=500)
    duration_s = _integer(validate=validate.Range(min=1, max=36000))
    question = fields.Nested(ExampleQuestionIn)

    @validates_schema
    def _fields_of_kind(self, data, **_):
        wanted = BLOCK_FIELDS.get(data.get("kind"))
        if wanted is None:
            return
        given = set(data) - {"kind"}
        errors = {name: [f"Required for a {data['kind']} block."] for name in sorted(wanted - given)}
        errors.update({name: [f"Not allowed in a {data['kind']} block."] for name in sorted(given - wanted)})
        if errors:
            raise ValidationError(errors)


class CourseLessonIn(Schema):
    key = fields.String(validate=[validate.Length(max=80), SLUG],
                        metadata={"description": "stable id in the course; keeps the lesson's id and "
                                                 "everyone's progress across updates"})
    title = LocalizedText(required=True, max_length=200)
    blocks = fields.List(fields.Nested(CourseBlockIn), required=True,
                         validate=validate.Length(min=1, max=200))


class CourseModuleIn(Schema):
    title = LocalizedText(required=True, max_length=200)
    lessons = fields.List(fields.Nested(CourseLessonIn), required=True,
                          validate=validate.Length(min=1, max=100))


class CourseRequiresIn(Schema):
    courses = fields.List(fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20))
    skill_level = _integer(load_default=0, validate=validate.Range(min=0, max=100))


class CourseIn(Schema):
    slug = fields.String(required=True, validate=[validate.Length(min=1, max=80), SLUG])
    title = LocalizedText(required=True, max_length=200)
    description = LocalizedText(load_default=None, max_length=5000)
    skill = fields.String(required=True, validate=validate.Length(min=1, max=40))
    level = _integer(required=True, validate=validate.Range(min=0, max=100),
                     metadata={"description": "the level this course prepares for"})
    sequential = StrictBoolean(load_default=False)
    requires = fields.Nested(CourseRequiresIn, load_default=None)
    published = StrictBoolean(metadata={"description": "default false on create; unchanged on update"})
    modules = fields.List(fields.Nested(CourseModuleIn), required=True,
                          validate=validate.Length(min=1, max=50))

    @post_load
    def _stable_keys(self, data, **_):
        """Fill missing lesson and example keys, and refuse keys used twice in the course."""
        data["requires"] = data["requires"] or {"courses": [], "skill_level": 0}
        errors = _fill_keys(data["modules"])
        if errors:
            raise ValidationError({"modules": errors})
        return data


def _fill_keys(modules: list[dict]) -> dict:
    lesson_keys: set[str] = set()
    question_keys: set[str] = set()
    errors: dict = {}
    number = 0
    for m, module in enumerate(modules):
        for n, lesson in enumerate(module["lessons"]):
            number += 1
            lesson.setdefault("key", f"lesson-{number}")
            if lesson["key"] in lesson_keys:
                errors.setdefault(m, {}).setdefault("lessons", {})[n] = {
                    "key": [f"Lesson key {lesson['key']!r} is used twice in this course."]}
            lesson_keys.add(lesson["key"])
            _fill_question_keys(lesson, question_keys, errors.setdefault(m, {}).setdefault(
                "lessons", {}).setdefault(n, {}))
    return _prune(errors)


def _fill_question_keys(lesson: dict, seen: set[str], errors: dict) -> None:
    examples = [(b, block) for b, block in enumerate(lesson["blocks"]) if block["kind"] == "example"]
    for number, (b, block) in enumerate(examples, start=1):
        question = block["question"]
        question.setdefault("key", f"{lesson['key']}-example-{number}")
        if question["key"] in seen:
            errors.setdefault("blocks", {})[b] = {"question": {"key": [
                f"Question key {question['key']!r} is used twice in this course."]}}
        seen.add(question["key"])


def _prune(tree):
    if not isinstance(tree, dict):
        return tree
    pruned = {key: _prune(value) for key, value in tree.items()}
    return {key: value for key, value in pruned.items() if value != {}}


class CourseUpdateIn(CourseIn):
    slug = fields.String(validate=[validate.Length(min=1, max=80), SLUG],
                         metadata={"description": "optional; must equal the slug in the path"})


class PackCourseIn(CourseIn):
    """course.yaml of a pack, with its lessons read in (docs/contracts/FORMATS.md)."""

    class Meta:
        exclude = ("published",)

    version = _integer(required=True, validate=validate.Range(min=1))


class CourseListArgs(PageArgs):
    skill = fields.String(validate=validate.Length(min=1, max=40))


class ExampleAnswerIn(Schema):
    answer = fields.Dict(required=True,
                         metadata={"description": "the reply, shaped as in API.md Question kinds"})


# ---------------------------------------------------------------------------------- worker out

class CourseItemSchema(Schema):
    slug = fields.String(required=True)
    title = LocalizedText(required=True)
    skill = fields.String(required=True)
    level = fields.Integer(required=True)
    lesson_count = fields.Integer(required=True)
    completed_lessons = fields.Integer(required=True)
    progress = fields.Float(required=True, metadata={"description": "share of lessons completed, 0.0 – 1.0"})
    enrolled = fields.Boolean(required=True)
    completed = fields.Boolean(required=True)
    locked = fields.Boolean(required=True)
    locked_reason = LocalizedText(required=True, allow_none=True)


CoursePageSchema = page_of(CourseItemSchema)


class CourseLessonRefSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    title = LocalizedText(required=True)
    completed = fields.Boolean(required=True)


class CourseModuleSchema(Schema):
    title = LocalizedText(required=True)
    lessons = fields.List(fields.Nested(CourseLessonRefSchema), required=True)


class CourseDetailSchema(CourseItemSchema):
    description = LocalizedText(required=True, allow_none=True)
    sequential = fields.Boolean(required=True)
    requires = fields.Dict(required=True, metadata={"description": "{courses: [slug], skill_level}"})
    modules = fields.List(fields.Nested(CourseModuleSchema), required=True)


class CourseEnrollmentSchema(Schema):
    slug = fields.String(required=True)
    enrolled_at = Timestamp(required=True)
    completed_lessons = fields.Integer(required=True)
    total_lessons = fields.Integer(required=True)
    course_completed = fields.Boolean(required=True)


class LessonProgressSchema(Schema):
    lesson_id = fields.Integer(required=True)
    completed_lessons = fields.Integer(required=True)
    total_lessons = fields.Integer(required=True)
    course_completed = fields.Boolean(required=True)


class ExampleOptionSchema(Schema):
    id = fields.String(required=True)
    text = LocalizedText(required=True)


class ExampleMediaSchema(Schema):
    kind = fields.String(required=True)
    url = fields.String(required=True)


class ExampleSchema(Schema):
    """A practice question as a worker sees it: never its answer key or explanation."""

    key = fields.String(required=True)
    kind = fields.String(required=True)
    prompt = LocalizedText(required=True)
    media = fields.List(fields.Nested(ExampleMediaSchema), required=True)
    options = fields.List(fields.Nested(ExampleOptionSchema), required=True, allow_none=True)
    points = fields.Integer(required=True)


class LessonBlockSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(tuple(BLOCK_FIELDS)))
    text = LocalizedText(metadata={"description": "markdown"})
    url = fields.String(metadata={"description": "image, video"})
    alt = LocalizedText(metadata={"description": "image"})
    duration_s = fields.Integer(metadata={"description": "video"})
    question = fields.Nested(ExampleSchema, metadata={"description": "example"})


class CourseLessonSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    course = fields.String(required=True, metadata={"description": "the course's slug"})
    title = LocalizedText(required=True)
    completed = fields.Boolean(required=True)
    previous_lesson_id = fields.Integer(required=True, allow_none=True)
    next_lesson_id = fields.Integer(required=True, allow_none=True)
    blocks = fields.List(fields.Nested(LessonBlockSchema), required=True)


class ExampleResultSchema(Schema):
    correct = fields.Boolean(required=True)
    credit = fields.Float(required=True, metadata={"description": "0.0 – 1.0"})
    explanation = LocalizedText(required=True, allow_none=True)
    expected = fields.Dict(required=True, metadata={"description": "the answer key"})
    detail = fields.Dict(required=True, metadata={"description": "how it was compared (IoU matches, CER, …)"})


# ---------------------------------------------------------------------------------- manager out

class ManagerCourseItemSchema(Schema):
    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    title = fields.Dict(required=True)
    skill = fields.String(required=True)
    level = fields.Integer(required=True)
    published = fields.Boolean(required=True)
    version = fields.Integer(required=True)
    source = fields.String(required=True)
    lesson_count = fields.Integer(required=True)
    enrolled = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    updated_at = Timestamp(required=True)
    published_at = Timestamp(required=True, allow_none=True)


ManagerCoursePageSchema = page_of(ManagerCourseItemSchema)


class ManagerCourseLessonSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    title = fields.Dict(required=True)
    blocks = fields.List(fields.Dict(), required=True,
                         metadata={"description": "as authored, with answer keys"})


class ManagerCourseModuleSchema(Schema):
    title = fields.Dict(required=True)
    lessons = fields.List(fields.Nested(ManagerCourseLessonSchema), required=True)


class ManagerCourseSchema(ManagerCourseItemSchema):
    description = fields.Dict(required=True, allow_none=True)
    sequential = fields.Boolean(required=True)
    requires = fields.Dict(required=True)
    created_at = Timestamp(required=True)
    modules = fields.List(fields.Nested(ManagerCourseModuleSchema), required=True)
