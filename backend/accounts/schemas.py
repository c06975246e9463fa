from marshmallow import Schema, fields, validate

from backend.accounts.models import ROLES
from backend.i18n import LOCALES, CleanString
from backend.schemas import Timestamp


class NormalizedEmail(fields.Email):
    """Emails compare case- and whitespace-insensitively: "  A@B.com " is a@b.com."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


class RegisterSchema(Schema):
    email = NormalizedEmail(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=8, max=128),
                             load_only=True)
    display_name = CleanString(required=True, validate=validate.Length(min=1, max=100))
    locale = fields.String(load_default="ko", validate=validate.OneOf(LOCALES))
    timezone = fields.String(load_default="Asia/Seoul", validate=validate.Length(min=1, max=64))


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class MeSkillSchema(Schema):
    skill = fields.String(required=True)
    level = fields.Integer(required=True)
    certified_until = Timestamp(allow_none=True, required=True)


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    display_name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    locale = fields.String(required=True)
    timezone = fields.String(required=True)


class MeSchema(UserSchema):
    skills = fields.List(fields.Nested(MeSkillSchema), required=True)


class MeUpdateSchema(Schema):
    display_name = CleanString(validate=validate.Length(min=1, max=100))
    locale = fields.String(validate=validate.OneOf(LOCALES))
    timezone = fields.String(validate=validate.Length(min=1, max=64))


class TokensSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class SessionSchema(TokensSchema):
    user = fields.Nested(UserSchema, required=True)


class DeleteAccountSchema(Schema):
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))
