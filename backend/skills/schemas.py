from marshmallow import Schema, fields

from backend.i18n import LocalizedText
from backend.schemas import Timestamp


class SkillSchema(Schema):
    code = fields.String(required=True)
    name = LocalizedText(required=True)
    max_level = fields.Integer(required=True)


class NextLevelSchema(Schema):
    level = fields.Integer(required=True)
    requirements = fields.String(required=True)
    progress = fields.Dict(required=True)


class WorkerSkillSchema(Schema):
    skill = fields.String(required=True)
    name = LocalizedText(required=True)
    level = fields.Integer(required=True)
    max_level = fields.Integer(required=True)
    certified_until = Timestamp(allow_none=True, required=True)
    next_level = fields.Nested(NextLevelSchema, allow_none=True, required=True)


class SkillListSchema(Schema):
    items = fields.List(fields.Nested(SkillSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class WorkerSkillListSchema(Schema):
    items = fields.List(fields.Nested(WorkerSkillSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
