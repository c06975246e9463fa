"""Answer comparison shared by exams, course practice examples and micro-task gold scoring.

One registry of question/task kinds. Each kind has an answer schema (the worker's reply), a key
schema (the answer key: same shape plus optional parameters) and a `grade(key, answer)` method.
`grade` trusts that its inputs passed `validate_answer` / `validate_key`, but an empty or missing
answer is always graded as wrong instead of raising. A Grade's `detail` never contains the key's
content, so it can be shown to a worker even for gold tasks.
"""

from __future__ import annotations

import abc
import math
import unicodedata
from dataclasses import dataclass, field

from marshmallow import Schema, ValidationError, fields, validate
from rapidfuzz.distance import Levenshtein

__all__ = ["KINDS", "Grade", "cer", "grade", "iou", "validate_answer", "validate_key"]

MAX_STR = 10_000
MAX_ITEMS = 200
MAX_ABS = 1e9
DEFAULT_IOU = 0.5
DEFAULT_MAX_CER = 0.1
DEFAULT_RATING_TOLERANCE = 1
# Answers and keys are decimal numbers typed by people; 10.4 - 10 must count as within 0.4.
EPS = 1e-9


@dataclass(frozen=True)
class Grade:
    credit: float  # 0.0 .. 1.0, share of the points earned
    correct: bool  # the answer counts as right (instant feedback, gold scoring)
    detail: dict = field(default_factory=dict)  # small JSON-able facts, never the key itself


class _Bounded:
    """Every stored number stays within ±1e9."""

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if abs(number) > MAX_ABS:
            raise ValidationError(f"Must be between {-MAX_ABS:,.0f} and {MAX_ABS:,.0f}.")
        return number


class _Number(_Bounded, fields.Float):
    """A JSON number only: no numeric strings; booleans, NaN and ±Infinity are refused too."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (int, float)):  # fields.Float would parse "3.5"
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class _Integer(_Bounded, fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)  # 3.0 and "3" are not integers here


class _Bool(fields.Boolean):
    """Only JSON true/false: fields.Boolean would also take 1, "yes" and "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _no_nul(value: str) -> None:
    # PostgreSQL text and jsonb cannot store U+0000; refuse it here, not on insert.
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


def _not_blank(value: str) -> None:
    if not _normalize_short_text(value):  # a blank key would accept an empty reply
        raise ValidationError("Must not be blank.")


def _string(min_len=0, extra=(), **kwargs) -> fields.String:
    checks = [validate.Length(min=min_len or None, max=MAX_STR), _no_nul, *extra]
    return fields.String(validate=checks, **kwargs)


def _list(inner, min_len=0, **kwargs) -> fields.List:
    size = validate.Length(min=min_len or None, max=MAX_ITEMS)  # None: plainer message
    return fields.List(inner, validate=size, **kwargs)


def _scores(min_len=0) -> fields.Dict:
    size = validate.Length(min=min_len or None, max=MAX_ITEMS)
    return fields.Dict(keys=_string(1), values=_Integer(), required=True, validate=size)


def _positive() -> _Number:
    return _Number(required=True, validate=validate.Range(min=0, min_inclusive=False))


# Unknown fields raise (marshmallow's default), so a misspelt field is never silently dropped.
_Box = Schema.from_dict(
    {
        "x": _Number(required=True, validate=validate.Range(min=0)),
        "y": _Number(required=True, validate=validate.Range(min=0)),
        "w": _positive(),  # zero-area boxes are a mistake, not an answer
        "h": _positive(),
        "label": _string(1, required=True),
    },
    name="Box",
)


# Zero-width characters and every bidi mark, embedding, override and isolate (as backend.i18n drops
# them from a person's text): a phone may add them around an answer that is otherwise right.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                    "\u2066\u2067\u2068\u2069"))


def _collapse(text: str) -> str:
    # NFC first: the same Hangul syllable may arrive precomposed or as separate jamo (NFD).
    return " ".join(unicodedata.normalize("NFC", text.translate(_INVISIBLE)).split())


def _normalize_short_text(text: str) -> str:
    return _collapse(text.casefold())


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance / reference length, case kept, whitespace collapsed."""
    ref, hyp = _collapse(reference), _collapse(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def iou(a: dict, b: dict) -> float:
    """Intersection over union of two {x, y, w, h} boxes; 0.0 when the union has no area."""
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def _jaccard(answered: set, expected: set) -> Grade:
    union = answered | expected
    matched = len(answered & expected)
    credit = matched / len(union) if union else 1.0
    facts = {"matched": matched, "expected": len(expected), "answered": len(answered)}
    return Grade(credit, answered == expected, facts)


def _right(ok: bool, detail: dict | None = None) -> Grade:
    return Grade(1.0 if ok else 0.0, ok, detail or {})


def _within(difference: float, tolerance: float) -> bool:
    return difference <= tolerance or math.isclose(difference, tolerance, rel_tol=EPS, abs_tol=EPS)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Kind(abc.ABC):
    """One question/task kind: its schemas and how a reply is graded against a key.

    `answer` holds the reply's fields; the key has the same fields, overridden or extended by
    `key`. `option_field` names the key field holding option ids that validate_key checks.
    """

    def __init__(self, name, answer, key=None, *, option_field=None, options_required=False):
        self.name = name
        self.answer_schema = Schema.from_dict(answer, name=f"{name}_answer")()
        self.key_schema = Schema.from_dict({**answer, **(key or {})}, name=f"{name}_key")()
        self.option_field = option_field
        self.options_required = options_required  # a choice key is meaningless without them

    @abc.abstractmethod
    def grade(self, key: dict, answer: dict) -> Grade:
        """The credit of `answer` against `key` (both already validated)."""


class Exact(Kind):
    def __init__(self, name, field_name, answer_field, **options):
        super().__init__(name, {field_name: answer_field}, **options)
        self.field = field_name

    def grade(self, key, answer):
        given, wanted = answer.get(self.field), key[self.field]
        return _right(type(given) is type(wanted) and given == wanted)  # 1 must not equal True


class SetMatch(Kind):
    """Partial credit by Jaccard similarity; right only when the sets are equal."""

    def __init__(self, name, field_name, key_min_len=0, **options):
        super().__init__(
            name,
            {field_name: _list(_string(1), required=True)},
            {field_name: _list(_string(1), key_min_len, required=True)},
            option_field=field_name,
            **options,
        )
        self.field = field_name

    def grade(self, key, answer):
        return _jaccard(set(answer.get(self.field) or ()), set(key[self.field]))


class Numeric(Kind):
    def grade(self, key, answer):
        value, tolerance = answer.get("value"), key.get("tolerance", 0)
        return _right(_is_number(value) and _within(abs(value - key["value"]), tolerance))


class ShortText(Kind):
    def grade(self, key, answer):
        given = _normalize_short_text(answer.get("text") or "")
        accepted = [key["text"], *key.get("alternatives", ())]
        return _right(bool(given) and given in {_normalize_short_text(t) for t in accepted})


class BBox(Kind):
    def grade(self, key, answer):
        expected, answered = key["boxes"], answer.get("boxes") or []
        threshold = key.get("iou", DEFAULT_IOU)
        # Greedy one-to-one matching: the best-overlapping same-label pairs first.
        pairs = sorted(
            (-overlap, i, j)
            for i, e in enumerate(expected)
            for j, a in enumerate(answered)
            if e["label"] == a["label"] and (overlap := iou(e, a)) >= threshold - EPS
        )
        used_e, used_a = set(), set()
        for _, i, j in pairs:
            if i not in used_e and j not in used_a:
                used_e.add(i)
                used_a.add(j)
        matched, most = len(used_e), max(len(expected), len(answered))
        facts = {"matched": matched, "expected": len(expected), "answered": len(answered)}
        # Dividing by the larger count makes extra boxes cost credit, like missing ones.
        credit = matched / most if most else 1.0
        return Grade(credit, matched == len(expected) == len(answered), facts)


class Transcription(Kind):
    def grade(self, key, answer):
        rate = cer(key["text"], answer.get("text") or "")
        ok = rate <= key.get("max_cer", DEFAULT_MAX_CER) + EPS
        return Grade(1.0 if ok else max(0.0, 1.0 - rate), ok, {"cer": round(rate, 4)})


class Rating(Kind):
    def grade(self, key, answer):
        wanted, given = key["scores"], answer.get("scores") or {}
        tolerance = key.get("tolerance", DEFAULT_RATING_TOLERANCE)
        matched = sum(  # dimensions the key does not name are ignored
            1
            for dim, score in wanted.items()
            if _is_number(given.get(dim)) and _within(abs(given[dim] - score), tolerance)
        )
        credit = matched / len(wanted) if wanted else 1.0
        return Grade(credit, matched == len(wanted), {"matched": matched, "expected": len(wanted)})


_TEXT = {"text": _string(required=True)}
_REGISTRY: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Exact("single_choice", "choice", _string(1, required=True), option_field="choice",
              options_required=True),
        SetMatch("multi_choice", "choices", key_min_len=1, options_required=True),
        Exact("true_false", "value", _Bool(required=True)),
        Numeric("numeric", {"value": _Number(required=True)},
                {"tolerance": _Number(validate=validate.Range(min=0))}),
        ShortText("short_text", _TEXT, {
            "text": _string(extra=[_not_blank], required=True),
            "alternatives": _list(_string(extra=[_not_blank])),
        }),
        # An empty box list is a valid reply ("nothing to mark").
        BBox("bbox", {"boxes": _list(fields.Nested(_Box), required=True)},
             {"iou": _Number(validate=validate.Range(min=0, max=1, min_inclusive=False))}),
        Transcription("transcription", _TEXT,
                      {"max_cer": _Number(validate=validate.Range(min=0, max=1))}),
        Rating("rating", {"scores": _scores()},
               {"scores": _scores(1), "tolerance": _Number(validate=validate.Range(min=0))}),
        Exact("pairwise", "preferred", _string(required=True, extra=[validate.OneOf(("a", "b"))])),
        # Micro-task types: gold labels are checked against the project's labels when given.
        Exact("classification", "label", _string(1, required=True), option_field="label"),
        SetMatch("multi_label", "labels"),  # an empty gold set means "no label applies"
    )
}
KINDS: tuple[str, ...] = tuple(_REGISTRY)


def _kind(name: str) -> Kind:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(KINDS)
        raise ValueError(f"unknown question kind {name!r}; known kinds: {known}") from None


def validate_answer(kind: str, answer) -> dict:
    """Return the cleaned worker answer or raise ValidationError naming the bad field."""
    return _kind(kind).answer_schema.load(answer)


def validate_key(kind: str, key, options: list[dict] | None = None) -> dict:
    """Authoring-time check of an answer key; option ids it uses must exist in `options`.

    For classification/multi_label pass the project's labels as [{"id": label}, …] to check them.
    """
    spec = _kind(kind)
    cleaned = spec.key_schema.load(key)
    name = spec.option_field
    if name is None or (options is None and not spec.options_required):
        return cleaned
    if options is None:
        raise ValidationError({"options": [f"Required for {kind} questions."]})
    known = {opt.get("id") for opt in options if isinstance(opt, dict)}
    value = cleaned[name]
    if isinstance(value, list):
        errors = {i: [f"Unknown option id {v!r}."] for i, v in enumerate(value) if v not in known}
    else:
        errors = [f"Unknown option id {value!r}."] if value not in known else {}
    if errors:
        raise ValidationError({name: errors})
    return cleaned


def grade(kind: str, key: dict, answer: dict | None, options: list[dict] | None = None) -> Grade:
    """Compare a validated answer with a validated key.

    `options` is accepted to match the signature in docs/contracts/FORMATS.md; grading does not
    need it because validate_key already checked the key's option ids.
    """
    return _kind(kind).grade(key, answer or {})
