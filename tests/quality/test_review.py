"""Review: sampling at submission time, the queue, decisions with catalogue reasons, appeals to a
different reviewer, finality, and the jobs that approve and finalise (services and HTTP)."""

import sqlalchemy as sa

from backend.audit.models import AuditEntry
from backend.extensions import db
from backend.quality import review
from backend.quality.models import Review, ReviewSample

from .review_support import certify, clock, configure, make_project, reviewed_events, run, work

ALWAYS = {"REVIEW_SAMPLE_RATE": 1.0}
NEVER = {"REVIEW_SAMPLE_RATE": 0.0, "REVIEW_SAMPLE_RATE_NEW": 0.0, "REVIEW_SAMPLE_RATE_LOW_ACCURACY": 0.0}


def setup_work(app, client, auth, n=1, **settings):
    configure(app, **{**ALWAYS, **settings})
    project_id = make_project(app, normal=max(n, 3))
    worker = auth.register(locale="en")
    certify(app, worker.id)
    done = [work(client, worker, project_id, {"label": "neg"}) for _ in range(n)]
    return project_id, worker, done


def decide(client, staff, submission_id, **body):
    return client.post(f"/api/v1/manage/submissions/{submission_id}/review", json=body, headers=staff.headers)


# --------------------------------------------------------------------------------- sampling


def test_new_workers_are_sampled_more_and_gold_is_never_sampled(app, client, auth):
    configure(app, REVIEW_SAMPLE_RATE=0.0, REVIEW_SAMPLE_RATE_NEW=1.0, REVIEW_NEW_WORKER_ANSWERS=4,
              REVIEW_SAMPLE_RATE_LOW_ACCURACY=0.0)
    with clock():
        project_id = make_project(app, normal=4, gold=3, gold_ratio=0.5)
        worker = auth.register()
        certify(app, worker.id)
        leased = client.post("/api/v1/assignments", json={"project_id": project_id, "count": 7},
                             headers=worker.headers).get_json()["assignments"]
        for assignment in leased:
            assert client.post(f"/api/v1/assignments/{assignment['id']}/submission", json={
                "answer": {"label": "pos"}, "duration_ms": 15_000}, headers=worker.headers).status_code == 201
    with app.app_context():
        from backend.microtasks.models import Submission
        samples = db.session.execute(sa.select(ReviewSample)).scalars().all()
        answered = db.session.execute(sa.select(Submission.id, Submission.is_gold).order_by(Submission.id)).all()
    # while new (the first four answers, gold included), every normal answer is sampled; gold never
    expected = {sub_id for sub_id, is_gold in answered[:4] if not is_gold}
    assert len(answered) >= 4 and expected, "at most three gold: the first four answers hold a normal one"
    assert {s.submission_id for s in samples} == expected
    assert all(s.reasons == ["new_worker"] for s in samples)


def test_low_gold_accuracy_raises_the_sampling_rate(app):
    from backend.quality.floors import Observation
    with app.app_context():
        configure(app, REVIEW_SAMPLE_RATE=0.05, REVIEW_SAMPLE_RATE_NEW=0.25, REVIEW_SAMPLE_RATE_LOW_ACCURACY=0.5,
                  REVIEW_NEW_WORKER_ANSWERS=50, REVIEW_LOW_ACCURACY=0.8)
        assert review.sample_rate(Observation(False, 200, 20, 19)) == (0.05, ["random"])
        assert review.sample_rate(Observation(False, 10, 0, 0)) == (0.25, ["new_worker"])
        assert review.sample_rate(Observation(False, 200, 20, 10)) == (0.5, ["low_accuracy"])
        assert review.sample_rate(Observation(True, 200, 20, 19)) == (1.0, ["fast"])
        assert review.sample_rate(Observation(False, 200, 4, 0))[0] == 0.05  # too few gold answers to judge


def test_nothing_is_sampled_when_the_rates_are_zero(app, client, auth):
    with clock():
        setup_work(app, client, auth, n=3, **NEVER)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(ReviewSample)).scalar() == 0


# --------------------------------------------------------------------------------- the queue


def test_the_queue_shows_sampled_work_to_reviewers_only(app, client, auth):
    with clock():
        project_id, worker, done = setup_work(app, client, auth, n=3)
        reviewer = auth.create("reviewer")
        page = client.get("/api/v1/manage/reviews?limit=2", headers=reviewer.headers)
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        assert [item["submission_id"] for item in body["items"]] == [d["id"] for d in done[:2]]
        first = body["items"][0]
        assert first["answer"] == {"label": "neg"} and first["worker_id"] == worker.id
        assert first["project_title"] == "감정 분류" and first["task"]["payload"]["text"].startswith("문장")
        assert first["config"] == {"labels": ["pos", "neg"]} and first["media_url"] is None
        assert first["worker_stats"]["answers"] >= 1 and first["due_at"].endswith("Z")
        rest = client.get(f"/api/v1/manage/reviews?cursor={body['next_cursor']}", headers=reviewer.headers)
        assert [item["submission_id"] for item in rest.get_json()["items"]] == [done[2]["id"]]
        assert client.get(f"/api/v1/manage/reviews?project_id={project_id + 999}",
                          headers=reviewer.headers).get_json()["items"] == []
        assert client.get("/api/v1/manage/reviews", headers=worker.headers).status_code == 403
        csv = client.get("/api/v1/manage/reviews?format=csv", headers=reviewer.headers)
        assert csv.mimetype == "text/csv" and str(done[0]["id"]) in csv.get_data(as_text=True)
        reasons = client.get("/api/v1/manage/review-reasons", headers={**reviewer.headers,
                                                                        "Accept-Language": "en"}).get_json()
        codes = {r["code"]: r for r in reasons["items"]}
        assert codes["wrong_label"]["text"] == "잘못된 라벨을 선택했습니다"  # the reviewer's locale (ko)
        assert codes["other"]["note_required"] is True


# --------------------------------------------------------------------------------- decisions


def test_a_rejection_needs_a_catalogue_reason(app, client, auth):
    with clock():
        _, _, done = setup_work(app, client, auth)
        reviewer = auth.create("reviewer")
        sid = done[0]["id"]
        missing = decide(client, reviewer, sid, decision="reject")
        assert missing.status_code == 422 and "reason_code" in missing.get_json()["errors"]
        unknown = decide(client, reviewer, sid, decision="reject", reason_code="ugly")
        assert unknown.status_code == 422 and "reason_code" in unknown.get_json()["errors"]
        other = decide(client, reviewer, sid, decision="reject", reason_code="other")
        assert other.status_code == 422 and "note" in other.get_json()["errors"]
        assert decide(client, reviewer, sid, decision="maybe").status_code == 422


def test_reject_then_the_decision_is_final_for_everyone_else(app, client, auth):
    with clock(), reviewed_events() as seen:
        _, worker, done = setup_work(app, client, auth)
        reviewer, other = auth.create("reviewer"), auth.create("reviewer")
        sid = done[0]["id"]
        answer = decide(client, reviewer, sid, decision="reject", reason_code="wrong_label", note="It is positive.")
        assert answer.status_code == 201, answer.get_json()
        body = answer.get_json()
        assert (body["decision"], body["final"], body["can_appeal"]) == ("rejected", False, True)
        assert body["reason"] == "잘못된 라벨을 선택했습니다 — It is positive."
        assert body["appeal_until"] == "2031-05-11T09:00:00Z"  # seven days
        again = decide(client, other, sid, decision="approve")
        assert again.status_code == 409 and again.get_json()["type"].endswith("already-reviewed")
    assert seen == [{"submission_id": sid, "user_id": worker.id, "decision": "rejected", "final": False,
                     "reason": {"ko": "잘못된 라벨을 선택했습니다 — It is positive.",
                                "en": "Wrong label — It is positive."}, "appeal": False}]
    with app.app_context():
        (entry,) = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "review.reject")).scalars()
        assert (entry.actor_id, entry.target_id, entry.reason) == (reviewer.id, str(sid), "It is positive.")
        assert db.session.get(ReviewSample, sid).status == "decided"


def test_the_contract_shape_decision_and_reason(app, client, auth):
    with clock(), reviewed_events() as seen:
        _, _, done = setup_work(app, client, auth, n=3)
        reviewer = auth.create("reviewer")
        by_code = decide(client, reviewer, done[0]["id"], decision="reject", reason="careless")
        assert by_code.get_json()["reason_code"] == "careless"
        free = decide(client, reviewer, done[1]["id"], decision="reject", reason="Half of the text is missing.")
        assert (free.get_json()["reason_code"], free.get_json()["reason"]) == ("other", "Half of the text is missing.")
        approved = decide(client, reviewer, done[2]["id"], decision="approve")
        assert approved.status_code == 201
        assert (approved.get_json()["final"], approved.get_json()["outcome"]) == (True, "approved")
    assert seen[-1] == {"submission_id": done[2]["id"], "user_id": seen[-1]["user_id"], "decision": "approved",
                        "reason": None, "final": True, "appeal": False}


def test_nobody_reviews_their_own_work_gold_or_late(app, client, auth):
    configure(app, **ALWAYS, REVIEW_DEADLINE_S=600)
    with clock():
        project_id = make_project(app, normal=3, gold=2, gold_ratio=0.5)
        reviewer = auth.create("reviewer")
        certify(app, reviewer.id)
        mine = work(client, reviewer, project_id, {"label": "pos"})
        own = decide(client, reviewer, mine["id"], decision="approve")
        assert own.status_code == 403 and own.get_json()["type"].endswith("own-submission")
        assert decide(client, reviewer, 987654, decision="approve").status_code == 404
        worker = auth.register()
        certify(app, worker.id)
        leased = client.post("/api/v1/assignments", json={"project_id": project_id, "count": 4},
                             headers=worker.headers).get_json()["assignments"]
        ids = [client.post(f"/api/v1/assignments/{a['id']}/submission", json={"answer": {"label": "pos"}},
                           headers=worker.headers).get_json()["id"] for a in leased]
        with app.app_context():
            from backend.microtasks.models import Submission
            gold = db.session.execute(sa.select(Submission.id).where(Submission.id.in_(ids),
                                                                     Submission.is_gold.is_(True))).scalars().first()
            normal = db.session.execute(sa.select(Submission.id).where(Submission.id.in_(ids),
                                                                       Submission.is_gold.is_(False))).scalars().first()
        assert gold is not None and normal is not None
        scored = decide(client, auth.create("reviewer"), gold, decision="approve")
        assert scored.status_code == 409 and scored.get_json()["type"].endswith("gold-scored-automatically")
    with clock(600):
        late = decide(client, auth.login(reviewer.email, reviewer.password), normal, decision="reject",
                      reason_code="careless")
        assert late.status_code == 409 and late.get_json()["type"].endswith("review-window-closed")


# --------------------------------------------------------------------------------- appeals


def _rejected(app, client, auth, **settings):
    _, worker, done = setup_work(app, client, auth, **settings)
    reviewer = auth.create("reviewer")
    sid = done[0]["id"]
    assert decide(client, reviewer, sid, decision="reject", reason_code="wrong_label").status_code == 201
    return worker, reviewer, sid


def test_appeals_within_the_window_once_and_only_by_the_worker(app, client, auth):
    with clock():
        worker, reviewer, sid = _rejected(app, client, auth, APPEAL_WINDOW_S=300)
        stranger = auth.register()
        assert client.post(f"/api/v1/submissions/{sid}/appeal", json={"message": "mine?"},
                           headers=stranger.headers).status_code == 404
        empty = client.post(f"/api/v1/submissions/{sid}/appeal", json={"message": "  "}, headers=worker.headers)
        assert empty.status_code == 422
        made = client.post(f"/api/v1/submissions/{sid}/appeal", json={"message": "The text is positive."},
                           headers=worker.headers)
        assert made.status_code == 201, made.get_json()
        assert made.get_json()["status"] == "open"
        twice = client.post(f"/api/v1/submissions/{sid}/appeal", json={"message": "again"}, headers=worker.headers)
        assert twice.status_code == 409 and twice.get_json()["type"].endswith("already-appealed")
        (mine,) = client.get("/api/v1/me/reviews", headers=worker.headers).get_json()["items"]
        assert mine["appeal"]["status"] == "open" and mine["can_appeal"] is False
    with clock(120):
        worker2, _, sid2 = _rejected(app, client, auth, APPEAL_WINDOW_S=300)
    with clock(421):
        worker2 = auth.login(worker2.email, worker2.password)
        late = client.post(f"/api/v1/submissions/{sid2}/appeal", json={"message": "too late"},
                           headers=worker2.headers)
        assert late.status_code == 409 and late.get_json()["type"].endswith("appeal-window-closed")


def test_a_different_reviewer_decides_the_appeal(app, client, auth):
    with clock(), reviewed_events() as seen:
        worker, reviewer, sid = _rejected(app, client, auth)
        appeal_id = client.post(f"/api/v1/submissions/{sid}/appeal", json={"message": "It is negative."},
                                headers=worker.headers).get_json()["id"]
        assert client.get("/api/v1/manage/appeals", headers=reviewer.headers).get_json()["items"] == []
        own = client.get("/api/v1/manage/appeals?include_own=true", headers=reviewer.headers).get_json()["items"]
        assert [(a["id"], a["can_decide"]) for a in own] == [(appeal_id, False)]
        refused = client.post(f"/api/v1/manage/appeals/{appeal_id}/decision", json={"decision": "overturn"},
                              headers=reviewer.headers)
        assert refused.status_code == 403 and refused.get_json()["type"].endswith("appeal-own-review")
        second = auth.create("reviewer")
        (item,) = client.get("/api/v1/manage/appeals", headers=second.headers).get_json()["items"]
        assert item["can_decide"] and item["message"] == "It is negative."
        assert item["review"]["reviewer_id"] == reviewer.id and item["answer"] == {"label": "neg"}
        decided = client.post(f"/api/v1/manage/appeals/{appeal_id}/decision",
                              json={"decision": "overturn", "note": "Right, it is negative."},
                              headers=second.headers)
        assert decided.status_code == 200, decided.get_json()
        assert (decided.get_json()["status"], decided.get_json()["decided_by"]) == ("overturned", second.id)
        replay = client.post(f"/api/v1/manage/appeals/{appeal_id}/decision", json={"decision": "uphold"},
                             headers=auth.create("manager").headers)
        assert replay.status_code == 409 and replay.get_json()["type"].endswith("appeal-decided")
        (mine,) = client.get("/api/v1/me/reviews", headers=worker.headers).get_json()["items"]
        assert (mine["outcome"], mine["final"], mine["appeal"]["status"]) == ("approved", True, "overturned")
    assert [(e["decision"], e["final"], e["appeal"]) for e in seen] == [("rejected", False, False),
                                                                       ("approved", True, True)]
    with app.app_context():
        actions = set(db.session.execute(sa.select(AuditEntry.action)).scalars())
        assert "review.appeal_overturned" in actions


def test_an_upheld_appeal_makes_the_rejection_final(app, client, auth):
    with clock(), reviewed_events() as seen:
        worker, _, sid = _rejected(app, client, auth)
        appeal_id = client.post(f"/api/v1/submissions/{sid}/appeal", json={"message": "No."},
                                headers=worker.headers).get_json()["id"]
        upheld = client.post(f"/api/v1/manage/appeals/{appeal_id}/decision", json={"decision": "uphold"},
                             headers=auth.create("manager").headers)
        assert upheld.get_json()["status"] == "upheld"
    assert [(e["decision"], e["final"], e["appeal"]) for e in seen] == [("rejected", False, False),
                                                                       ("rejected", True, True)]
    assert seen[-1]["reason"]["en"] == "Wrong label"


# --------------------------------------------------------------------------------- jobs


def test_unreviewed_samples_are_approved_by_the_job_after_the_deadline(app, client, auth):
    with clock(), reviewed_events() as seen:
        _, worker, done = setup_work(app, client, auth, n=2, REVIEW_DEADLINE_S=600)
        run(app, "quality.auto_approve_reviews")
        assert seen == []
    with clock(601), reviewed_events() as seen:
        run(app, "quality.auto_approve_reviews")
        run(app, "quality.auto_approve_reviews")  # twice: nothing more
    assert sorted(e["submission_id"] for e in seen) == sorted(d["id"] for d in done)
    assert {(e["decision"], e["final"], e["user_id"]) for e in seen} == {("approved", True, worker.id)}
    with app.app_context():
        rows = db.session.execute(sa.select(Review)).scalars().all()
        assert {(r.auto, r.reviewer_id, r.outcome) for r in rows} == {(True, None, "approved")}


def test_rejections_become_final_when_the_appeal_window_closes(app, client, auth):
    with clock():
        _, _, sid = _rejected(app, client, auth, APPEAL_WINDOW_S=300)
        worker2, _, sid2 = _rejected(app, client, auth, APPEAL_WINDOW_S=300)
        client.post(f"/api/v1/submissions/{sid2}/appeal", json={"message": "wait"}, headers=worker2.headers)
    with clock(299), reviewed_events() as seen:
        run(app, "quality.finalize_rejections")
        assert seen == []
    with clock(300), reviewed_events() as seen:
        run(app, "quality.finalize_rejections")
        run(app, "quality.finalize_rejections")
    assert [(e["submission_id"], e["decision"], e["final"]) for e in seen] == [(sid, "rejected", True)]
    with app.app_context():
        assert db.session.execute(sa.select(Review.final).where(Review.submission_id == sid2)).scalar() is False


def test_with_no_appeal_window_a_rejection_is_final_at_once(app, client, auth):
    with clock(), reviewed_events() as seen:
        _rejected(app, client, auth, APPEAL_WINDOW_S=0)
    assert [(e["decision"], e["final"]) for e in seen] == [("rejected", True)]


def test_the_review_deadline_follows_the_ledger_window(app):
    with app.app_context():
        configure(app, REVIEW_DEADLINE_S=0, REVIEW_WINDOW_S=0)
        assert review.review_deadline_s() == 3 * 24 * 3600
        configure(app, REVIEW_WINDOW_S=3600)
        assert review.review_deadline_s() == 3600
        configure(app, REVIEW_DEADLINE_S=120)
        assert review.review_deadline_s() == 120
