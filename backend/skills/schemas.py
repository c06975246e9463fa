from marshmallow import Schema, fields

from backend.i18n import LocalizedText
from backend.schemas import Timestamp


class SkillSchema(Schema):
    code = fields.String(required=True)
    name = LocalizedText(required=True)
    max_level = fields.Integer(required=True)


class LevelProgressSchema(Schema):
    gold_answers = fields.Integer(required=True, metadata={"description": "gold answers at the current level"})
    needed = fields.Integer(required=True, metadata={"description": "gold answers the next level needs"})
    scored = fields.Integer(required=True, metadata={"description": "gold answers + final human reviews"})
    accuracy = fields.Float(allow_none=True, required=True)
    wilson_low = fields.Float(allow_none=True, required=True,
                              metadata={"description": "95% lower bound of the accuracy"})
    threshold = fields.Float(allow_none=True, required=True, metadata={"description": "what wilson_low must reach"})
    exam = fields.String(allow_none=True, required=True, metadata={"description": "the exam key, when the "
                                                                                   "next level needs one"})


class NextLevelSchema(Schema):
    level = fields.Integer(required=True)
    requirements = LocalizedText(required=True)
    progress = fields.Nested(LevelProgressSchema, required=True)


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
