"""One of every object a route can name, made the way people make them: through the public API
(and the CLI's import services for the course pack and exam bank, as `flask … import` does).

The owner ("owner") is a worker who has done everything: enrolled, passed an exam (certificate),
holds an open exam attempt, leased and submitted tasks (gold included), collected a photo, earned
money, onboarded with Stripe, requested a payout, registered a phone and has notifications.
"other" is a second worker with a little of their own; reviewer, manager and admin are staff.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PIL import Image, ImageDraw

from backend.extensions import db
from courses import services as courses
from quizzes import services as quizzes
from tests.standins import build_webhook_request

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
ROLES = ("anonymous", "owner", "other", "reviewer", "manager", "admin")

# Distinctive secrets: none of them may ever reach a worker before grading (test_leaks.py).
EXAM_KEY_SECRET = "Zyzzogeton"  # the short-text key; workers answer something else
EXAM_EXPLANATION = "EXAMEXPL-Qx7 the tight box is right"
EXAMPLE_EXPLANATION = "EXAMPLEEXPL-Pm2 tight boxes touch the object"
GOLD_ANSWER_SECRET = "GOLDANSWER-Wq8 합계 14,000"
GOLD_EXPLANATION = "GOLDEXPL-Kv3 keep the comma"
OTHER_BONUS = 777_777  # only the other worker earns this amount
OTHER_BONUS_REASON = "OTHERBONUS-Zr5 for the other worker"

CONSENT = {"version": "2026-11", "text": {"ko": "사진을 AI 학습에 쓰는 데 동의합니다.", "en": "I agree."}}


def exam_body(title: str, *, skill: str = "llm_eval") -> dict:
    return {
        "key": f"sec-{secrets.token_hex(3)}", "title": {"ko": title, "en": title}, "skill": skill,
        "grants_level": 1, "time_limit_s": 3600, "pass_percent": 50, "attempts_allowed": 3,
        "retake_cooldown_s": 60, "validity_days": 365,
        "questions": [
            {"key": "q1", "kind": "single_choice", "prompt": {"ko": "어느 것이 맞나요?", "en": "Which is right?"},
             "options": [{"id": "o1", "text": "Loose box"}, {"id": "o2", "text": "Tight box"}],
             "answer": {"choice": "o2"}, "explanation": {"ko": EXAM_EXPLANATION, "en": EXAM_EXPLANATION}},
            {"key": "q2", "kind": "short_text", "prompt": "Name the mineral.",
             "answer": {"text": EXAM_KEY_SECRET}, "explanation": EXAM_EXPLANATION},
        ],
    }


def course_body(slug: str) -> dict:
    return {
        "slug": slug, "title": {"ko": "보안 과정", "en": "Security course"}, "skill": "llm_eval", "level": 1,
        "modules": [{"title": "Module", "lessons": [
            {"key": "one", "title": "One", "blocks": [
                {"kind": "markdown", "text": "# Hello"},
                {"kind": "example", "question": {
                    "key": "ex1", "kind": "single_choice", "prompt": "Pick the tight box.",
                    "options": [{"id": "a", "text": "Loose"}, {"id": "b", "text": "Tight"}],
                    "answer": {"choice": "b"}, "explanation": EXAMPLE_EXPLANATION}}]},
            {"key": "two", "title": "Two", "blocks": [{"kind": "markdown", "text": "Two"}]},
        ]}],
    }


def photo(seed: int) -> bytes:
    image = Image.new("RGB", (400, 300), (seed * 37 % 256, 90, 160))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        draw.rectangle((i * 40 + seed % 30, i * 25, i * 40 + 60, i * 25 + 70), fill=(i * 40, seed % 256, 30))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Person:
    role: str
    id: int | None = None
    email: str | None = None
    password: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}


@dataclass
class World:
    app: object
    client: object
    people: dict[str, Person] = field(default_factory=dict)
    ids: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, role: str) -> Person:
        return self.people[role]

    # -- HTTP helpers
    def call(self, role: str, method: str, path: str, expect: int | tuple | None = None, **kwargs):
        headers = {**self.people[role].headers, **kwargs.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        response.get_data()  # read streamed bodies (files, exports) to the end, then let them go
        response.close()
        if expect is not None:
            wanted = expect if isinstance(expect, tuple) else (expect,)
            assert response.status_code in wanted, (method, path, response.status_code, response.get_data(True)[:500])
        return response

    def json(self, role, method, path, expect=200, **kwargs):
        return self.call(role, method, path, expect, **kwargs).get_json()

    # -- the build
    @classmethod
    def build(cls, app, client, auth, stripe_server) -> World:
        app.config["PAYOUT_MINIMUM"] = 100
        world = cls(app, client)
        world.people["anonymous"] = Person("anonymous")
        for role in ("owner", "other"):
            account = auth.register(display_name=f"{role} 작업자")
            world.people[role] = Person(role, account.id, account.email, account.password, account.access_token,
                                        account.refresh_token)
        for role in ("reviewer", "manager", "admin"):
            account = auth.create(role)
            world.people[role] = Person(role, account.id, account.email, account.password, account.access_token,
                                        account.refresh_token)
        world.ids["owner_id"] = world.people["owner"].id
        world._content()
        world._certify("owner")
        world._certify("other", keep_open=False)
        world._work()
        world._collect()
        world._money(stripe_server)
        world._phone()
        return world

    def _content(self) -> None:
        ids = self.ids
        with self.app.app_context():
            courses.import_packs(ROOT / "courses" / "packs" / "bbox-basics")
            quizzes.import_banks(ROOT / "quizzes" / "banks" / "bbox-level-1.yaml")
            db.session.commit()
        pack = self.json("manager", "GET", f"{API}/manage/courses/bbox-basics")
        image = next(block for module in pack["modules"] for lesson in module["lessons"]
                     for block in lesson["blocks"] if block["kind"] == "image")
        ids["course_media"] = image["url"].split("?")[0].rsplit("/", 1)[1]
        bank = next(item for item in self.json("manager", "GET", f"{API}/manage/exams")["items"]
                    if item["key"] == "bbox-level-1")
        bank_exam = self.json("manager", "GET", f"{API}/manage/exams/{bank['id']}")
        media_url = next(m["url"] for q in bank_exam["questions"] for m in q.get("media") or [])
        ids["quiz_media"] = media_url.split("?")[0].rsplit("/", 1)[1]

        slug = f"sec-course-{secrets.token_hex(2)}"
        self.json("manager", "POST", f"{API}/manage/courses", 201, json={**course_body(slug), "published": True})
        ids["slug"] = slug
        detail = self.json("owner", "GET", f"{API}/courses/{slug}")
        ids["lesson_id"] = detail["modules"][0]["lessons"][0]["id"]
        ids["question_key"] = "ex1"
        self.json("owner", "POST", f"{API}/courses/{slug}/enrollment", 201)
        self.json("owner", "POST", f"{API}/courses/{slug}/lessons/{ids['lesson_id']}/completion")

        draft = f"sec-draft-{secrets.token_hex(2)}"
        self.json("manager", "POST", f"{API}/manage/courses", 201, json={**course_body(draft), "published": False})
        ids["draft_slug"] = draft
        for name in ("exam_passed", "exam_open", "exam_submit", "exam_fresh", "exam_manage"):
            ids[name] = self.json("manager", "POST", f"{API}/manage/exams", 201, json=exam_body(name))["id"]

    def _certify(self, role: str, keep_open: bool = True) -> None:
        ids = self.ids
        attempt = self.json(role, "POST", f"{API}/exams/{ids['exam_passed']}/attempts", 201)
        answers = {}
        for question in attempt["questions"]:
            answers[str(question["id"])] = ({"choice": "o2"} if question["kind"] == "single_choice"
                                            else {"text": "not the key"})
        result = self.json(role, "POST", f"{API}/attempts/{attempt['id']}/submission", json={"answers": answers})
        assert result["passed"], result
        ids[f"{role}_certificate"] = result["certificate"]["code"]
        ids[f"{role}_graded_attempt"] = attempt["id"]
        if keep_open:
            opened = self.json(role, "POST", f"{API}/exams/{ids['exam_open']}/attempts", 201)
            ids[f"{role}_attempt"] = opened["id"]
            ids[f"{role}_attempt_question"] = opened["questions"][0]["id"]
            ids[f"{role}_attempt_question_kind"] = opened["questions"][0]["kind"]
            ids[f"{role}_attempt_submit"] = self.json(role, "POST", f"{API}/exams/{ids['exam_submit']}/attempts",
                                                      201)["id"]

    def _work(self) -> None:
        ids = self.ids
        project = self.json("manager", "POST", f"{API}/manage/projects", 201, json={
            "title": {"ko": "영수증 전사", "en": "Receipts"}, "skill": "llm_eval", "task_type": "transcription",
            "config": {}, "difficulty": 1, "reward": {"amount": 100}, "overlap": 2,
            "lease_seconds": 600, "gold_ratio": 0.5})
        ids["project_id"] = project["id"]
        tasks = [{"payload": {"image_url": f"https://img.example/r{i}.jpg"}, "external_id": f"t{i}"} for i in range(12)]
        tasks += [{"payload": {"image_url": f"https://img.example/g{i}.jpg"}, "gold_answer": {"text": GOLD_ANSWER_SECRET},
                   "explanation": {"ko": GOLD_EXPLANATION, "en": GOLD_EXPLANATION}, "external_id": f"g{i}"}
                  for i in range(4)]
        self.json("manager", "POST", f"{API}/manage/projects/{project['id']}/tasks", json=tasks)
        for role in ("owner", "other"):
            plain, gold = [], []
            for _ in range(16):  # one at a time until the worker has answered gold and plain tasks
                if len(plain) >= 3 and (gold or role == "other"):
                    break
                item = self._lease(role, project["id"], 1)[0]
                body = self.json(role, "POST", f"{API}/assignments/{item['id']}/submission", 201,
                                 json={"answer": {"text": "합계 9,000"}, "duration_ms": 4000},
                                 headers={"Idempotency-Key": secrets.token_hex(8)})
                (gold if body.get("feedback") else plain).append(body)
            assert len(plain) >= 3 and (gold or role == "other"), (plain, gold)
            ids[f"{role}_assignment"], ids[f"{role}_assignment_giveback"], ids[f"{role}_assignment_submit"] = [
                item["id"] for item in self._lease(role, project["id"], 3)]
            ids[f"{role}_submission"] = plain[0]["id"]
            ids[f"{role}_unreviewed_submission"] = plain[1]["id"]
            ids[f"{role}_rejected_submission"] = plain[2]["id"]
            ids[f"{role}_gold_feedback"] = [body["feedback"] for body in gold]
        # A rejection the owner appealed (the manager rejected it, so a reviewer decides), and a
        # rejection not appealed yet.
        rejected = {"decision": "reject", "reason_code": "wrong_label", "note": "라벨이 틀렸습니다."}
        self.json("manager", "POST", f"{API}/manage/submissions/{ids['owner_submission']}/review", 201, json=rejected)
        self.json("manager", "POST", f"{API}/manage/submissions/{ids['owner_rejected_submission']}/review", 201,
                  json=rejected)
        appeal = self.json("owner", "POST", f"{API}/submissions/{ids['owner_submission']}/appeal", 201,
                           json={"message": "다시 봐 주세요."})
        ids["owner_appeal"] = appeal["id"]

    def _lease(self, role: str, project_id: int, count: int) -> list[dict]:
        leased = self.json(role, "POST", f"{API}/assignments", json={"project_id": project_id, "count": count},
                           headers={"Idempotency-Key": secrets.token_hex(8)})["assignments"]
        assert len(leased) == count, leased
        return leased

    def _collect(self) -> None:
        ids = self.ids
        project = self.json("manager", "POST", f"{API}/manage/projects", 201, json={
            "title": "Signs", "skill": "llm_eval", "task_type": "collection", "difficulty": 1,
            "reward": {"amount": 300}, "overlap": 3, "lease_seconds": 900, "gold_ratio": 0.0,
            "config": {"media": "image", "formats": ["png", "jpeg"], "min_width": 100, "min_height": 100,
                       "max_files": 1, "prompt": "Photograph a sign.", "consent": CONSENT}})
        ids["collection_project_id"] = project["id"]
        self.json("manager", "POST", f"{API}/manage/projects/{project['id']}/tasks",
                  json=[{"payload": {}, "external_id": f"c{i}"} for i in range(3)])
        for role, seed in (("owner", 3), ("other", 11)):
            leased = self.json(role, "POST", f"{API}/assignments", json={"project_id": project["id"], "count": 2},
                               headers={"Idempotency-Key": secrets.token_hex(8)})["assignments"]
            done, open_ = leased[0]["id"], leased[1]["id"]
            upload_id = self._upload(role, done, photo(seed))
            submission = self.json(role, "POST", f"{API}/assignments/{done}/submission", 201, json={
                "answer": {"uploads": [upload_id], "consent": {"version": CONSENT["version"], "accepted": True}}},
                headers={"Idempotency-Key": secrets.token_hex(8)})
            ids[f"{role}_collection_submission"] = submission["id"]
            ids[f"{role}_collection_assignment"] = open_
            for name in ("upload", "upload_delete"):
                pending = self.json(role, "POST", f"{API}/assignments/{open_}/uploads", 201, json={"size": 1000})
                ids[f"{role}_{name}"] = pending["id"]
        media = self.json("reviewer", "GET", f"{API}/manage/submissions/{ids['owner_collection_submission']}/media")
        ids["media_token"] = media["items"][0]["url"].split("?")[0].rsplit("/", 1)[1]

    def _upload(self, role: str, assignment_id: int, data: bytes) -> int:
        created = self.json(role, "POST", f"{API}/assignments/{assignment_id}/uploads", 201, json={"size": len(data)})
        self.call(role, "PATCH", f"{API}/uploads/{created['id']}", 204, data=data, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        return created["id"]

    def _money(self, stripe_server) -> None:
        from tests.security.conftest import CONNECT_SECRET

        ids = self.ids
        for role in ("owner", "other"):
            account = self.json(role, "POST", f"{API}/me/payout-account")
            browser = requests.get(account["onboarding_url"], allow_redirects=False, timeout=5)
            assert browser.status_code == 302
            account_id = account["onboarding_url"].split("/")[-2]
            updated = [e for e in stripe_server.events if e["type"] == "account.updated" and e["account"] == account_id]
            body, headers = build_webhook_request(updated[-1], CONNECT_SECRET)
            assert self.client.post(f"{API}/webhooks/stripe", data=body, headers=headers).status_code == 200
            payout = self.json(role, "POST", f"{API}/me/payouts", 201, json={"amount": 100},
                               headers={"Idempotency-Key": secrets.token_hex(8)})
            ids[f"{role}_payout"] = payout["id"]
        self.json("manager", "POST", f"{API}/manage/workers/{self['owner'].id}/bonuses", 201,
                  json={"amount": 500, "reason": "보너스"}, headers={"Idempotency-Key": secrets.token_hex(8)})
        self.json("manager", "POST", f"{API}/manage/workers/{self['other'].id}/bonuses", 201,
                  json={"amount": OTHER_BONUS, "reason": OTHER_BONUS_REASON},
                  headers={"Idempotency-Key": secrets.token_hex(8)})

    def _phone(self) -> None:
        ids = self.ids
        for role in ("owner", "other"):
            token = f"fcm-{role}-{secrets.token_hex(8)}:APA91b{'x' * 24}"
            self.json(role, "POST", f"{API}/me/devices", 201, json={"token": token, "platform": "android"})
            ids[f"{role}_device"] = token
            feed = self.json(role, "GET", f"{API}/me/notifications")["items"]
            assert feed, f"{role} has no notification"
            ids[f"{role}_notification"] = feed[0]["id"]
