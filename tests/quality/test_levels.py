"""Skill levels that unlock work: rules as data, promotion and demotion through set_level after
each scored answer and nightly, what GET /me/skills shows, and the admin rule endpoints."""

import sqlalchemy as sa

from backend import events
from backend.audit.models import AuditEntry
from backend.extensions import db
from backend.quality import review
from backend.quality.models import LevelRule, SkillTally
from backend.skills import rules
from backend.skills import services as skills
from backend.skills.models import LevelChange

from .review_support import captured, certify, clock, configure, make_project, run, work

RULE_1 = rules.default_rule("llm_eval", 1)  # 30 gold answers, lower bound ≥ 85 %
RULE_2 = rules.default_rule("llm_eval", 2)  # demote under 70 % over the last 50


# --------------------------------------------------------------------------------- the decision


def test_promotion_needs_enough_gold_answers_and_a_proven_accuracy():
    assert rules.decide(RULE_1, rules.Numbers(1, 29, 29), 5) == (None, "")  # not enough answers yet
    assert rules.decide(RULE_1, rules.Numbers(1, 30, 30), 5)[0] == "promote"  # 30/33.84 = 0.886 ≥ 0.85
    assert rules.decide(RULE_1, rules.Numbers(1, 30, 29), 5)[0] is None  # 29 of 30: lower bound 0.833
    assert rules.decide(RULE_1, rules.Numbers(1, 60, 57), 5)[0] == "promote"  # 95 % of 60: 0.863
    assert rules.decide(RULE_1, rules.Numbers(1, 200, 170), 5)[0] is None  # 85 % is not proven 85 %
    # final human reviews count too: an approval as right, a rejection as wrong
    assert rules.decide(RULE_1, rules.Numbers(1, 30, 30, reviewed=10, review_rejected=5), 5)[0] is None
    top = rules.default_rule("llm_eval", 5)
    assert rules.decide(top, rules.Numbers(5, 500, 500, recent="1" * 100), 5)[0] is None  # nothing above


def test_demotion_needs_a_full_window_surely_below_the_threshold():
    coin = "10" * 25
    assert rules.decide(RULE_2, rules.Numbers(2, 50, 25, recent=coin), 5)[0] == "demote"  # upper 0.636 < 0.7
    assert rules.decide(RULE_2, rules.Numbers(2, 49, 24, recent=coin[:49]), 5)[0] is None  # window not full
    assert rules.decide(RULE_2, rules.Numbers(2, 50, 32, recent="1" * 32 + "0" * 18), 5)[0] is None  # 64 %: unsure
    assert rules.decide(RULE_1, rules.Numbers(1, 50, 0, recent="0" * 50), 5)[0] is None  # never below level 1
    # the window is the latest answers: an old bad streak does not count
    assert rules.decide(RULE_2, rules.Numbers(2, 100, 50, recent="0" * 50 + "1" * 50), 5)[0] is None


def test_an_exam_level_is_never_reached_by_gold_answers():
    exam_rule = rules.Rule("llm_eval", 1, 30, 0.85, None, 50, requires_exam="llm-eval-level-2")
    assert rules.decide(exam_rule, rules.Numbers(1, 300, 300), 5)[0] is None


def test_numbers_add_keeps_the_latest_window():
    numbers = rules.Numbers(1, 0, 0)
    for i in range(250):
        numbers = numbers.add(i % 2 == 0, gold=True)
    numbers = numbers.add(False, gold=False)
    assert (numbers.gold_answers, numbers.gold_correct, numbers.reviewed, numbers.review_rejected) == (250, 125, 1, 1)
    assert len(numbers.recent) == rules.MAX_WINDOW and numbers.recent.endswith("100")


# --------------------------------------------------------------------------------- services


def test_gold_answers_promote_through_set_level_and_the_tally_restarts(app, auth):
    worker = auth.register()
    certify(app, worker.id)
    with app.app_context(), captured(events.level_changed) as changed:
        actions = [rules.record_outcome(worker.id, "llm_eval", True, gold=True) for _ in range(30)]
        db.session.commit()
        assert actions.count("promote") == 1 and actions[-1] == "promote"
        assert skills.level_of(worker.id, "llm_eval") == 2
        (change,) = db.session.execute(sa.select(LevelChange).where(LevelChange.source == "promotion")).scalars()
        assert (change.old_level, change.new_level) == (1, 2)
        assert "30 gold answers, accuracy 100%" in change.reason
        tally = db.session.get(SkillTally, (worker.id, "llm_eval"))
        assert (tally.level, tally.gold_answers, tally.recent) == (2, 0, "")
    assert [(e["old_level"], e["new_level"], e["source"]) for e in changed] == [(1, 2, "promotion")]


def test_a_careless_worker_is_demoted(app, auth):
    worker = auth.register()
    certify(app, worker.id, level=3)
    with app.app_context():
        actions = [rules.record_outcome(worker.id, "llm_eval", i % 3 == 0, gold=True) for i in range(60)]
        db.session.commit()
        assert actions[-1] == "demote" and actions.count("demote") == 1
        assert skills.level_of(worker.id, "llm_eval") == 2
        (change,) = db.session.execute(sa.select(LevelChange).where(LevelChange.source == "demotion")).scalars()
        assert change.reason.endswith("over the last 60 checked answers (needs 75%)")


def test_level_zero_workers_are_not_evaluated(app, auth):
    worker = auth.register()
    with app.app_context():
        skills.ensure_starter_skills()
        assert rules.record_outcome(worker.id, "llm_eval", True, gold=True) is None
        assert db.session.get(SkillTally, (worker.id, "llm_eval")) is None


def test_only_final_human_decisions_count_toward_the_level(app, client, auth):
    configure(app, REVIEW_SAMPLE_RATE=1.0, APPEAL_WINDOW_S=300, REVIEW_DEADLINE_S=600)
    with clock():
        project_id = make_project(app, normal=6)
        worker = auth.register()
        certify(app, worker.id)
        done = [work(client, worker, project_id, {"label": "pos"}) for _ in range(4)]
        reviewer = auth.create("reviewer")
        for sid, decision in zip([d["id"] for d in done[:3]], ["approve", "reject", "reject"], strict=True):
            body = {"decision": decision, "reason_code": "wrong_label"} if decision == "reject" else {"decision": decision}
            assert client.post(f"/api/v1/manage/submissions/{sid}/review", json=body,
                               headers=reviewer.headers).status_code == 201
        client.post(f"/api/v1/submissions/{done[2]['id']}/appeal", json={"message": "please"}, headers=worker.headers)
        with app.app_context():
            tally = db.session.get(SkillTally, (worker.id, "llm_eval"))
            assert (tally.reviewed, tally.review_rejected) == (1, 0)  # the rejections are not final yet
    with clock(601):
        manager = auth.create("manager")
        run(app, "quality.auto_approve_reviews")  # the 4th: automatic, counts for nothing
        run(app, "quality.finalize_rejections")  # the 2nd: no appeal, window closed
        with app.app_context():
            tally = db.session.get(SkillTally, (worker.id, "llm_eval"))
            assert (tally.reviewed, tally.review_rejected, tally.recent) == (2, 1, "10")
            (appeal,) = review.list_appeals(reviewer.id + 1000, status="open")[0]
            review.decide_appeal(appeal["id"], manager.id, "overturn")
            db.session.commit()
            tally = db.session.get(SkillTally, (worker.id, "llm_eval"))
            assert (tally.reviewed, tally.review_rejected, tally.recent) == (3, 1, "101")


def test_the_nightly_job_recounts_from_the_records(app, client, auth):
    configure(app, REVIEW_SAMPLE_RATE=0.0, REVIEW_SAMPLE_RATE_NEW=0.0)
    strict = {"min_gold": 20, "promote_at": 0.99, "demote_below": None, "window": 50}
    with clock():
        admin = auth.create("admin")
        assert client.put("/api/v1/manage/level-rules/llm_eval/1", json=strict,
                          headers=admin.headers).status_code == 200
        project_id = make_project(app, normal=60, gold=40, gold_ratio=0.5)
        worker = auth.register()
        certify(app, worker.id)
        gold = 0
        while gold < 20:
            leased = client.post("/api/v1/assignments", json={"project_id": project_id, "count": 10},
                                 headers=worker.headers).get_json()["assignments"]
            for a in leased:
                answer = client.post(f"/api/v1/assignments/{a['id']}/submission", json={"answer": {"label": "pos"}},
                                     headers=worker.headers).get_json()
                gold += "feedback" in answer
        with app.app_context():
            assert skills.level_of(worker.id, "llm_eval") == 1  # 0.99 is out of reach
            db.session.execute(sa.delete(SkillTally))  # lose the running tally altogether
            db.session.commit()
        assert client.delete("/api/v1/manage/level-rules/llm_eval/1", headers=admin.headers).status_code == 200
        run(app, "quality.evaluate_levels")
        run(app, "quality.evaluate_levels")
        with app.app_context():
            assert skills.level_of(worker.id, "llm_eval") == 1  # 20+ answers, but the default needs 30
        assert client.put("/api/v1/manage/level-rules/llm_eval/1", json={**strict, "promote_at": 0.8},
                          headers=admin.headers).status_code == 200
        run(app, "quality.evaluate_levels")
        with app.app_context():
            assert skills.level_of(worker.id, "llm_eval") == 2
            assert db.session.get(SkillTally, (worker.id, "llm_eval")).level == 2


# --------------------------------------------------------------------------------- GET /me/skills


def test_my_skills_show_the_next_level_and_the_progress(app, client, auth):
    worker = auth.register(locale="en")
    certify(app, worker.id, "llm_eval", 1)
    certify(app, worker.id, "ocr", 5)
    with app.app_context():
        for i in range(12):
            rules.record_outcome(worker.id, "llm_eval", i != 0, gold=True)
        db.session.commit()
    items = {s["skill"]: s for s in client.get("/api/v1/me/skills", headers=worker.headers).get_json()["items"]}
    nxt = items["llm_eval"]["next_level"]
    assert nxt["level"] == 2
    assert nxt["requirements"].endswith("Now 12 of 30 gold answers, accuracy 92% — need 85%.")
    assert nxt["progress"] == {"gold_answers": 12, "needed": 30, "scored": 12, "accuracy": 0.9167,
                               "wilson_low": nxt["progress"]["wilson_low"], "threshold": 0.85, "exam": None}
    assert 0.6 < nxt["progress"]["wilson_low"] < 0.7
    assert items["ocr"]["next_level"] is None  # the top level
    assert items["bbox"]["next_level"]["level"] == 1
    assert "certification exam" in items["bbox"]["next_level"]["requirements"]
    korean = auth.register()
    certify(app, korean.id)
    (ko,) = [s for s in client.get("/api/v1/me/skills", headers=korean.headers).get_json()["items"]
             if s["skill"] == "llm_eval"]
    assert ko["next_level"]["requirements"].startswith("레벨 2: 레벨 1에서 골드 답변 30개 이상")
    with app.app_context():
        db.session.add(LevelRule(skill_code="llm_eval", level=1, min_gold=30, promote_at=None, demote_below=None,
                                 window=50, requires_exam="llm-eval-level-2"))
        db.session.commit()
    exam = [s for s in client.get("/api/v1/me/skills", headers=worker.headers).get_json()["items"]
            if s["skill"] == "llm_eval"][0]["next_level"]
    assert exam["requirements"] == "Level 2: pass the advanced exam “llm-eval-level-2”."
    assert exam["progress"]["exam"] == "llm-eval-level-2" and exam["progress"]["needed"] == 0


# --------------------------------------------------------------------------------- admin rules


def test_admins_read_and_change_the_rules(app, client, auth):
    admin, manager = auth.create("admin"), auth.create("manager")
    assert client.get("/api/v1/manage/level-rules", headers=manager.headers).status_code == 403
    listed = client.get("/api/v1/manage/level-rules?skill=bbox", headers=admin.headers).get_json()["items"]
    assert [(r["level"], r["min_gold"], r["promote_at"], r["source"]) for r in listed][:2] == [
        (1, 30, 0.85, "default"), (2, 40, 0.88, "default")]
    url = "/api/v1/manage/level-rules/bbox/2"
    body = {"min_gold": 50, "promote_at": 0.9, "demote_below": 0.72, "window": 60, "reason": "harder boxes"}
    changed = client.put(url, json=body, headers=admin.headers)
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["source"], changed.get_json()["min_gold"]) == ("custom", 50)
    assert client.get("/api/v1/manage/level-rules?skill=bbox", headers=admin.headers).get_json()["items"][1][
        "window"] == 60
    bad = [({**body, "promote_at": 1.5}, "promote_at"), ({**body, "demote_below": 0.95}, "demote_below"),
           ({**body, "window": 500}, "window"), ({**body, "requires_exam": "no-such-exam"}, "requires_exam")]
    for wrong, name in bad:
        answer = client.put(url, json=wrong, headers=admin.headers)
        assert answer.status_code == 422 and name in answer.get_json()["errors"], (name, answer.get_json())
    level_one = client.put("/api/v1/manage/level-rules/bbox/1", json=body, headers=admin.headers)
    assert level_one.status_code == 422 and "demote_below" in level_one.get_json()["errors"]
    assert client.put("/api/v1/manage/level-rules/bbox/9", json=body, headers=admin.headers).status_code == 422
    assert client.put("/api/v1/manage/level-rules/nope/2", json=body, headers=admin.headers).status_code == 404
    reset = client.delete(url, headers=admin.headers).get_json()
    assert (reset["source"], reset["min_gold"]) == ("default", 40)
    with app.app_context():
        actions = db.session.execute(sa.select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
        assert actions == ["level_rule.update", "level_rule.reset"]
        entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "level_rule.update")).scalar()
        assert entry.reason == "harder boxes" and entry.before["min_gold"] == 40 and entry.after["min_gold"] == 50


def test_a_level_that_needs_an_advanced_exam(app, client, auth):
    admin, manager = auth.create("admin"), auth.create("manager")
    exam = {"key": "llm-eval-level-3", "title": {"ko": "LLM 평가 심화", "en": "LLM evaluation, advanced"},
            "skill": "llm_eval", "grants_level": 3, "time_limit_s": 600, "pass_percent": 80, "attempts_allowed": 3,
            "retake_cooldown_s": 3600, "validity_days": 365,
            "questions": [{"key": "q1", "kind": "true_false", "prompt": "True?", "answer": {"value": True},
                           "explanation": "Yes."}]}
    assert client.post("/api/v1/manage/exams", json=exam, headers=manager.headers).status_code == 201
    rule = {"min_gold": 40, "promote_at": 0.88, "demote_below": 0.7, "window": 50,
            "requires_exam": "llm-eval-level-3"}
    wrong_level = client.put("/api/v1/manage/level-rules/llm_eval/3", json=rule, headers=admin.headers)
    assert wrong_level.status_code == 422  # the exam grants 3: not the way from 3 to 4
    assert client.put("/api/v1/manage/level-rules/bbox/2", json=rule, headers=admin.headers).status_code == 422
    saved = client.put("/api/v1/manage/level-rules/llm_eval/2", json=rule, headers=admin.headers)
    assert saved.status_code == 200 and saved.get_json()["requires_exam"] == "llm-eval-level-3"
    worker = auth.register(locale="en")
    certify(app, worker.id, level=2)
    with app.app_context():
        assert all(rules.record_outcome(worker.id, "llm_eval", True, gold=True) is None for _ in range(100))
        db.session.commit()
        assert skills.level_of(worker.id, "llm_eval") == 2  # only the exam leads on
    (item,) = [s for s in client.get("/api/v1/me/skills", headers=worker.headers).get_json()["items"]
               if s["skill"] == "llm_eval"]
    assert item["next_level"]["requirements"] == "Level 3: pass the advanced exam “LLM evaluation, advanced”."
    assert item["next_level"]["progress"]["gold_answers"] == 100
