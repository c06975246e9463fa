"""A leak scan after a full journey: the owner (world.py) has enrolled, passed an exam and holds an
open one, leased and submitted tasks (gold included), collected a photo, earned money and asked
for a payout. Every worker-facing GET of the URL map (everything outside /api/v1/manage), with real
ids, in both languages, must show none of: an exam answer key, a gold answer, an explanation before
grading, a password hash, a refresh token, another worker's email, name, phone, certificate or
money."""

from __future__ import annotations

import re
import secrets

from tests.security.access_matrix import ROWS
from tests.security.test_access_matrix import _url
from tests.security.world import (
    API,
    EXAM_EXPLANATION,
    EXAM_KEY_SECRET,
    EXAMPLE_EXPLANATION,
    GOLD_ANSWER_SECRET,
    OTHER_BONUS,
    OTHER_BONUS_REASON,
)

NOT_WORKER_FACING = ("/api/v1/manage/", "/dashboard")  # staff-only: the console and its pages


def _worker_gets(app) -> list[str]:
    rules = [rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods
             and not rule.rule.startswith(NOT_WORKER_FACING)]
    return sorted(rules)


def _forbidden(world) -> dict[str, str]:
    other = world["other"]
    never = {
        EXAM_KEY_SECRET: "an exam answer key",
        GOLD_ANSWER_SECRET: "a gold answer",
        EXAMPLE_EXPLANATION: "a practice example's explanation before it was answered",
        "$argon2": "a password hash",
        world["owner"].refresh_token: "the worker's refresh token",
        other.refresh_token: "another worker's refresh token",
        other.email: "another worker's email",
        "other 작업자": "another worker's display name",
        world.ids["other_device"]: "another worker's phone token",
        world.ids["other_certificate"]: "another worker's certificate",
        str(OTHER_BONUS): "another worker's earnings",
        f"{OTHER_BONUS:,}": "another worker's earnings",
        OTHER_BONUS_REASON: "another worker's bonus",
    }
    return {text: what for text, what in never.items() if text}


def _text(response) -> str:
    body = response.get_data().decode("utf-8", errors="replace")
    if response.is_json:  # JSON may escape non-ASCII characters
        body += "\n" + str(response.get_json())
    return body + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def _scan(world, path: str, locale: str, forbidden: dict[str, str]) -> tuple[int, list[str]]:
    response = world.call("owner", "GET", path, headers={"Accept-Language": locale})
    text = _text(response)
    return response.status_code, [f"GET {path} ({locale}) shows {what}" for secret, what in forbidden.items()
                                  if secret in text]


def test_no_worker_facing_answer_leaks_secrets(world):
    rows = {row.rule: row for row in ROWS if row.method == "GET"}
    forbidden = _forbidden(world)
    leaks, crawled = [], []
    for rule in _worker_gets(world.app):
        assert rule in rows, f"{rule}: no GET row in access_matrix.py to say which object to fetch"
        path = _url(rows[rule], world)
        for locale in ("ko", "en"):
            status, found = _scan(world, path, locale, forbidden)
            leaks += found
        crawled.append((path, status))
    # The open attempt and the lesson are fetched above; these are where keys would show first.
    extra = [f"{API}/attempts/{world.ids['owner_attempt_submit']}", f"{API}/me/assignments?status=leased",
             f"{API}/me/assignments?status=submitted", f"{API}/me/earnings?limit=100",
             f"{API}/me/notifications?limit=100", f"{API}/courses/{world.ids['slug']}/lessons/{world.ids['lesson_id']}"]
    for path in extra:
        leaks += _scan(world, path, "en", forbidden)[1]
    assert not leaks, "\n".join(leaks)
    # The scan sees what a worker may see: their own email is there, so another's would be too.
    assert world["owner"].email in _text(world.call("owner", "GET", f"{API}/me/export"))
    ok = [path for path, status in crawled if status == 200]
    assert len(ok) >= 30, crawled  # the crawl really read the worker's data, not a wall of 404s


def test_open_attempts_show_no_key_and_no_explanation(world):
    forbidden = {EXAM_EXPLANATION: "an explanation before grading", EXAM_KEY_SECRET: "an answer key",
                 '"correct"': "which answer is right"}
    for attempt in ("owner_attempt", "owner_attempt_submit"):
        path = f"{API}/attempts/{world.ids[attempt]}"
        for locale in ("ko", "en"):
            status, found = _scan(world, path, locale, forbidden)
            assert status == 200 and not found, found
    exams = world.json("owner", "GET", f"{API}/exams")
    assert EXAM_EXPLANATION not in str(exams) and EXAM_KEY_SECRET not in str(exams)
    graded = world.json("owner", "GET", f"{API}/attempts/{world.ids['owner_graded_attempt']}")
    assert graded["result"] is not None and EXAM_KEY_SECRET not in str(graded)  # explanations, never keys


def test_leased_gold_tasks_look_like_any_other_task(world):
    """The lease itself (not only GETs): gold tasks carry no answer; feedback never names it."""
    leased = world.json("owner", "POST", f"{API}/assignments", json={"count": 5},
                        headers={"Idempotency-Key": secrets.token_hex(8)})
    assert leased["assignments"]
    assert GOLD_ANSWER_SECRET not in str(leased) and "gold" not in re.sub(r"\s", "", str(leased)).lower()
    for feedback in world.ids["owner_gold_feedback"]:
        assert set(feedback) <= {"correct", "explanation"} and GOLD_ANSWER_SECRET not in str(feedback)
