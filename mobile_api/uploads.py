"""Uploads for collection tasks: photos, recordings and videos sent from phones in chunks.

The core of tus 1.0.0: POST creates an upload (JSON here, naming the assignment), PATCH sends
bytes at `Upload-Offset` (Content-Type application/offset+octet-stream), HEAD tells the offset
after a dropped connection, DELETE gives the upload up. docs/API.md "Uploads" has the details.
"""

from functools import wraps

from flask import request

from backend.api import Blueprint
from backend.errors import Invalid, problem
from backend.microtasks.collection import schemas
from backend.microtasks.collection import services as uploads
from backend.web import auth_required, current_user

blp = Blueprint("uploads", __name__, url_prefix="/api/v1", description="Uploads for collection tasks (worker)")

CHUNK_TYPES = ("application/offset+octet-stream", "application/octet-stream")


def _tus_headers(upload) -> dict:
    headers = {"Tus-Resumable": uploads.TUS_VERSION, "Upload-Offset": str(upload.received),
               "Upload-Length": str(upload.size), "Cache-Control": "no-store"}
    if upload.expires_at is not None:
        headers["Upload-Expires"] = upload.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return headers


def _chunk_body(view):
    """Take the chunk off the wire before the database is touched (a slow phone must not hold a
    transaction open), under this route's own size limit instead of the global one."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        request.max_content_length = uploads.chunk_limit()
        if request.headers.get("Authorization"):
            request.get_data(cache=True)
        return view(*args, **kwargs)

    return wrapper


@blp.route("/assignments/<int:assignment_id>/collection", methods=["GET"])
@auth_required()
@blp.response(200, schemas.RequirementsSchema)
@blp.problem(404, "No such assignment of this worker")
@blp.problem(409, "The task is not a collection task")
def requirements(assignment_id):
    """What to collect for this assignment: media kind, formats, limits, prompt, consent text."""
    return uploads.requirements(current_user().id, assignment_id)


@blp.route("/assignments/<int:assignment_id>/uploads", methods=["POST"])
@auth_required()
@blp.arguments(schemas.UploadCreateSchema)
@blp.response(201, schemas.UploadSchema)
@blp.problem(404, "No such assignment of this worker")
@blp.problem(409, "The assignment is not open, not a collection task, or holds too many uploads")
@blp.problem(422, "Too large or too small for the project, or a type it does not take")
def create_upload(body, assignment_id):
    """Announce a file; then PATCH its bytes to the `url` (the Location header)."""
    upload = uploads.create_upload(current_user().id, assignment_id, body["size"], body["content_type"],
                                   body["sha256"])
    return upload, {**_tus_headers(upload), "Location": f"/api/v1/uploads/{upload.id}"}


@blp.route("/uploads/<int:upload_id>", methods=["GET"])
@auth_required()
@blp.response(200, schemas.UploadSchema, headers={
    "Upload-Offset": {"description": "bytes received so far", "schema": {"type": "integer"}},
    "Upload-Length": {"description": "the announced size", "schema": {"type": "integer"}},
})
@blp.problem(404, "No such upload of this worker")
def get_upload(upload_id):
    """The upload's state; HEAD answers the same headers (Upload-Offset) without a body."""
    upload = uploads.get_upload(current_user().id, upload_id)
    return upload, _tus_headers(upload)


@blp.route("/uploads/<int:upload_id>", methods=["PATCH"])
@_chunk_body
@auth_required()
@blp.doc(requestBody={"required": True, "description": "the chunk's raw bytes, at most UPLOAD_CHUNK_MAX_BYTES",
                      "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in CHUNK_TYPES}},
         parameters=[
             {"in": "header", "name": "Upload-Offset", "required": True, "schema": {"type": "integer", "minimum": 0},
              "description": "where these bytes start; must equal the bytes received so far"},
             {"in": "header", "name": "Upload-Checksum", "required": False, "schema": {"type": "string"},
              "description": "`sha256|sha1|md5 <base64 digest>` of this chunk"},
         ])
@blp.response(204, headers={"Upload-Offset": {"description": "bytes received so far",
                                              "schema": {"type": "integer"}}})
@blp.problem(404, "No such upload of this worker")
@blp.problem(409, "Upload-Offset is not where the upload stands (the answer's `offset` is), or it is finished")
@blp.problem(413, "The chunk is larger than UPLOAD_CHUNK_MAX_BYTES or runs past the announced size")
@blp.problem(415, "The body is not application/offset+octet-stream")
@blp.problem(422, "The complete file failed a check (type, size, resolution, duration, duplicate)")
@blp.problem(460, "The chunk does not match its Upload-Checksum")
def append_chunk(upload_id):
    """Send bytes. The request that completes the file has it checked: 204 when it is `ready`."""
    if request.mimetype not in CHUNK_TYPES:
        return problem(415, "Send the chunk as application/offset+octet-stream.", slug="unsupported-media-type")
    raw_offset = request.headers.get("Upload-Offset", "")
    if not raw_offset.isdigit():
        raise Invalid.field("Upload-Offset", "Send the offset of these bytes as a whole number.")
    upload = uploads.append_chunk(current_user().id, upload_id, int(raw_offset), request.get_data(),
                                  uploads.parse_checksum(request.headers.get("Upload-Checksum")))
    headers = _tus_headers(upload)
    headers.pop("Upload-Length")
    return None, 204, headers


@blp.route("/uploads/<int:upload_id>", methods=["DELETE"])
@auth_required()
@blp.response(204)
@blp.problem(404, "No such upload of this worker")
@blp.problem(409, "The upload belongs to a submission")
def delete_upload(upload_id):
    """Give an unfinished or unsubmitted upload up (tus termination)."""
    uploads.delete_upload(current_user().id, upload_id)
    return None, 204, {"Tus-Resumable": uploads.TUS_VERSION}
