from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.i18n import LocalizedText
from backend.notifications.models import PLATFORMS, TOKEN_MAX_LENGTH
from backend.notifications.templates import CATEGORIES
from backend.schemas import PageArgs, Timestamp

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class FcmToken(fields.String):
    """An FCM registration token: printable, no spaces, trimmed."""

    def _deserialize(self, value, attr, data, **kwargs):
        token = super()._deserialize(value, attr, data, **kwargs).strip()
        if not token or any(ch.isspace() for ch in token) or not token.isprintable() or "/" in token:
            raise ValidationError("Not an FCM registration token.")
        return token


class DeviceInSchema(Schema):
    token = FcmToken(required=True, validate=validate.Length(min=1, max=TOKEN_MAX_LENGTH))
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))


class DeviceSchema(Schema):
    token = fields.String(required=True)
    platform = fields.String(required=True)
    created_at = Timestamp(required=True)
    last_seen_at = Timestamp(required=True)


class DeviceListSchema(Schema):
    items = fields.List(fields.Nested(DeviceSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class NotificationSchema(Schema):
    id = fields.Integer(required=True)
    category = fields.String(required=True, metadata={"description": f"one of {', '.join(CATEGORIES)}, "
                                                                      "or security"})
    kind = fields.String(required=True, metadata={"description": "the template, e.g. certification.passed"})
    title = LocalizedText(required=True)
    body = LocalizedText(required=True)
    data = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                       metadata={"description": 'deep link, e.g. {"screen": "exam", "id": "12"}'})
    read = fields.Function(lambda note: note.read_at is not None, required=True)
    created_at = Timestamp(required=True)


class FeedArgs(PageArgs):
    unread = fields.Boolean(load_default=False, metadata={"description": "only unread notifications"})


class FeedSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    unread_count = fields.Integer(required=True)


class MarkedSchema(Schema):
    updated = fields.Integer(required=True)


class QuietHoursSchema(Schema):
    start = fields.String(required=True, validate=validate.Regexp(HHMM, error='Must be "HH:MM".'),
                          metadata={"example": "22:00"})
    end = fields.String(required=True, validate=validate.Regexp(HHMM, error='Must be "HH:MM".'),
                        metadata={"example": "07:00"})

    @validates_schema
    def _differ(self, data, **_):
        if data.get("start") == data.get("end"):
            raise ValidationError("Must differ from the start.", "end")


class PreferencesSchema(Schema):
    categories = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True, required=True,
                                metadata={"description": "local times in `timezone`; may span midnight"})
    timezone = fields.String(required=True, metadata={"description": "the worker's timezone (PATCH /me)"})


class PreferencesUpdateSchema(Schema):
    categories = fields.Dict(keys=fields.String(validate=validate.OneOf(CATEGORIES)), values=fields.Boolean())
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True)
