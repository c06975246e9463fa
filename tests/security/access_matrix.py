"""Who may see and do what: every route × every kind of caller → the status they get.

ADDING A ROUTE? Add a Row here (test_access_matrix.py fails until you do, naming the route).
A row names the route exactly as Flask's URL map spells it (`rule`) and its method, says which
real object fills each path parameter (`path`: parameter → a key of World.ids, tests/security/
world.py — add the object to World if it is new), gives a body when the route takes one, and the
expected status for each caller:

    anonymous  no token                        owner     the worker who owns the object
    other      another worker                  reviewer / manager / admin   staff accounts

Shorthands build the usual patterns: `mine(...)` (a worker's own object: others get 404, never
403, so nobody learns it exists), `signed_in(...)`, `staff(...)`, `reviewers(...)`, `admins(...)`,
`public(...)`. The rows run top to bottom against ONE world, each row's callers in the order of
ORDER (the owner last), so a row that changes what a later row sees (deleting, revoking, giving
back) works on objects of its own, made for it in World.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ORDER = ("anonymous", "other", "reviewer", "manager", "admin", "owner")
API = "/api/v1"


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    expect: dict[str, int]
    path: dict[str, str] = field(default_factory=dict)  # parameter → World.ids key (or "=literal")
    json: object = None  # a body, or a function (world, role) → body
    headers: dict | Callable | None = None
    data: bytes | None = None
    form: object = None  # dashboard rows: form fields, or a function (world, role) → fields
    dashboard: bool = False  # the caller signs in to the HTML dashboard (cookie session + CSRF), no token

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.rule


def _roles(anonymous, owner, other, reviewer, manager, admin) -> dict[str, int]:
    return {"anonymous": anonymous, "owner": owner, "other": other, "reviewer": reviewer, "manager": manager,
            "admin": admin}


def public(status: int = 200, **overrides) -> dict[str, int]:
    return {**_roles(status, status, status, status, status, status), **overrides}


def signed_in(status: int = 200, **overrides) -> dict[str, int]:
    """Any logged-in user; each acts on their own account."""
    return {**_roles(401, status, status, status, status, status), **overrides}


def mine(owner: int = 200, **overrides) -> dict[str, int]:
    """The owner's object: everybody else gets 404 (never 403: nobody learns it exists)."""
    return {**_roles(401, owner, 404, 404, 404, 404), **overrides}


def staff(status: int = 200, **overrides) -> dict[str, int]:
    return {**_roles(401, 403, 403, 403, status, status), **overrides}


def reviewers(status: int = 200, **overrides) -> dict[str, int]:
    return {**_roles(401, 403, 403, status, status, status), **overrides}


def admins(status: int = 200, **overrides) -> dict[str, int]:
    return {**_roles(401, 403, 403, 403, 403, status), **overrides}


def dash(status: int = 200, **overrides) -> dict[str, int]:
    """A dashboard page: staff signed in get it; everybody else is sent to the sign-in page."""
    return {**_roles(302, 302, 302, 302, status, status), **overrides}


def _person(world, role):
    return world.people[role]


def _login(world, role):
    person = _person(world, role)
    return {"email": person.email or "nobody@example.com", "password": person.password or "wrong password"}


def _refresh(world, role):
    return {"refresh_token": _person(world, role).refresh_token or "not-a-token"}


def _device(world, role):
    return {"token": f"fcm-matrix-{role}:APA91b{'y' * 24}", "platform": "android"}


def _chunk_headers(world, role):
    return {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}


def _delete_me(world, role):
    return {"password": _person(world, role).password or "wrong password"}


def _exam_answer(world, role):
    return {"answer": {"choice": "o2"}}


def _idem(world, role):
    import secrets

    return {"Idempotency-Key": secrets.token_hex(8)}


def _course(world, role):
    from tests.security.world import course_body

    return {**course_body(f"matrix-{role}"), "published": False}


def _course_update(world, role):
    from tests.security.world import course_body

    return course_body(world.ids["draft_slug"])


def _exam(world, role):
    from tests.security.world import exam_body

    return exam_body(f"matrix {role}")


def _project(world, role):
    return {"title": "Matrix", "skill": "llm_eval", "task_type": "classification", "config": {"labels": ["a", "b"]},
            "difficulty": 1, "reward": {"amount": 10}}


LEVEL_RULE = {"min_gold": 20, "promote_at": 0.9, "demote_below": 0.5, "window": 30}

ROWS: list[Row] = [
    # --- service and documentation
    Row("GET", "/healthz", public()),
    Row("GET", "/readyz", public()),
    Row("GET", "/metrics", public()),
    Row("GET", "/api/v1/openapi.json", public()),
    Row("GET", "/api/docs", public()),
    Row("GET", "/api/docs/static/<path:filename>", public(), path={"filename": "=swagger-ui.css"}),
    Row("GET", "/static/<path:filename>", public(404), path={"filename": "=nothing.txt"}),

    # --- accounts
    Row("POST", "/api/v1/auth/register", public(201),
        json=lambda world, role: {"email": f"new-{role}@example.com", "password": "correct horse 1",
                                  "display_name": role}),
    Row("POST", "/api/v1/auth/login", public(200, anonymous=401), json=_login),
    Row("POST", "/api/v1/auth/refresh", public(200, anonymous=401), json=_refresh),
    Row("GET", "/api/v1/me", signed_in()),
    Row("PATCH", "/api/v1/me", signed_in(), json={"timezone": "Asia/Seoul"}),
    Row("GET", "/api/v1/me/export", signed_in()),
    Row("GET", "/api/v1/skills", signed_in()),
    Row("GET", "/api/v1/me/skills", signed_in()),

    # --- training
    Row("GET", "/api/v1/courses", signed_in()),
    Row("GET", "/api/v1/courses/<slug>", signed_in(), path={"slug": "slug"}),
    Row("GET", "/api/v1/courses/<slug>/lessons/<int:lesson_id>", signed_in(),
        path={"slug": "slug", "lesson_id": "lesson_id"}),
    Row("POST", "/api/v1/courses/<slug>/lessons/<int:lesson_id>/completion", signed_in(409, owner=200),
        path={"slug": "slug", "lesson_id": "lesson_id"}),
    Row("POST", "/api/v1/courses/<slug>/enrollment", signed_in(201, owner=200), path={"slug": "slug"}),
    Row("POST", "/api/v1/courses/<slug>/examples/<question_key>/answer", signed_in(),
        path={"slug": "slug", "question_key": "question_key"}, json={"answer": {"choice": "b"}}),
    Row("GET", "/api/v1/media/courses/<slug>/<path:name>", public(),
        path={"slug": "=bbox-basics", "name": "course_media"}),

    # --- certification
    Row("GET", "/api/v1/exams", signed_in()),
    Row("POST", "/api/v1/exams/<int:exam_id>/attempts", signed_in(201), path={"exam_id": "exam_fresh"}),
    Row("GET", "/api/v1/attempts/<int:attempt_id>", mine(), path={"attempt_id": "owner_attempt"}),
    Row("PUT", "/api/v1/attempts/<int:attempt_id>/answers/<int:question_id>", mine(),
        path={"attempt_id": "owner_attempt", "question_id": "owner_attempt_question"}, json=_exam_answer),
    Row("POST", "/api/v1/attempts/<int:attempt_id>/submission", mine(), path={"attempt_id": "owner_attempt_submit"},
        json={}),
    Row("GET", "/api/v1/me/certificates", signed_in()),
    Row("GET", "/api/v1/certificates/<code>", public(), path={"code": "owner_certificate"}),
    Row("GET", "/api/v1/media/quizzes/<name>", public(), path={"name": "quiz_media"}),

    # --- micro-tasks
    Row("GET", "/api/v1/projects", signed_in()),
    Row("POST", "/api/v1/assignments", signed_in(), json={"count": 1}, headers=_idem),
    Row("POST", "/api/v1/assignments/<int:assignment_id>/heartbeat", mine(), path={"assignment_id": "owner_assignment"}),
    Row("POST", "/api/v1/assignments/<int:assignment_id>/submission", mine(201),
        path={"assignment_id": "owner_assignment_submit"}, json={"answer": {"text": "합계 1,000"}}, headers=_idem),
    Row("DELETE", "/api/v1/assignments/<int:assignment_id>", mine(204),
        path={"assignment_id": "owner_assignment_giveback"}),
    Row("GET", "/api/v1/me/assignments", signed_in()),
    Row("GET", "/api/v1/me/work-preferences", signed_in()),
    Row("PUT", "/api/v1/me/work-preferences", signed_in(), json={"sensitive_content": False}),

    # --- collection uploads
    Row("GET", "/api/v1/assignments/<int:assignment_id>/collection", mine(),
        path={"assignment_id": "owner_collection_assignment"}),
    Row("POST", "/api/v1/assignments/<int:assignment_id>/uploads", mine(201),
        path={"assignment_id": "owner_collection_assignment"}, json={"size": 2000}),
    Row("GET", "/api/v1/uploads/<int:upload_id>", mine(), path={"upload_id": "owner_upload"}),
    Row("PATCH", "/api/v1/uploads/<int:upload_id>", mine(204), path={"upload_id": "owner_upload"},
        data=b"\x89PNG\r\n\x1a\n", headers=_chunk_headers),
    Row("DELETE", "/api/v1/uploads/<int:upload_id>", mine(204), path={"upload_id": "owner_upload_delete"}),
    Row("GET", "/api/v1/manage/submissions/<int:submission_id>/media", reviewers(),
        path={"submission_id": "owner_collection_submission"}),
    Row("GET", "/api/v1/media/collected/<string:token>", public(), path={"token": "media_token"}),

    # --- reviews, appeals, pauses
    Row("GET", "/api/v1/me/reviews", signed_in()),
    Row("POST", "/api/v1/submissions/<int:submission_id>/appeal", mine(201),
        path={"submission_id": "owner_rejected_submission"}, json={"message": "제 답이 맞습니다."}),
    Row("GET", "/api/v1/me/pauses", signed_in()),
    Row("POST", "/api/v1/me/pauses/<int:pause_id>/retraining", signed_in(404), path={"pause_id": "=999999"},
        json={"key": "ex1", "answer": {"choice": "b"}}),
    Row("GET", "/api/v1/manage/reviews", reviewers()),
    Row("POST", "/api/v1/manage/submissions/<int:submission_id>/review", reviewers(201, manager=409, admin=409),
        path={"submission_id": "owner_unreviewed_submission"}, json={"decision": "approve"}),
    Row("GET", "/api/v1/manage/review-reasons", reviewers()),
    Row("GET", "/api/v1/manage/appeals", reviewers()),
    Row("POST", "/api/v1/manage/appeals/<int:appeal_id>/decision", reviewers(200, manager=403, admin=409),
        path={"appeal_id": "owner_appeal"}, json={"decision": "uphold", "note": "맞지 않습니다."}),
    Row("GET", "/api/v1/manage/pauses", staff()),
    Row("POST", "/api/v1/manage/workers/<int:worker_id>/pauses/<int:project_id>/lift", staff(404),
        path={"worker_id": "owner_id", "project_id": "project_id"}, json={"reason": "test"}),
    Row("GET", "/api/v1/manage/level-rules", admins()),
    Row("PUT", "/api/v1/manage/level-rules/<string:skill>/<int:level>", admins(),
        path={"skill": "=llm_eval", "level": "=2"}, json=LEVEL_RULE),
    Row("DELETE", "/api/v1/manage/level-rules/<string:skill>/<int:level>", admins(),
        path={"skill": "=llm_eval", "level": "=2"}),

    # --- money
    Row("GET", "/api/v1/me/earnings", signed_in()),
    Row("GET", "/api/v1/me/payout-account", signed_in()),
    Row("POST", "/api/v1/me/payout-account", signed_in()),
    Row("GET", "/api/v1/me/payouts", signed_in()),
    Row("POST", "/api/v1/me/payouts", signed_in(409, owner=201, other=201), json={"amount": 100}, headers=_idem),
    Row("GET", "/api/v1/payout-account/return", public()),
    Row("GET", "/api/v1/payout-account/refresh", public()),
    Row("POST", "/api/v1/webhooks/stripe", public(400), json={"id": "evt_x", "type": "account.updated"}),
    Row("GET", "/api/v1/manage/payouts", staff()),
    Row("POST", "/api/v1/manage/workers/<int:worker_id>/bonuses", staff(201), path={"worker_id": "owner_id"},
        json={"amount": 100, "reason": "감사합니다"}, headers=_idem),

    # --- notifications
    Row("POST", "/api/v1/me/devices", signed_in(201), json=_device),
    Row("GET", "/api/v1/me/devices", signed_in()),
    Row("DELETE", "/api/v1/me/devices/<string:token>", mine(204), path={"token": "owner_device"}),
    Row("GET", "/api/v1/me/notifications", signed_in()),
    Row("POST", "/api/v1/me/notifications/<int:notification_id>/read", mine(),
        path={"notification_id": "owner_notification"}),
    Row("POST", "/api/v1/me/notifications/read-all", signed_in()),
    Row("GET", "/api/v1/me/notification-preferences", signed_in()),
    Row("PUT", "/api/v1/me/notification-preferences", signed_in(), json={"categories": {"tasks": True}}),

    # --- manager console: courses, exams, projects, audit
    Row("GET", "/api/v1/manage/courses", staff()),
    Row("POST", "/api/v1/manage/courses", staff(201), json=_course),
    Row("GET", "/api/v1/manage/courses/<slug>", staff(), path={"slug": "slug"}),
    Row("PUT", "/api/v1/manage/courses/<slug>", staff(), path={"slug": "draft_slug"}, json=_course_update),
    Row("POST", "/api/v1/manage/courses/<slug>/publication", staff(), path={"slug": "draft_slug"}),
    Row("DELETE", "/api/v1/manage/courses/<slug>/publication", staff(), path={"slug": "draft_slug"}),
    Row("GET", "/api/v1/manage/exams", staff()),
    Row("POST", "/api/v1/manage/exams", staff(201), json=_exam),
    Row("GET", "/api/v1/manage/exams/<int:exam_id>", staff(), path={"exam_id": "exam_passed"}),
    Row("PUT", "/api/v1/manage/exams/<int:exam_id>", staff(), path={"exam_id": "exam_manage"}, json=_exam),
    Row("GET", "/api/v1/manage/exams/<int:exam_id>/stats", staff(), path={"exam_id": "exam_passed"}),
    Row("POST", "/api/v1/manage/certificates/<code>/revocation", staff(), path={"code": "other_certificate"},
        json={"reason": "test revocation"}),
    Row("GET", "/api/v1/manage/projects", staff()),
    Row("POST", "/api/v1/manage/projects", staff(201), json=_project),
    Row("GET", "/api/v1/manage/projects/<int:project_id>", staff(), path={"project_id": "project_id"}),
    Row("PATCH", "/api/v1/manage/projects/<int:project_id>", staff(), path={"project_id": "project_id"},
        json={"priority": 5}),
    Row("GET", "/api/v1/manage/projects/<int:project_id>/progress", staff(), path={"project_id": "project_id"}),
    Row("GET", "/api/v1/manage/projects/<int:project_id>/quality", staff(), path={"project_id": "project_id"}),
    Row("GET", "/api/v1/manage/projects/<int:project_id>/results", staff(), path={"project_id": "project_id"}),
    Row("POST", "/api/v1/manage/projects/<int:project_id>/tasks", staff(), path={"project_id": "project_id"},
        json=lambda world, role: [{"payload": {"text": f"추가 {role}"}}]),
    Row("GET", "/api/v1/manage/audit", admins()),

    # --- manager console: workforce
    Row("GET", "/api/v1/manage/workforce/summary", staff()),
    Row("GET", "/api/v1/manage/workforce/funnel", staff()),
    Row("GET", "/api/v1/manage/workforce/throughput", staff()),
    Row("GET", "/api/v1/manage/workforce/accuracy", staff()),
    Row("GET", "/api/v1/manage/workforce/certificates/expiring", staff()),
    Row("GET", "/api/v1/manage/workforce/projects", staff()),
    Row("GET", "/api/v1/manage/workers", staff()),
    Row("GET", "/api/v1/manage/workers/<int:worker_id>", staff(), path={"worker_id": "owner_id"}),
    Row("PUT", "/api/v1/manage/workers/<int:worker_id>/skills/<skill>", staff(),
        path={"worker_id": "owner_id", "skill": "=audio_transcription"}, json={"level": 1, "reason": "matrix"}),

    # --- the workforce dashboard: HTML with its own cookie session and CSRF token. Each caller uses a
    # browser of their own that signs in with their password (only staff get a session) and also
    # sends their bearer token, which must count for nothing there. tests/workforce has the rest.
    Row("GET", "/dashboard/static/<path:filename>", public(), path={"filename": "=dashboard.css"}, dashboard=True),
    Row("GET", "/dashboard/login", public(200, manager=302, admin=302), dashboard=True),
    Row("POST", "/dashboard/login", _roles(401, 403, 403, 403, 303, 303), dashboard=True,
        form=lambda world, role: {**_login(world, role), "next": "/dashboard/"}),
    Row("GET", "/dashboard/", dash(), dashboard=True),
    Row("GET", "/dashboard/workers", dash(), dashboard=True),
    Row("GET", "/dashboard/workers.csv", dash(), dashboard=True),
    Row("GET", "/dashboard/workers/<int:worker_id>", dash(), path={"worker_id": "owner_id"}, dashboard=True),
    Row("POST", "/dashboard/workers/<int:worker_id>/skills/<skill>", dash(303),
        path={"worker_id": "owner_id", "skill": "=audio_transcription"}, form={"level": "1", "reason": "matrix"},
        dashboard=True),
    Row("POST", "/dashboard/logout", public(303), dashboard=True),

    # --- last: rows that end a session or an account
    Row("POST", "/api/v1/auth/logout", public(204), json=_refresh),
    Row("DELETE", "/api/v1/me", signed_in(204), json=_delete_me),
]
