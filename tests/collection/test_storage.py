"""The storage interface on local disk and on an S3-compatible bucket (moto's server over HTTP)."""

from __future__ import annotations

import datetime as dt
import io
import urllib.error
import urllib.request

import pytest
import time_machine

from backend.storage import LinkExpired, LocalDiskStorage, S3Storage, StorageError


def _exercise(storage) -> None:
    assert storage.put("uploads/7/000000000000-aa", b"hello ", "application/octet-stream") == 6
    assert storage.put("uploads/7/000000000006-bb", io.BytesIO(b"world"), "application/octet-stream") == 5
    assert storage.put("media/3/photo.jpg", b"\xff\xd8jpeg", "image/jpeg") == 6
    assert storage.get("uploads/7/000000000000-aa") == b"hello "
    joined = io.BytesIO()
    assert storage.copy_to("uploads/7/000000000000-aa", joined) == 6
    storage.copy_to("uploads/7/000000000006-bb", joined)
    assert joined.getvalue() == b"hello world"
    assert storage.exists("media/3/photo.jpg") and not storage.exists("media/3/other.jpg")
    assert storage.delete_prefix("uploads/7/") == 2
    assert not storage.exists("uploads/7/000000000000-aa") and storage.exists("media/3/photo.jpg")
    storage.delete(["media/3/photo.jpg", "media/3/never-was.jpg"])
    assert not storage.exists("media/3/photo.jpg")
    with pytest.raises(StorageError):
        storage.get("media/3/photo.jpg")
    for bad in ("../secret", "/etc/passwd", "media//x", "a/./b"):
        with pytest.raises(ValueError):
            storage.put(bad, b"x", "text/plain")


def test_local_disk_storage(tmp_path):
    _exercise(LocalDiskStorage(tmp_path / "media", "secret"))


def test_local_signed_links_name_one_file_and_expire(tmp_path):
    storage = LocalDiskStorage(tmp_path, "secret")
    storage.put("media/1/a.png", b"png bytes", "image/png")
    start = dt.datetime(2031, 5, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        url, expires = storage.signed_url("media/1/a.png", "image/png", 300)
        assert url.startswith("/api/v1/media/collected/") and expires == start + dt.timedelta(seconds=300)
        token = url.rsplit("/", 1)[1]
        path, content_type, left = storage.resolve(token)
        assert path.read_bytes() == b"png bytes" and content_type == "image/png" and left == 300
    with time_machine.travel(start + dt.timedelta(seconds=301), tick=False), pytest.raises(LinkExpired):
        storage.resolve(token)
    with pytest.raises(ValueError):
        LocalDiskStorage(tmp_path, "another secret").resolve(token)  # signed by someone else
    with pytest.raises(ValueError):
        storage.resolve(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


def test_s3_storage(s3_endpoint, s3_bucket):
    _exercise(S3Storage(s3_bucket, s3_endpoint, "us-east-1"))


def test_s3_presigned_urls_fetch_the_object_which_is_not_public(s3_endpoint, s3_bucket):
    storage = S3Storage(s3_bucket, s3_endpoint, "us-east-1")
    storage.put("media/2/voice.wav", b"RIFF....WAVE", "audio/wav")
    url, expires = storage.signed_url("media/2/voice.wav", "audio/wav", 120)
    assert url.startswith(s3_endpoint) and "X-Amz-Signature=" in url and "X-Amz-Expires=120" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"RIFF....WAVE"
        assert response.headers["Content-Type"] == "audio/wav"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3_endpoint}/{s3_bucket}/media/2/voice.wav", timeout=10)
    assert refused.value.code == 403
