"""Collection tests: projects made through the manager API, phones that upload in chunks, and
an S3 stand-in (moto's server, over real HTTP) for the bucket backend."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass

import pytest

from backend.extensions import db
from backend.skills import services as skills

CONSENT = {"version": "2026-11", "text": {"ko": "촬영한 사진을 AI 학습에 쓰는 데 동의합니다.",
                                          "en": "I agree that my photo is used to train AI."}}
SIGN_CONFIG = {"media": "image", "formats": ["jpeg", "png"], "max_bytes": 2 * 1024 * 1024,
               "min_width": 320, "min_height": 240, "prompt": {"ko": "한국어 도로 표지판을 찍어 주세요.",
                                                               "en": "Photograph a Korean street sign."},
               "consent": CONSENT}


@dataclass
class Sent:
    upload_id: int
    status: int  # of the last PATCH
    body: dict | None


class Phones:
    """What a phone and a manager do over HTTP, as a new user would."""

    def __init__(self, app, client, auth):
        self.app, self.client, self.auth = app, client, auth
        self.manager = auth.create("manager")

    # --- manager side
    def project(self, config: dict | None = None, tasks: int = 3, skill: str = "ocr", **fields) -> int:
        body = {"title": {"ko": "도로 표지판", "en": "Street signs"}, "skill": skill, "task_type": "collection",
                "config": config if config is not None else SIGN_CONFIG, "difficulty": 1,
                "reward": {"amount": 300}, "overlap": 3, "lease_seconds": 900, "gold_ratio": 0.0, **fields}
        response = self.client.post("/api/v1/manage/projects", json=body, headers=self.manager.headers)
        assert response.status_code == 201, response.get_json()
        project_id = response.get_json()["id"]
        items = [{"payload": {}, "external_id": f"sign-{i}"} for i in range(tasks)]
        response = self.client.post(f"/api/v1/manage/projects/{project_id}/tasks", json=items,
                                    headers=self.manager.headers)
        assert response.status_code == 200, response.get_json()
        return project_id

    # --- phone side
    def worker(self, skill: str = "ocr"):
        account = self.auth.register()
        with self.app.app_context():
            skills.ensure_starter_skills()
            skills.set_level(account.id, skill, 1, "test certification", source="override")
            db.session.commit()
        return account

    def lease(self, worker, project_id: int) -> int:
        response = self.client.post("/api/v1/assignments", json={"project_id": project_id, "count": 1},
                                    headers=worker.headers)
        assert response.status_code == 200, response.get_json()
        assignments = response.get_json()["assignments"]
        assert assignments, response.get_json()
        return assignments[0]["id"]

    def create(self, worker, assignment_id: int, size: int, status: int = 201, **extra):
        response = self.client.post(f"/api/v1/assignments/{assignment_id}/uploads", json={"size": size, **extra},
                                    headers=worker.headers)
        assert response.status_code == status, response.get_json()
        return response

    def patch(self, worker, upload_id: int, offset: int, chunk: bytes, **headers):
        return self.client.patch(f"/api/v1/uploads/{upload_id}", data=chunk, headers={
            **worker.headers, "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream", **headers})

    def send(self, worker, assignment_id: int, data: bytes, chunks: int = 1, **extra) -> Sent:
        upload_id = self.create(worker, assignment_id, len(data), **extra).get_json()["id"]
        step = -(-len(data) // chunks)
        response = None
        for offset in range(0, len(data), step):
            response = self.patch(worker, upload_id, offset, data[offset:offset + step])
            if response.status_code != 204:
                break
        return Sent(upload_id, response.status_code, response.get_json() if response.data else None)

    def submit(self, worker, assignment_id: int, upload_ids: list[int], version: str = CONSENT["version"],
               status: int = 201, accepted: bool = True):
        response = self.client.post(
            f"/api/v1/assignments/{assignment_id}/submission",
            json={"answer": {"uploads": upload_ids, "consent": {"version": version, "accepted": accepted}}},
            headers={**worker.headers, "Idempotency-Key": secrets.token_hex(8)})
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def media(self, account, submission_id: int, status: int = 200):
        response = self.client.get(f"/api/v1/manage/submissions/{submission_id}/media", headers=account.headers)
        assert response.status_code == status, response.get_json()
        return response.get_json()


@pytest.fixture
def phones(app, client, auth, tmp_path):
    app.config["STORAGE_LOCAL_DIR"] = str(tmp_path / "media")
    return Phones(app, client, auth)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A bucket server on the loopback (moto's S3, spoken to over HTTP by the real boto3)."""
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                      "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="test-key", AWS_SECRET_ACCESS_KEY="test-secret",
                      AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_endpoint):
    import boto3

    name = f"labelpath-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name
