"""Collection uploads: the resumable protocol, the checks, duplicates, submission, review media.

The protocol is the core of tus 1.0.0 (https://tus.io/protocols/resumable-upload): the phone
creates an upload for its assignment announcing the size, sends the bytes in chunks with
`Upload-Offset`, asks for the offset after a dropped connection (HEAD) and goes on from there.
Each chunk is stored as its own object (the storage may be a bucket, which cannot append), and
the upload's offset moves by one conditional UPDATE, so a chunk is counted once however often a
phone retries it. When the last byte arrives the chunks are joined and checked (type from the
bytes, size, resolution, duration, duplicates), the metadata-free copy is stored, and the upload
is `ready` to be named in a submission — or `rejected` with the reasons.

Plain functions taking ids; they flush, never commit.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import tempfile
import uuid

import sqlalchemy as sa
from flask import current_app

from backend import events
from backend.database import utcnow
from backend.errors import Conflict, DomainError, Invalid, NotFound, ServiceUnavailable
from backend.extensions import db
from backend.i18n import localize
from backend.microtasks.collection import media
from backend.microtasks.collection.models import CollectionConsent, CollectionUpload, CollectionUploadPart
from backend.microtasks.collection.task_type import effective_config
from backend.microtasks.models import Assignment, Project, Submission, Task
from backend.storage import StorageError, get_storage, media_url_ttl

log = logging.getLogger(__name__)

TASK_TYPE = "collection"
TUS_VERSION = "1.0.0"
CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")
# Two photos this close (bits of 64 differing in their perceptual hash) are the same photo,
# re-saved, resized, cropped a little or brightened.
PHASH_MAX_DISTANCE = 8
# Two PCM recordings whose loudness fingerprints differ in at most this share of bits are one.
FINGERPRINT_MAX_DISTANCE = 0.1
OPEN_UPLOADS_PER_FILE = 3  # unfinished or unsubmitted uploads an assignment may hold, per file it takes
_OPEN = ("receiving", "ready")
_DECLARED_TYPES = {  # what phones say → (kind, format); only for an early, friendly refusal
    **{content_type: (kind, fmt) for kind, formats in media.FORMATS.items()
       for fmt, (content_type, _ext) in formats.items()},
    "image/jpg": ("image", "jpeg"), "audio/x-wav": ("audio", "wav"), "audio/wave": ("audio", "wav"),
    "audio/x-m4a": ("audio", "m4a"), "audio/m4a": ("audio", "m4a"), "audio/mp3": ("audio", "mp3"),
    "audio/x-flac": ("audio", "flac"), "audio/opus": ("audio", "ogg"),
}


class ChunkTooLarge(DomainError):
    status, slug = 413, "chunk-too-large"


class ChecksumMismatch(DomainError):
    """tus' checksum extension answers 460 when a chunk's checksum does not match its bytes."""

    status, slug = 460, "checksum-mismatch"


def _storage_down(error: StorageError) -> ServiceUnavailable:
    log.error("media storage failed: %s", error)
    return ServiceUnavailable("The media storage is not reachable right now; send the chunk again shortly.",
                              slug="storage-unavailable", headers={"Retry-After": "5"})


def _settings() -> tuple[int, int]:
    return int(current_app.config["UPLOAD_CHUNK_MAX_BYTES"]), int(current_app.config["UPLOAD_TTL_S"])


def chunk_limit() -> int:
    return _settings()[0]


# ------------------------------------------------------------------------------ assignments


def _assignment(user_id: int, assignment_id: int):
    row = db.session.execute(
        sa.select(Assignment.status, Assignment.project_id, Assignment.task_id, Project.task_type,
                  Project.config, Task.payload)
        .join(Project, Project.id == Assignment.project_id)
        .join(Task, Task.id == Assignment.task_id)
        .where(Assignment.id == assignment_id, Assignment.user_id == user_id)
    ).first()
    if row is None:
        raise NotFound(f"No assignment {assignment_id}.")
    if row.task_type != TASK_TYPE:
        raise Conflict("This task collects no files; answer it with a label instead.",
                       slug="not-a-collection-task")
    return row


def requirements(user_id: int, assignment_id: int) -> dict:
    """What the phone must collect for this assignment, and the consent text to show."""
    row = _assignment(user_id, assignment_id)
    config = effective_config(row.config)
    chunk_max, ttl = _settings()
    prompt = (row.payload or {}).get("prompt") or config.get("prompt")
    return {
        "assignment_id": assignment_id,
        "media": config["media"],
        "formats": config["formats"],
        "content_types": [media.FORMATS[config["media"]][f][0] for f in config["formats"]],
        "min_bytes": config["min_bytes"],
        "max_bytes": config["max_bytes"],
        "min_width": config.get("min_width"),
        "min_height": config.get("min_height"),
        "min_duration_s": config.get("min_duration_s"),
        "max_duration_s": config.get("max_duration_s"),
        "min_files": config["min_files"],
        "max_files": config["max_files"],
        "prompt": localize(prompt) if prompt else None,
        "consent": {"version": config["consent"]["version"], "text": localize(config["consent"]["text"])},
        "chunk_max_bytes": chunk_max,
        "upload_ttl_s": ttl,
    }


# ------------------------------------------------------------------------------ the protocol


def create_upload(user_id: int, assignment_id: int, size: int, content_type: str | None = None,
                  sha256: str | None = None) -> CollectionUpload:
    """POST /assignments/{id}/uploads: announce a file of `size` bytes."""
    row = _assignment(user_id, assignment_id)
    if row.status != "leased":
        raise Conflict("This assignment is no longer open (submitted, given back or expired).",
                       slug="assignment-not-open")
    config = effective_config(row.config)
    kind = config["media"]
    if size > config["max_bytes"]:
        raise Invalid(f"size: the file is {size:,} bytes; this project accepts at most "
                      f"{config['max_bytes']:,} bytes.", errors={"size": [
                          f"At most {config['max_bytes']:,} bytes."]}, slug="file-too-large")
    if size < config["min_bytes"]:
        raise Invalid(f"size: the file is {size:,} bytes; this project needs at least "
                      f"{config['min_bytes']:,} bytes.", errors={"size": [
                          f"At least {config['min_bytes']:,} bytes."]}, slug="file-too-small")
    declared = (content_type or "").split(";")[0].strip().lower() or None
    if declared in _DECLARED_TYPES or (declared or "").split("/")[0] in ("image", "audio", "video"):
        found = _DECLARED_TYPES.get(declared)
        if found is None or found[0] != kind or found[1] not in config["formats"]:
            raise Invalid.field("content_type", f"{declared} is not accepted; this project collects {kind} "
                                                f"as {', '.join(config['formats'])}.")
    open_count = db.session.execute(
        sa.select(sa.func.count()).select_from(CollectionUpload)
        .where(CollectionUpload.assignment_id == assignment_id, CollectionUpload.status.in_(_OPEN))
    ).scalar_one()
    if open_count >= config["max_files"] * OPEN_UPLOADS_PER_FILE:
        raise Conflict("This assignment holds too many unfinished uploads; delete one first.",
                       slug="too-many-uploads")
    now = utcnow()
    upload = CollectionUpload(
        user_id=user_id, assignment_id=assignment_id, project_id=row.project_id, status="receiving",
        size=size, received=0, declared_type=declared, declared_sha256=sha256.lower() if sha256 else None,
        flags=[], created_at=now, updated_at=now, expires_at=now + dt.timedelta(seconds=_settings()[1]),
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def _own_upload(user_id: int, upload_id: int, *, lock: bool = False) -> CollectionUpload:
    stmt = sa.select(CollectionUpload).where(CollectionUpload.id == upload_id,
                                             CollectionUpload.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update()
    upload = db.session.execute(stmt).scalar_one_or_none()
    if upload is None:
        raise NotFound(f"No upload {upload_id}.")
    return upload


def get_upload(user_id: int, upload_id: int) -> CollectionUpload:
    """GET/HEAD /uploads/{id}: how far it got, or what became of it. Someone else's → 404."""
    return _own_upload(user_id, upload_id)


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """tus `Upload-Checksum: <algorithm> <base64 digest>`."""
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise Invalid.field("Upload-Checksum", f"Use one of {', '.join(CHECKSUM_ALGORITHMS)}.")
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        raise Invalid.field("Upload-Checksum", "The digest must be base64.") from None


def append_chunk(user_id: int, upload_id: int, offset: int, data: bytes,
                 checksum: tuple[str, bytes] | None = None) -> CollectionUpload:
    """PATCH /uploads/{id}: bytes [offset, offset + len(data)). When they complete the file, it is
    checked at once; a failed check answers 422 and leaves the upload `rejected`."""
    now = utcnow()
    upload = _own_upload(user_id, upload_id, lock=True)
    if upload.status != "receiving":
        if upload.status in ("ready", "submitted") and offset == upload.size and not data:
            return upload  # a retried last request: nothing more to do
        raise Conflict(f"This upload is {upload.status}; it takes no more bytes.", slug="upload-finished",
                       upload_status=upload.status, offset=upload.received)
    if upload.expires_at is not None and upload.expires_at <= now:
        raise Conflict("This upload expired; start a new one.", slug="upload-expired")
    if offset != upload.received:
        raise Conflict(f"Upload-Offset is {offset} but {upload.received} bytes have arrived; "
                       f"continue from {upload.received}.", slug="offset-mismatch", offset=upload.received)
    if offset + len(data) > upload.size:
        raise ChunkTooLarge(f"The chunk runs past the announced size of {upload.size} bytes.")
    if checksum is not None:
        algorithm, digest = checksum
        if hashlib.new(algorithm, data).digest() != digest:
            raise ChecksumMismatch("The chunk's bytes do not match its Upload-Checksum; send it again.")
    if data:
        storage = get_storage()
        key = f"uploads/{upload.id}/{offset:012d}-{secrets.token_hex(4)}"
        try:
            storage.put(key, data, "application/octet-stream")
        except StorageError as error:
            raise _storage_down(error) from None
        db.session.add(CollectionUploadPart(upload_id=upload.id, offset=offset, size=len(data),
                                            storage_key=key, created_at=now))
        upload.received = offset + len(data)
        upload.updated_at = now
        upload.expires_at = now + dt.timedelta(seconds=_settings()[1])
        db.session.flush()
    if upload.received == upload.size:
        try:
            _complete(upload, now)
        except StorageError as error:
            raise _storage_down(error) from None
    return upload


def delete_upload(user_id: int, upload_id: int) -> None:
    """DELETE /uploads/{id} (tus termination): drop an upload not yet submitted."""
    upload = _own_upload(user_id, upload_id, lock=True)
    if upload.status == "submitted":
        raise Conflict("This upload belongs to a submission and stays.", slug="upload-submitted")
    keys = [upload.storage_key] if upload.storage_key else []
    db.session.delete(upload)
    db.session.flush()
    _delete_objects(upload.id, keys)


def _delete_objects(upload_id: int, keys: list[str]) -> None:
    storage = get_storage()
    try:
        storage.delete_prefix(f"uploads/{upload_id}/")
        if keys:
            storage.delete(keys)
    except StorageError:
        log.warning("could not delete the objects of upload %s; the cleanup job will retry", upload_id)


# ------------------------------------------------------------------------------ checks


def _reject(upload: CollectionUpload, errors: dict[str, list[str]], now: dt.datetime, *,
            slug: str = "media-rejected", **extra) -> None:
    upload.status = "rejected"
    upload.errors = errors
    upload.completed_at = now
    upload.updated_at = now
    _drop_parts(upload)
    db.session.flush()
    detail = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
    # keep_changes: the upload stays `rejected` (with its reasons) although the answer is a 422.
    raise Invalid(detail[:1000], errors=errors, slug=slug, keep_changes=True, upload_id=upload.id, **extra)


def _drop_parts(upload: CollectionUpload) -> None:
    db.session.execute(sa.delete(CollectionUploadPart).where(CollectionUploadPart.upload_id == upload.id))
    try:
        get_storage().delete_prefix(f"uploads/{upload.id}/")
    except StorageError:
        log.warning("could not delete the chunks of upload %s; the cleanup job will retry", upload.id)


def _limit_errors(found: media.Inspected, config: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if found.kind == "image" and (config.get("min_width") or config.get("min_height")):
        want_w, want_h = config.get("min_width") or 1, config.get("min_height") or 1
        if (max(found.width, found.height) < max(want_w, want_h)
                or min(found.width, found.height) < min(want_w, want_h)):
            errors["file.width"] = [f"The photo is {found.width}×{found.height} pixels; at least "
                                    f"{want_w}×{want_h} (either orientation) is needed."]
    if found.duration_s is not None:
        if config.get("min_duration_s") is not None and found.duration_s < config["min_duration_s"]:
            errors["file.duration_s"] = [f"It lasts {found.duration_s:g} s; at least "
                                         f"{config['min_duration_s']:g} s is needed."]
        if config.get("max_duration_s") is not None and found.duration_s > config["max_duration_s"]:
            errors["file.duration_s"] = [f"It lasts {found.duration_s:g} s; at most "
                                         f"{config['max_duration_s']:g} s is accepted."]
    return errors


def _own_duplicate(upload: CollectionUpload, found: media.Inspected) -> CollectionUpload | None:
    """The worker's earlier upload in this project with the same or nearly the same content."""
    mine = (CollectionUpload.user_id == upload.user_id, CollectionUpload.project_id == upload.project_id,
            CollectionUpload.status.in_(("ready", "submitted")), CollectionUpload.id != upload.id)
    same = db.session.execute(
        sa.select(CollectionUpload).where(*mine, CollectionUpload.content_sha256 == found.content_sha256)
        .order_by(CollectionUpload.id).limit(1)
    ).scalar_one_or_none()
    if same is not None:
        return same
    if found.phash:
        rows = db.session.execute(sa.select(CollectionUpload.id, CollectionUpload.phash)
                                  .where(*mine, CollectionUpload.phash.is_not(None))).all()
        for row in rows:
            distance = media.phash_distance(found.phash, row.phash)
            if distance is not None and distance <= PHASH_MAX_DISTANCE:
                return db.session.get(CollectionUpload, row.id)
    if found.fingerprint:
        rows = db.session.execute(sa.select(CollectionUpload.id, CollectionUpload.fingerprint)
                                  .where(*mine, CollectionUpload.fingerprint.is_not(None))).all()
        for row in rows:
            distance = media.fingerprint_distance(found.fingerprint, row.fingerprint)
            if distance is not None and distance <= FINGERPRINT_MAX_DISTANCE:
                return db.session.get(CollectionUpload, row.id)
    return None


def _cross_worker_flags(upload: CollectionUpload, found: media.Inspected) -> list[dict]:
    """Exact copies of this file that other workers sent: not refused, flagged for reviewers."""
    rows = db.session.execute(
        sa.select(CollectionUpload.id, CollectionUpload.project_id, CollectionUpload.submission_id)
        .where(CollectionUpload.content_sha256 == found.content_sha256,
               CollectionUpload.user_id != upload.user_id,
               CollectionUpload.status.in_(("ready", "submitted")))
        .order_by(CollectionUpload.id).limit(5)
    ).all()
    return [{"code": "same_file_as_another_worker", "upload_id": row.id, "project_id": row.project_id,
             "submission_id": row.submission_id} for row in rows]


def _complete(upload: CollectionUpload, now: dt.datetime) -> None:
    config = effective_config(db.session.execute(
        sa.select(Project.config).where(Project.id == upload.project_id)).scalar_one())
    storage = get_storage()
    parts = db.session.execute(
        sa.select(CollectionUploadPart.offset, CollectionUploadPart.size, CollectionUploadPart.storage_key)
        .where(CollectionUploadPart.upload_id == upload.id).order_by(CollectionUploadPart.offset)
    ).all()
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as whole:
        position = 0
        original = hashlib.sha256()
        for part in parts:
            if part.offset != position:
                raise Conflict("The upload's chunks do not join up; start a new upload.", slug="upload-broken")
            block = storage.get(part.storage_key)
            whole.write(block)
            original.update(block)
            position += len(block)
        if position != upload.size:
            raise Conflict("The upload's chunks do not add up; start a new upload.", slug="upload-broken")
        if upload.declared_sha256 and original.hexdigest() != upload.declared_sha256:
            _reject(upload, {"sha256": ["The file that arrived does not match the sha256 announced."]}, now)
        try:
            found = media.inspect(whole, config["media"], config["formats"])
        except media.MediaRejected as error:
            _reject(upload, {error.field: [error.message]}, now)
        try:
            upload.kind, upload.content_type = found.kind, found.content_type
            upload.width, upload.height, upload.duration_s = found.width, found.height, found.duration_s
            upload.content_sha256, upload.phash, upload.fingerprint = (found.content_sha256, found.phash,
                                                                       found.fingerprint)
            errors = _limit_errors(found, config)
            if errors:
                _reject(upload, errors, now)
            duplicate = _own_duplicate(upload, found)
            if duplicate is not None:
                _reject(upload, {"file": [f"You already sent this {found.kind} (upload {duplicate.id}); "
                                          f"send a new one."]}, now,
                        slug="duplicate-media", duplicate_of=duplicate.id)
            upload.flags = _cross_worker_flags(upload, found)
            key = f"media/{upload.project_id}/{uuid.uuid4().hex}.{found.extension}"
            upload.stored_size = storage.put(key, found.output, found.content_type)
            upload.storage_key = key
        finally:
            found.output.close()
    upload.status = "ready"
    upload.completed_at = now
    upload.updated_at = now
    upload.expires_at = now + dt.timedelta(seconds=_settings()[1])
    _drop_parts(upload)
    db.session.flush()


# ------------------------------------------------------------------------------ submission


def attach_uploads(submission_id: int) -> None:
    """Tie the uploads a collection submission names to it, and record the consent given.

    Runs inside the submission's transaction (on submission_accepted): an upload that is not the
    worker's, not of this assignment, not ready or past its time refuses the whole submission
    with a 422 naming `answer.uploads.<i>`.
    """
    row = db.session.execute(
        sa.select(Submission.id, Submission.user_id, Submission.assignment_id, Submission.project_id,
                  Submission.answer, Submission.created_at, Project.task_type, Project.config)
        .join(Project, Project.id == Submission.project_id).where(Submission.id == submission_id)
    ).first()
    if row is None or row.task_type != TASK_TYPE:
        return
    ids = list(row.answer["uploads"])
    uploads = {u.id: u for u in db.session.execute(
        sa.select(CollectionUpload).where(CollectionUpload.id.in_(ids)).with_for_update()).scalars()}
    now = utcnow()
    errors: dict[str, list[str]] = {}
    for index, upload_id in enumerate(ids):
        upload = uploads.get(upload_id)
        field = f"answer.uploads.{index}"
        if upload is None or upload.user_id != row.user_id or upload.assignment_id != row.assignment_id:
            errors[field] = [f"No upload {upload_id} of this assignment."]
        elif upload.status == "receiving":
            errors[field] = [f"Upload {upload_id} is not complete: {upload.received} of {upload.size} bytes."]
        elif upload.status == "rejected":
            errors[field] = [f"Upload {upload_id} was rejected; send another file."]
        elif upload.status == "submitted":
            errors[field] = [f"Upload {upload_id} was already submitted."]
        elif upload.expires_at is not None and upload.expires_at <= now:
            errors[field] = [f"Upload {upload_id} expired; send the file again."]
    if errors:
        detail = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
        raise Invalid(detail, errors=errors, slug="uploads-not-ready")
    for upload_id in ids:
        upload = uploads[upload_id]
        upload.status, upload.submission_id, upload.expires_at, upload.updated_at = (
            "submitted", submission_id, None, now)
    consent = row.config["consent"]
    db.session.add(CollectionConsent(submission_id=submission_id, user_id=row.user_id,
                                     project_id=row.project_id, version=consent["version"],
                                     text=consent["text"], accepted_at=row.created_at or now))
    db.session.flush()


def _on_submission_accepted(sender=None, **event) -> None:
    if event.get("task_type", TASK_TYPE) == TASK_TYPE:  # other types need no read back
        attach_uploads(event["submission_id"])


def connect_handlers() -> None:
    events.submission_accepted.connect(_on_submission_accepted, weak=False)


# ------------------------------------------------------------------------------ reviewers


def media_for_submission(submission_id: int) -> list[dict]:
    """The media of a submission for reviewers, in the order the worker sent them, each with a
    short-lived signed URL. An unknown submission → NotFound; one without media → []."""
    answer = db.session.execute(sa.select(Submission.answer).where(Submission.id == submission_id)).first()
    if answer is None:
        raise NotFound(f"No submission {submission_id}.")
    uploads = db.session.execute(
        sa.select(CollectionUpload).where(CollectionUpload.submission_id == submission_id)).scalars().all()
    order = {upload_id: i for i, upload_id in enumerate((answer[0] or {}).get("uploads") or [])}
    storage, ttl = get_storage(), media_url_ttl()
    items = []
    for upload in sorted(uploads, key=lambda u: (order.get(u.id, len(order)), u.id)):
        url, expires = storage.signed_url(upload.storage_key, upload.content_type, ttl)
        item = {"upload_id": upload.id, "kind": upload.kind, "url": url, "url_expires_at": expires,
                "content_type": upload.content_type, "size": upload.stored_size, "flags": upload.flags or []}
        for name in ("width", "height", "duration_s"):
            if getattr(upload, name) is not None:
                item[name] = getattr(upload, name)
        items.append(item)
    return items


def resolve_media_link(token: str):
    """The local file behind a signed link (LocalDiskStorage only): (path, content type, seconds
    left). A link we did not sign → NotFound; one past its time → 403."""
    from backend.errors import Forbidden
    from backend.storage import LinkExpired, LocalDiskStorage

    storage = get_storage()
    if not isinstance(storage, LocalDiskStorage):
        raise NotFound("Media is served by the bucket.")
    try:
        return storage.resolve(token)
    except LinkExpired:
        raise Forbidden("This media link has expired; ask for a new one.", slug="media-link-expired") from None
    except ValueError:
        raise NotFound("No such media.") from None


# ------------------------------------------------------------------------------ cleanup


def purge_expired_uploads(batch: int = 200) -> int:
    """Delete uploads past their time (never finished, rejected, or never submitted) with their
    chunks and stored files. Safe to run twice at once: rows are claimed by a conditional DELETE."""
    now = utcnow()
    rows = db.session.execute(
        sa.select(CollectionUpload.id, CollectionUpload.storage_key)
        .where(CollectionUpload.expires_at.is_not(None), CollectionUpload.expires_at <= now,
               CollectionUpload.status != "submitted")
        .order_by(CollectionUpload.expires_at).limit(batch)
    ).all()
    purged = 0
    for row in rows:
        claimed = db.session.execute(
            sa.delete(CollectionUpload).where(CollectionUpload.id == row.id,
                                              CollectionUpload.expires_at <= now,
                                              CollectionUpload.status != "submitted")
        ).rowcount
        if claimed:
            purged += 1
            _delete_objects(row.id, [row.storage_key] if row.storage_key else [])
    db.session.flush()
    return purged


# ------------------------------------------------------------------------------ personal data


def export_collection(user_id: int) -> dict:
    """The worker's uploads (what they are, not the bytes) and the consents they gave."""
    uploads = db.session.execute(sa.select(CollectionUpload).where(CollectionUpload.user_id == user_id)
                                 .order_by(CollectionUpload.id)).scalars()
    consents = db.session.execute(sa.select(CollectionConsent).where(CollectionConsent.user_id == user_id)
                                  .order_by(CollectionConsent.id)).scalars()
    return {
        "uploads": [{"id": u.id, "project_id": u.project_id, "assignment_id": u.assignment_id,
                     "submission_id": u.submission_id, "status": u.status, "kind": u.kind,
                     "content_type": u.content_type, "size": u.size, "width": u.width, "height": u.height,
                     "duration_s": u.duration_s, "created_at": u.created_at} for u in uploads],
        "consents": [{"submission_id": c.submission_id, "project_id": c.project_id, "version": c.version,
                      "text": c.text, "accepted_at": c.accepted_at} for c in consents],
    }


def erase_collection(user_id: int) -> None:
    """Account deletion: uploads not submitted go with their bytes; submitted media stay for the
    datasets the worker consented to, like other submitted work."""
    rows = db.session.execute(
        sa.select(CollectionUpload.id, CollectionUpload.storage_key)
        .where(CollectionUpload.user_id == user_id, CollectionUpload.status != "submitted")).all()
    for row in rows:
        db.session.execute(sa.delete(CollectionUpload).where(CollectionUpload.id == row.id))
        _delete_objects(row.id, [row.storage_key] if row.storage_key else [])
    db.session.flush()
