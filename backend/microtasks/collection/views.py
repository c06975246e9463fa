"""Collected media for staff: the media of a submission (signed links), and the local-disk
media behind those links (the S3 backend hands out presigned bucket URLs instead)."""

from flask import send_file

from backend.api import Blueprint
from backend.microtasks.collection import schemas
from backend.microtasks.collection import services as collection
from backend.web import REVIEWERS, auth_required

blp = Blueprint("collection_media", __name__, url_prefix="/api/v1", description="Collected media (staff)")


@blp.route("/manage/submissions/<int:submission_id>/media", methods=["GET"])
@auth_required(*REVIEWERS)
@blp.response(200, schemas.MediaListSchema)
@blp.problem(404, "No such submission")
def submission_media(submission_id):
    """The photos, recordings or videos of a submission, each with a short-lived signed URL."""
    return {"items": collection.media_for_submission(submission_id)}


@blp.route("/media/collected/<string:token>", methods=["GET"])
@blp.response(200, content_type="application/octet-stream", description="The file (Range requests work)")
@blp.problem(403, "The link has expired")
@blp.problem(404, "Not a link this server signed")
def signed_media(token):
    """A file behind a signed link: no bearer token, the link itself is the permission."""
    path, content_type, seconds_left = collection.resolve_media_link(token)
    response = send_file(path, mimetype=content_type, conditional=True, etag=True, max_age=seconds_left)
    response.headers["Cache-Control"] = f"private, max-age={seconds_left}"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response
