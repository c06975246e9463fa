"""Korean-first texts: a text is a string or {"ko": …, "en": …}; responses pick the user's locale."""

from __future__ import annotations

import contextvars
import unicodedata

from marshmallow import ValidationError, fields

LOCALES = ("ko", "en")
DEFAULT_LOCALE = "ko"

_current_locale = contextvars.ContextVar("current_locale", default=DEFAULT_LOCALE)


def set_locale(locale: str | None) -> None:
    _current_locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def current_locale() -> str:
    return _current_locale.get()


def negotiate(accept_language: str | None) -> str:
    """The first supported language of an Accept-Language header, else Korean."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LOCALES:
            return tag
    return DEFAULT_LOCALE


def localize(text, locale: str | None = None):
    """Pick the locale's version of a text, falling back to the other language."""
    if text is None or isinstance(text, str):
        return text
    locale = locale or current_locale()
    if text.get(locale):
        return text[locale]
    return next((text[other] for other in LOCALES if text.get(other)), "")


def both(text) -> dict:
    """A text as {"ko": …, "en": …}, the missing side filled from the other."""
    if isinstance(text, str):
        return {"ko": text, "en": text}
    return {locale: localize(text, locale) for locale in LOCALES}


def clean_text(value: str) -> str:
    """NFC, no zero-width characters or bidi controls, trimmed: what we store for a person's text."""
    value = unicodedata.normalize("NFC", value)
    value = "".join(ch for ch in value if ch not in _INVISIBLE)
    return value.strip()


_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202b",
              "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


class LocalizedText(fields.Field):
    """Input: a string or {"ko", "en"} (at least one, each ≤ max_length). Output: the user's locale."""

    def __init__(self, *, max_length: int = 2000, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = {"ko": value, "en": value}
        if not isinstance(value, dict) or not value:
            raise ValidationError('Must be a string or an object {"ko": ..., "en": ...}.')
        unknown = set(value) - set(LOCALES)
        if unknown:
            raise ValidationError(f"Unknown language(s): {', '.join(sorted(unknown))}.")
        cleaned = {}
        for locale, text in value.items():
            if not isinstance(text, str):
                raise ValidationError(f"{locale}: must be a string.")
            text = clean_text(text)
            if len(text) > self.max_length:
                raise ValidationError(f"{locale}: longer than {self.max_length} characters.")
            if text:
                cleaned[locale] = text
        if not cleaned:
            raise ValidationError("Must not be empty.")
        return cleaned

    def _serialize(self, value, attr, obj, **kwargs):
        return localize(value)


class CleanString(fields.String):
    """A person's text: NFC, invisible characters dropped, trimmed."""

    def _deserialize(self, value, attr, data, **kwargs):
        return clean_text(super()._deserialize(value, attr, data, **kwargs))
