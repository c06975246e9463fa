from marshmallow import Schema, fields, validate

from backend.schemas import PageArgs, Timestamp


class AuditQuerySchema(PageArgs):
    action = fields.String(validate=validate.Length(max=60))
    actor_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))  # an id column's range
    target_type = fields.String(validate=validate.Length(max=40))
    target_id = fields.String(validate=validate.Length(max=64))
    format = fields.String(validate=validate.OneOf(["json", "csv"]))


class AuditEntrySchema(Schema):
    id = fields.Integer(required=True)
    actor_id = fields.Integer(allow_none=True, required=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True)
    target_id = fields.String(required=True)
    reason = fields.String(allow_none=True, required=True)
    before = fields.Dict(allow_none=True, required=True)
    after = fields.Dict(allow_none=True, required=True)
    created_at = Timestamp(required=True)
