"""Where uploaded media lives: one interface, two implementations chosen by config.

- ``LocalDiskStorage`` (default): files under ``STORAGE_LOCAL_DIR`` (``instance/media``). Nothing
  there is served as a directory: a reader gets a short-lived link ``/api/v1/media/<token>``
  whose token is signed with SECRET_KEY (itsdangerous) and names one object and its expiry.
- ``S3Storage``: an S3-compatible bucket (``STORAGE_BACKEND=s3``, ``S3_BUCKET``,
  ``S3_ENDPOINT_URL`` for MinIO/R2/…, ``S3_REGION``; credentials from the standard AWS
  environment: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile or an instance role).
  Readers get presigned GET URLs; the bucket itself must block public access.

Keys are plain strings such as ``media/12/3f9c….jpg``; callers never see file system paths.
Plain values in, plain values out: this module knows nothing of uploads or projects.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from backend.database import utcnow

LOCAL_MEDIA_PATH = "/api/v1/media/collected/"
_SALT = "labelpath.media.v1"


class StorageError(Exception):
    """The storage could not do what was asked (missing object, unreachable bucket)."""


class LinkExpired(Exception):
    """A signed local media link whose time is up."""


class Storage(Protocol):
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> int:
        """Store `data` (bytes or a readable file) under `key`, replacing it; returns its size."""

    def get(self, key: str) -> bytes:
        """The whole object (for small objects such as upload chunks)."""

    def copy_to(self, key: str, target: BinaryIO) -> int:
        """Append the object's bytes to `target`; returns how many were written."""

    def exists(self, key: str) -> bool: ...

    def delete(self, keys: list[str]) -> None:
        """Delete these objects; missing ones are ignored."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix` (ends with '/'); returns a count."""

    def signed_url(self, key: str, content_type: str, ttl_s: int) -> tuple[str, dt.datetime]:
        """A URL anyone holding it may GET for `ttl_s` seconds, and when it expires."""


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalDiskStorage:
    def __init__(self, root: str | Path, secret_key: str):
        self.root = Path(root)
        self._signer = URLSafeSerializer(secret_key, salt=_SALT)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside it, then rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                if isinstance(data, bytes | bytearray | memoryview):
                    handle.write(data)
                else:
                    data.seek(0)
                    while block := data.read(1024 * 1024):
                        handle.write(block)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path.stat().st_size

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no object {key}") from None

    def copy_to(self, key: str, target: BinaryIO) -> int:
        written = 0
        try:
            with self._path(key).open("rb") as handle:
                while block := handle.read(1024 * 1024):
                    target.write(block)
                    written += len(block)
        except FileNotFoundError:
            raise StorageError(f"no object {key}") from None
        return written

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = 0
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
                count += 1
        folder.rmdir()
        return count

    def signed_url(self, key: str, content_type: str, ttl_s: int) -> tuple[str, dt.datetime]:
        expires = utcnow() + dt.timedelta(seconds=ttl_s)
        token = self._signer.dumps({"k": _check_key(key), "t": content_type, "e": int(expires.timestamp())})
        return LOCAL_MEDIA_PATH + token, expires.replace(microsecond=0)

    def resolve(self, token: str) -> tuple[Path, str, int]:
        """The file, content type and seconds left of a signed link; ValueError when the token is
        not ours (or names nothing), LinkExpired when its time is up."""
        try:
            claims = self._signer.loads(token)
            key, content_type, expires = claims["k"], claims["t"], int(claims["e"])
        except (BadSignature, KeyError, TypeError, ValueError):
            raise ValueError("not a media link this server signed") from None
        left = expires - int(utcnow().timestamp())
        if left <= 0:
            raise LinkExpired(key)
        path = self._path(key)
        if not path.is_file():
            raise ValueError("the media is gone")
        return path, content_type, left


class S3Storage:
    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None):
        import boto3
        from botocore.config import Config

        if not bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            config=Config(signature_version="s3v4", connect_timeout=5, read_timeout=30,
                          retries={"max_attempts": 3, "mode": "standard"},
                          s3={"addressing_style": "path" if endpoint_url else "auto"}),
        )

    def _errors(self):
        from botocore.exceptions import BotoCoreError, ClientError

        return BotoCoreError, ClientError

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> int:
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                self.client.put_object(Bucket=self.bucket, Key=_check_key(key), Body=bytes(data),
                                       ContentType=content_type)
                return len(data)
            data.seek(0, os.SEEK_END)
            size = data.tell()
            data.seek(0)
            self.client.upload_fileobj(data, self.bucket, _check_key(key),
                                       ExtraArgs={"ContentType": content_type})
            return size
        except self._errors() as error:
            raise StorageError(f"could not store {key}: {error}") from None

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=_check_key(key))["Body"].read()
        except self._errors() as error:
            raise StorageError(f"could not read {key}: {error}") from None

    def copy_to(self, key: str, target: BinaryIO) -> int:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=_check_key(key))["Body"]
            written = 0
            for block in body.iter_chunks(1024 * 1024):
                target.write(block)
                written += len(block)
            return written
        except self._errors() as error:
            raise StorageError(f"could not read {key}: {error}") from None

    def exists(self, key: str) -> bool:
        _, client_error = self._errors()
        try:
            self.client.head_object(Bucket=self.bucket, Key=_check_key(key))
            return True
        except client_error as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"could not look up {key}: {error}") from None

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": _check_key(k)} for k in keys[start:start + 1000]]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except self._errors() as error:
                raise StorageError(f"could not delete: {error}") from None

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=_check_key(prefix.rstrip("/")) + "/")
            for page in pages:
                keys = [item["Key"] for item in page.get("Contents", [])]
                self.delete(keys)
                count += len(keys)
        except self._errors() as error:
            raise StorageError(f"could not delete {prefix}: {error}") from None
        return count

    def signed_url(self, key: str, content_type: str, ttl_s: int) -> tuple[str, dt.datetime]:
        url = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": _check_key(key), "ResponseContentType": content_type,
                    "ResponseContentDisposition": "inline"},
            ExpiresIn=ttl_s,
        )
        return url, (utcnow() + dt.timedelta(seconds=ttl_s)).replace(microsecond=0)


def get_storage() -> Storage:
    """The app's storage, built once per app from its config."""
    config = current_app.config
    settings = (config["STORAGE_BACKEND"], config["STORAGE_LOCAL_DIR"], config["S3_BUCKET"],
                config["S3_ENDPOINT_URL"], config["S3_REGION"], config["SECRET_KEY"])
    cached = current_app.extensions.get("labelpath_storage")
    if cached is not None and cached[0] == settings:
        return cached[1]
    backend = settings[0]
    if backend == "local":
        storage = LocalDiskStorage(config["STORAGE_LOCAL_DIR"], config["SECRET_KEY"])
    elif backend == "s3":
        storage = S3Storage(config["S3_BUCKET"], config["S3_ENDPOINT_URL"], config["S3_REGION"])
    else:
        raise ValueError(f"STORAGE_BACKEND must be local or s3, not {backend!r}")
    current_app.extensions["labelpath_storage"] = (settings, storage)
    return storage


def media_url_ttl() -> int:
    return int(current_app.config["MEDIA_URL_TTL_S"])
