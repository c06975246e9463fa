"""The summary counts certificates in SQL (one grouped pass, an index probe for "replaced"); its
figures must stay those of the quizzes domain's own functions, also in the cases the hand-counted
workforce does not have: staff and deleted holders, revoked, expired and replaced certificates,
a lower level or a revoked certificate that replaces nothing, two certificates expiring together."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa

from backend.accounts.models import User
from backend.extensions import db
from backend.workforce import services
from quizzes import services as quizzes
from quizzes.models import Attempt, Certificate
from tests.workforce.conftest import NOW, at

DAY = dt.timedelta(days=1)


def _certificate(exam_id: int, user_id: int, skill: str, level: int, expires_in: dt.timedelta, *,
                 revoked: bool = False) -> None:
    attempt = Attempt(exam_id=exam_id, user_id=user_id, seed=1, status="graded", started_at=NOW - 2 * DAY,
                      deadline=NOW - 2 * DAY, closed_at=NOW - 2 * DAY, graded_at=NOW - 2 * DAY, passed=True)
    db.session.add(attempt)
    db.session.flush()
    db.session.add(Certificate(code=f"T{attempt.id:012d}", user_id=user_id, exam_id=exam_id, attempt_id=attempt.id,
                               skill_code=skill, level=level, issued_at=NOW - 2 * DAY, expires_at=NOW + expires_in,
                               revoked_at=NOW - DAY if revoked else None))
    db.session.flush()


def test_certificate_figures_are_the_quizzes_domain_s(app, workforce):
    ids = workforce.ids
    with app.app_context(), at(NOW):
        def add(key, skill, level, days, **kw):
            _certificate(workforce.exam_id, ids[key], skill, level, dt.timedelta(days=days), **kw)

        add("emma", "bbox", 1, 10)
        add("emma", "bbox", 2, 200)  # replaces the level-1 certificate: it is not "expiring"
        add("emma", "ocr", 1, 5)
        add("emma", "ocr", 1, 3)  # replaced by the one expiring later (same level)
        add("manager", "bbox", 1, 100)  # staff: certified in the skill, not in the workforce's total
        add("gone", "ocr", 3, 20)  # a deleted account's certificate still expires
        add("jihun", "bbox", 1, 7, revoked=True)
        add("jihun", "ocr", 1, 15)
        add("jihun", "ocr", 2, 300, revoked=True)  # revoked: replaces nothing
        add("seoyeon", "audio_transcription", 2, -1)  # expired yesterday
        add("yujin", "llm_eval", 3, 12)
        add("yujin", "llm_eval", 2, 300)  # a lower level replaces nothing
        add("yujin", "audio_transcription", 1, 9)
        add("yujin", "audio_transcription", 1, 9)  # two expiring together: neither replaces the other

        body = services.summary(NOW)
        by_skill = {item["skill"]: item for item in body["skills"]}
        counts = quizzes.certificate_counts()
        assert {skill: item["certified"] for skill, item in by_skill.items() if item["certified"]} == counts
        assert counts == {"bbox": 5, "ocr": 3, "llm_eval": 1, "audio_transcription": 1}

        expiring = Counter(row["skill"] for row in quizzes.certificates_expiring_between(NOW, NOW + 30 * DAY))
        assert {skill: item["expiring_30d"] for skill, item in by_skill.items() if item["expiring_30d"]} == expiring
        assert expiring == {"bbox": 1, "ocr": 3, "llm_eval": 1, "audio_transcription": 2}
        assert body["expiring_30d"] == 7

        holders = set(db.session.execute(quizzes.certified_users(valid_at=NOW)).scalars())
        workforce_ids = set(db.session.execute(sa.select(User.id).where(
            User.role == "worker", User.deleted_at.is_(None))).scalars())
        assert body["certified"] == len(holders & workforce_ids) == 5  # every worker now; not the manager
