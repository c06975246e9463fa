"""Collection tasks over HTTP, as a phone and a reviewer use them, on both databases."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io

import time_machine
from PIL import Image

from backend.extensions import db
from backend.microtasks.collection import services as collection
from backend.microtasks.collection.models import CollectionConsent, CollectionUpload, CollectionUploadPart
from tests.collection import samples
from tests.collection.conftest import CONSENT, SIGN_CONFIG, sha256


def _stored_files(app) -> list:
    from pathlib import Path

    root = Path(app.config["STORAGE_LOCAL_DIR"])
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_phone_uploads_a_photo_in_three_chunks_across_a_dropped_connection(phones, client, auth, app):
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)

    # What to collect, and the consent text to show.
    wanted = client.get(f"/api/v1/assignments/{assignment_id}/collection", headers=worker.headers).get_json()
    assert wanted["media"] == "image" and wanted["formats"] == ["jpeg", "png"]
    assert wanted["consent"] == {"version": "2026-11", "text": CONSENT["text"]["ko"]}
    assert wanted["prompt"] == SIGN_CONFIG["prompt"]["ko"] and wanted["min_width"] == 320

    photo = samples.jpeg(seed=3, size=(800, 600), orientation=6)
    created = phones.create(worker, assignment_id, len(photo), content_type="image/jpeg", sha256=sha256(photo))
    upload = created.get_json()
    assert created.headers["Location"] == upload["url"] == f"/api/v1/uploads/{upload['id']}"
    assert created.headers["Upload-Offset"] == "0" and created.headers["Tus-Resumable"] == "1.0.0"
    assert upload["status"] == "receiving" and upload["offset"] == 0 and upload["size"] == len(photo)

    third = -(-len(photo) // 3)
    chunks = [photo[:third], photo[third:2 * third], photo[2 * third:]]
    first = phones.patch(worker, upload["id"], 0, chunks[0])
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(third)

    # The second chunk arrives but the answer is lost on the way back (the connection drops):
    # the phone does not know, and asks how far the upload got.
    phones.patch(worker, upload["id"], third, chunks[1])
    head = client.head(upload["url"], headers=worker.headers)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(2 * third)
    assert head.headers["Upload-Length"] == str(len(photo)) and head.headers["Cache-Control"] == "no-store"
    # A phone that re-sends the chunk it is unsure of is told where to go on from.
    again = phones.patch(worker, upload["id"], third, chunks[1])
    assert again.status_code == 409 and again.get_json()["offset"] == 2 * third
    assert again.get_json()["type"] == "urn:labelpath:problem:offset-mismatch"

    last = phones.patch(worker, upload["id"], 2 * third, chunks[2],
                        **{"Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(chunks[2]).digest()).decode()})
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(photo))
    state = client.get(upload["url"], headers=worker.headers).get_json()
    assert state["status"] == "ready" and state["kind"] == "image" and state["content_type"] == "image/jpeg"
    assert (state["width"], state["height"]) == (600, 800)  # as shown: the phone was held upright

    result = phones.submit(worker, assignment_id, [upload["id"]])
    assert result["status"] == "accepted" and result["earned"] == {"amount": 300, "currency": "KRW"}
    submission_id = result["id"]

    # A reviewer opens the submission's media through the signed, short-lived link.
    reviewer = auth.create("reviewer")
    items = phones.media(reviewer, submission_id)["items"]
    assert len(items) == 1
    item = items[0]
    assert item["kind"] == "image" and item["content_type"] == "image/jpeg" and item["flags"] == []
    assert (item["width"], item["height"]) == (600, 800) and item["upload_id"] == upload["id"]
    fetched = client.get(item["url"])  # no bearer token: the link is the permission
    assert fetched.status_code == 200 and fetched.mimetype == "image/jpeg"
    assert fetched.headers["Cache-Control"].startswith("private")
    stored = Image.open(io.BytesIO(fetched.data))
    assert stored.getexif().get_ifd(0x8825) == {}  # no GPS
    assert b"PhoneMaker" not in fetched.data and b"GPSLatitude" not in fetched.data
    assert dict(stored.getexif()) == {0x0112: 6}
    # Nothing is stored under a name the phone chose, and the chunks are gone.
    assert [name.split("/")[0] for name in _stored_files(app)] == ["media"]

    with app.app_context():
        consent = db.session.query(CollectionConsent).filter_by(submission_id=submission_id).one()
        assert (consent.user_id, consent.version, consent.text) == (worker.id, "2026-11", CONSENT["text"])
        assert consent.accepted_at is not None
        row = db.session.get(CollectionUpload, upload["id"])
        assert (row.status, row.submission_id, row.expires_at) == ("submitted", submission_id, None)
        assert db.session.query(CollectionUploadPart).count() == 0


def test_a_resent_photo_is_refused_as_a_duplicate_even_resized(phones, client):
    project_id = phones.project()
    worker = phones.worker()
    first_assignment = phones.lease(worker, project_id)
    photo = samples.picture(seed=11, size=(800, 600))
    original = samples.jpeg(image=photo)
    sent = phones.send(worker, first_assignment, original, chunks=2)
    assert sent.status == 204
    phones.submit(worker, first_assignment, [sent.upload_id])

    second_assignment = phones.lease(worker, project_id)
    again = phones.send(worker, second_assignment, original)
    assert again.status == 422
    assert again.body["type"] == "urn:labelpath:problem:duplicate-media"
    assert again.body["duplicate_of"] == sent.upload_id and "already sent" in again.body["errors"]["file"][0]
    state = client.get(f"/api/v1/uploads/{again.upload_id}", headers=worker.headers).get_json()
    assert state["status"] == "rejected" and "file" in state["errors"]

    tweaked = samples.jpeg(image=photo.resize((640, 480)), quality=70)
    assert sha256(tweaked) != sha256(original)
    refused = phones.send(worker, second_assignment, tweaked)
    assert refused.status == 422 and refused.body["duplicate_of"] == sent.upload_id

    other = phones.send(worker, second_assignment, samples.jpeg(seed=12, size=(800, 600)))
    assert other.status == 204
    phones.submit(worker, second_assignment, [other.upload_id])


def test_the_same_file_from_two_workers_is_accepted_and_flagged_for_review(phones, auth):
    project_id = phones.project()
    photo = samples.jpeg(seed=21, size=(800, 600))
    first, second = phones.worker(), phones.worker()
    submissions = []
    for worker in (first, second):
        assignment_id = phones.lease(worker, project_id)
        sent = phones.send(worker, assignment_id, photo)
        assert sent.status == 204
        submissions.append((phones.submit(worker, assignment_id, [sent.upload_id])["id"], sent.upload_id))
    manager = phones.manager
    assert phones.media(manager, submissions[0][0])["items"][0]["flags"] == []
    flags = phones.media(manager, submissions[1][0])["items"][0]["flags"]
    assert flags == [{"code": "same_file_as_another_worker", "upload_id": submissions[0][1],
                      "project_id": project_id, "submission_id": submissions[0][0]}]


def test_oversized_wrong_type_and_too_small_files_get_clear_422s(phones, client, app):
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)

    too_big = phones.create(worker, assignment_id, 3 * 1024 * 1024, status=422).get_json()
    assert too_big["type"] == "urn:labelpath:problem:file-too-large" and "size" in too_big["errors"]
    declared = phones.create(worker, assignment_id, 1000, content_type="video/mp4", status=422).get_json()
    assert "content_type" in declared["errors"]

    pdf = b"%PDF-1.7\n" + b"0" * 5000
    wrong = phones.send(worker, assignment_id, pdf, chunks=2, content_type="image/jpeg")
    assert wrong.status == 422 and wrong.body["errors"] == {
        "file.type": ["The file's bytes are pdf (application/pdf); this project collects image as jpeg, png."]}
    assert wrong.body["upload_id"] == wrong.upload_id

    small = phones.send(worker, assignment_id, samples.jpeg(seed=5, size=(300, 200)))
    assert small.status == 422 and list(small.body["errors"]) == ["file.width"]
    assert "300×200" in small.body["errors"]["file.width"][0]
    # Either orientation counts: a portrait photo large enough is fine.
    portrait = phones.send(worker, assignment_id, samples.jpeg(seed=6, size=(240, 320)))
    assert portrait.status == 204

    with app.app_context():
        rejected = db.session.query(CollectionUpload).filter_by(status="rejected").count()
    assert rejected == 2
    # The submission may not name a rejected upload.
    refused = phones.submit(worker, assignment_id, [small.upload_id], status=422)
    assert refused["errors"] == {"answer.uploads.0": [f"Upload {small.upload_id} was rejected; send another file."]}


def test_chunk_limits_offsets_types_and_checksums(phones, app):
    app.config["UPLOAD_CHUNK_MAX_BYTES"] = 4096
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    upload_id = phones.create(worker, assignment_id, 10_000).get_json()["id"]

    assert phones.patch(worker, upload_id, 0, b"x" * 5000).status_code == 413  # larger than one chunk may be
    assert phones.patch(worker, upload_id, 0, b"x" * 10, **{"Content-Type": "application/json"}).status_code == 415
    bad_offset = phones.patch(worker, upload_id, 100, b"x" * 10)
    assert bad_offset.status_code == 409 and bad_offset.get_json()["offset"] == 0
    assert phones.patch(worker, upload_id, 0, b"x", **{"Upload-Offset": "-1"}).status_code == 422
    wrong_sum = phones.patch(worker, upload_id, 0, b"abc", **{
        "Upload-Checksum": "sha1 " + base64.b64encode(hashlib.sha1(b"abd").digest()).decode()})
    assert wrong_sum.status_code == 460 and wrong_sum.get_json()["type"] == "urn:labelpath:problem:checksum-mismatch"
    assert phones.patch(worker, upload_id, 0, b"x" * 4000).status_code == 204
    for offset in (4000, 8000):
        response = phones.patch(worker, upload_id, offset, b"x" * 4000)
    assert response.status_code == 413  # past the announced size
    assert response.get_json()["type"] == "urn:labelpath:problem:chunk-too-large"


def test_a_chunk_may_be_larger_than_other_request_bodies(phones, app):
    assert app.config["MAX_CONTENT_LENGTH"] < 1_500_000 <= app.config["UPLOAD_CHUNK_MAX_BYTES"]
    project_id = phones.project(config={**SIGN_CONFIG, "max_bytes": 3_000_000})
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    upload_id = phones.create(worker, assignment_id, 3_000_000).get_json()["id"]
    response = phones.patch(worker, upload_id, 0, b"\0" * 1_500_000)
    assert response.status_code == 204 and response.headers["Upload-Offset"] == "1500000"


def test_another_workers_upload_is_not_found(phones, client):
    project_id = phones.project()
    owner, stranger = phones.worker(), phones.worker()
    assignment_id = phones.lease(owner, project_id)
    upload_id = phones.create(owner, assignment_id, 1000).get_json()["id"]
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=stranger.headers).status_code == 404
    assert client.head(f"/api/v1/uploads/{upload_id}", headers=stranger.headers).status_code == 404
    assert phones.patch(stranger, upload_id, 0, b"x" * 10).status_code == 404
    assert client.delete(f"/api/v1/uploads/{upload_id}", headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/assignments/{assignment_id}/collection",
                      headers=stranger.headers).status_code == 404
    phones.create(stranger, assignment_id, 1000, status=404)
    # Nor can another worker's finished upload be named in one's own submission.
    sent = phones.send(owner, assignment_id, samples.jpeg(seed=31))
    own_assignment = phones.lease(stranger, project_id)
    refused = phones.submit(stranger, own_assignment, [sent.upload_id], status=422)
    assert refused["errors"] == {"answer.uploads.0": [f"No upload {sent.upload_id} of this assignment."]}


def test_submission_needs_complete_uploads_and_the_current_consent(phones):
    project_id = phones.project(config={**SIGN_CONFIG, "min_files": 1, "max_files": 2})
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    done = phones.send(worker, assignment_id, samples.jpeg(seed=41))
    partial = phones.create(worker, assignment_id, 5000).get_json()["id"]

    unfinished = phones.submit(worker, assignment_id, [done.upload_id, partial], status=422)
    assert unfinished["errors"] == {"answer.uploads.1": [f"Upload {partial} is not complete: 0 of 5000 bytes."]}
    old_text = phones.submit(worker, assignment_id, [done.upload_id], version="2025-01", status=422)
    assert list(old_text["errors"]) == ["answer.consent.version"]
    declined = phones.submit(worker, assignment_id, [done.upload_id], accepted=False, status=422)
    assert list(declined["errors"]) == ["answer.consent.accepted"]
    too_many = phones.submit(worker, assignment_id, [done.upload_id, partial, 99], status=422)
    assert list(too_many["errors"]) == ["answer.uploads"]
    assert phones.submit(worker, assignment_id, [done.upload_id])["status"] == "accepted"


def test_a_phone_can_give_up_an_upload(phones, client, app):
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    upload_id = phones.create(worker, assignment_id, 9000).get_json()["id"]
    assert phones.patch(worker, upload_id, 0, b"y" * 3000).status_code == 204
    assert _stored_files(app)
    response = client.delete(f"/api/v1/uploads/{upload_id}", headers=worker.headers)
    assert response.status_code == 204
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=worker.headers).status_code == 404
    assert _stored_files(app) == []


def test_recordings_too_short_and_resent_are_refused(phones):
    config = {"media": "audio", "formats": ["wav", "ogg", "m4a"], "min_duration_s": 2.5, "max_duration_s": 10,
              "prompt": "안녕하세요, 반갑습니다.", "consent": CONSENT}
    project_id = phones.project(config=config, skill="audio_transcription")
    worker = phones.worker("audio_transcription")
    assignment_id = phones.lease(worker, project_id)

    short = phones.send(worker, assignment_id, samples.sample("voice-2s.ogg"))
    assert short.status == 422 and short.body["errors"] == {
        "file.duration_s": ["It lasts 2 s; at least 2.5 s is needed."]}
    photo = phones.send(worker, assignment_id, samples.jpeg(seed=1))
    assert photo.status == 422 and list(photo.body["errors"]) == ["file.type"]

    voice = samples.wav(4.0, seed=5)
    sent = phones.send(worker, assignment_id, voice, chunks=3)
    assert sent.status == 204
    phones.submit(worker, assignment_id, [sent.upload_id])

    next_assignment = phones.lease(worker, project_id)
    louder = phones.send(worker, next_assignment, samples.wav(4.0, seed=5, gain=0.8))
    assert louder.status == 422 and louder.body["duplicate_of"] == sent.upload_id
    fresh = phones.send(worker, next_assignment, samples.wav(4.0, seed=6))
    assert fresh.status == 204


def test_a_video_is_checked_and_served_to_a_manager(phones, client):
    config = {"media": "video", "min_duration_s": 0.5, "max_duration_s": 30, "consent": CONSENT}
    project_id = phones.project(config=config)
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    sent = phones.send(worker, assignment_id, samples.sample("clip-1s.mov"), chunks=2)
    assert sent.status == 204
    submission_id = phones.submit(worker, assignment_id, [sent.upload_id])["id"]
    item = phones.media(phones.manager, submission_id)["items"][0]
    assert (item["kind"], item["content_type"], item["duration_s"]) == ("video", "video/quicktime", 1.0)
    video = client.get(item["url"])
    assert video.status_code == 200 and b"37.5665" not in video.data
    # Players ask for byte ranges.
    part = client.get(item["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.data) == 100


def test_media_links_expire_and_only_staff_list_media(phones, client, app):
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    sent = phones.send(worker, assignment_id, samples.jpeg(seed=51))
    submission_id = phones.submit(worker, assignment_id, [sent.upload_id])["id"]

    phones.media(worker, submission_id, status=403)
    phones.media(phones.manager, 999_999, status=404)
    url = phones.media(phones.manager, submission_id)["items"][0]["url"]
    assert client.get(url).status_code == 200
    assert client.get(url[:-3] + "abc").status_code == 404
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=app.config["MEDIA_URL_TTL_S"] + 5)):
        expired = client.get(url)
    assert expired.status_code == 403 and expired.get_json()["type"] == "urn:labelpath:problem:media-link-expired"


def test_the_cleanup_job_deletes_abandoned_uploads_and_keeps_submitted_ones(phones, app):
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    abandoned = phones.create(worker, assignment_id, 9000).get_json()["id"]
    assert phones.patch(worker, abandoned, 0, b"z" * 4000).status_code == 204
    unsubmitted = phones.send(worker, assignment_id, samples.jpeg(seed=61))
    assert unsubmitted.status == 204
    kept = phones.send(worker, assignment_id, samples.jpeg(seed=62))
    phones.submit(worker, assignment_id, [kept.upload_id])
    files_before = _stored_files(app)
    assert len(files_before) == 3  # a chunk, the unsubmitted photo, the submitted photo

    with app.app_context():
        assert collection.purge_expired_uploads() == 0  # nothing is old yet
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=app.config["UPLOAD_TTL_S"] + 60)
        with time_machine.travel(later):
            assert collection.purge_expired_uploads() == 2
            assert collection.purge_expired_uploads() == 0  # a second run finds nothing
        db.session.commit()
        left = [row.id for row in db.session.query(CollectionUpload).all()]
    assert left == [kept.upload_id]
    assert len(_stored_files(app)) == 1 and _stored_files(app)[0].startswith("media/")


def test_the_whole_flow_on_an_s3_bucket(phones, client, app, s3_endpoint, s3_bucket):
    import urllib.request

    app.config.update(STORAGE_BACKEND="s3", S3_BUCKET=s3_bucket, S3_ENDPOINT_URL=s3_endpoint, S3_REGION="us-east-1")
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    photo = samples.jpeg(seed=71, size=(800, 600))
    sent = phones.send(worker, assignment_id, photo, chunks=3)
    assert sent.status == 204
    submission_id = phones.submit(worker, assignment_id, [sent.upload_id])["id"]
    item = phones.media(phones.manager, submission_id)["items"][0]
    assert item["url"].startswith(s3_endpoint) and "X-Amz-Signature=" in item["url"]
    with urllib.request.urlopen(item["url"], timeout=10) as response:
        data = response.read()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825) == {} and b"PhoneMaker" not in data
    assert _stored_files(app) == []  # nothing went to local disk


def test_personal_data_export_and_account_deletion(phones, client, app):
    project_id = phones.project()
    worker = phones.worker()
    assignment_id = phones.lease(worker, project_id)
    submitted = phones.send(worker, assignment_id, samples.jpeg(seed=81))
    pending = phones.send(worker, assignment_id, samples.jpeg(seed=82))
    submission_id = phones.submit(worker, assignment_id, [submitted.upload_id])["id"]

    exported = client.get("/api/v1/me/export", headers=worker.headers).get_json()["collection"]
    assert [(u["id"], u["status"]) for u in exported["uploads"]] == [(submitted.upload_id, "submitted"),
                                                                     (pending.upload_id, "ready")]
    assert exported["consents"][0]["submission_id"] == submission_id
    assert exported["consents"][0]["version"] == CONSENT["version"]

    assert client.delete("/api/v1/me", json={"password": worker.password}, headers=worker.headers).status_code == 204
    with app.app_context():
        left = [row.id for row in db.session.query(CollectionUpload).all()]
    assert left == [submitted.upload_id]  # the submitted photo stays for the dataset
    assert len(_stored_files(app)) == 1
