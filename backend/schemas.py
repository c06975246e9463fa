"""Schemas every domain uses: pages, money, localized text in and out."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from backend.errors import Invalid

MAX_PAGE = 100


class PageArgs(ma.Schema):
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))


def encode_cursor(value) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Cursors are opaque to clients; inside they are the last id seen (keyset pagination)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid.field("cursor", "Not a cursor this server issued.") from None


_page_schemas: dict[str, type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """{items: [item], next_cursor} for a given item schema (one class per item schema)."""
    name = f"{item_schema.__name__.removesuffix('Schema')}PageSchema"
    if name not in _page_schemas:
        _page_schemas[name] = type(name, (ma.Schema,), {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        })
    return _page_schemas[name]


class MoneySchema(ma.Schema):
    amount = fields.Integer(required=True, metadata={"description": "minor units (KRW: won)"})
    currency = fields.String(required=True, validate=validate.Length(equal=3))


class Timestamp(fields.DateTime):
    """UTC, ISO 8601 with a Z (the API's one time format)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
