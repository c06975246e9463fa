from marshmallow import Schema, fields, validate

from backend.microtasks.collection.media import KINDS
from backend.microtasks.collection.models import UPLOAD_STATUSES
from backend.schemas import Timestamp


class ConsentTextSchema(Schema):
    version = fields.String(required=True)
    text = fields.String(required=True, metadata={"description": "in the worker's locale"})


class RequirementsSchema(Schema):
    assignment_id = fields.Integer(required=True)
    media = fields.String(required=True, validate=validate.OneOf(KINDS))
    formats = fields.List(fields.String(), required=True)
    content_types = fields.List(fields.String(), required=True)
    min_bytes = fields.Integer(required=True)
    max_bytes = fields.Integer(required=True)
    min_width = fields.Integer(allow_none=True)
    min_height = fields.Integer(allow_none=True)
    min_duration_s = fields.Float(allow_none=True)
    max_duration_s = fields.Float(allow_none=True)
    min_files = fields.Integer(required=True)
    max_files = fields.Integer(required=True)
    prompt = fields.String(allow_none=True, required=True)
    consent = fields.Nested(ConsentTextSchema, required=True)
    chunk_max_bytes = fields.Integer(required=True, metadata={"description": "largest PATCH body"})
    upload_ttl_s = fields.Integer(required=True,
                                  metadata={"description": "an idle or unsubmitted upload is deleted after this"})


class UploadCreateSchema(Schema):
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                          metadata={"description": "the file's size in bytes (tus Upload-Length)"})
    content_type = fields.String(load_default=None, validate=validate.Length(max=100),
                                 metadata={"description": "what the phone thinks it is; the bytes decide"})
    sha256 = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"),
                           metadata={"description": "of the whole file, checked when it is complete"})


class UploadSchema(Schema):
    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(UPLOAD_STATUSES))
    size = fields.Integer(required=True)
    offset = fields.Integer(required=True, attribute="received",
                            metadata={"description": "bytes received so far (tus Upload-Offset)"})
    url = fields.Function(lambda upload: f"/api/v1/uploads/{upload.id}", required=True)
    expires_at = Timestamp(allow_none=True, required=True)
    kind = fields.String(allow_none=True)
    content_type = fields.String(allow_none=True)
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration_s = fields.Float(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), allow_none=True,
                         metadata={"description": "why it was rejected"})


class MediaItemSchema(Schema):
    upload_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    url = fields.String(required=True, metadata={"description": "signed, short-lived; GET it without a token"})
    url_expires_at = Timestamp(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    width = fields.Integer()
    height = fields.Integer()
    duration_s = fields.Float()
    flags = fields.List(fields.Dict(), required=True,
                        metadata={"description": "for reviewers, e.g. same_file_as_another_worker"})


class MediaListSchema(Schema):
    items = fields.List(fields.Nested(MediaItemSchema), required=True)
