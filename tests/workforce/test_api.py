"""The workforce API against the hand-counted workforce of conftest.py, on both databases, with the
rollups stale, half counted and current (the figures must not change)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from backend.extensions import db
from backend.quality import stats
from backend.workforce import services as workforce
from tests.workforce.conftest import NOW, at

MANAGE = "/api/v1/manage"
HOUR = dt.timedelta(hours=1)


def _refresh(app, how: str) -> None:
    with app.app_context():
        if how == "current":
            assert workforce.refresh_rollups(NOW) > 0
        elif how == "half":
            workforce.refresh_rollups(NOW, batch=4, max_batches=1)  # the oldest answers only
        db.session.commit()


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith("\ufeff".encode())  # a BOM: spreadsheets read UTF-8 (Korean names)
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


@pytest.mark.parametrize("rollups", ["stale", "half", "current"])
def test_summary_matches_the_hand_counts(app, client, workforce, manager, rollups):
    _refresh(app, rollups)
    body = client.get(f"{MANAGE}/workforce/summary", headers=manager.headers).get_json()
    assert body["workers"] == 5  # staff and the deleted account are not the workforce
    assert (body["certified"], body["expiring_30d"], body["active_7d"], body["active_30d"]) == (3, 1, 1, 2)
    bbox = next(item for item in body["skills"] if item["skill"] == "bbox")
    assert [entry["workers"] for entry in bbox["levels"]] == [2, 2, 1, 0, 0, 0]
    assert (bbox["certified"], bbox["expiring_30d"], bbox["active_7d"], bbox["active_30d"]) == (3, 1, 1, 2)
    assert bbox["name"] == "바운딩 박스"
    ocr = next(item for item in body["skills"] if item["skill"] == "ocr")
    assert [entry["workers"] for entry in ocr["levels"]] == [5, 0, 0, 0, 0, 0]
    assert (ocr["certified"], ocr["active_30d"]) == (0, 0)


def test_summary_as_csv(client, manager):
    rows = _csv(client.get(f"{MANAGE}/workforce/summary", headers={**manager.headers, "Accept": "text/csv"}))
    bbox = next(row for row in rows if row["skill"] == "bbox")
    assert bbox["name"] == "바운딩 박스"
    assert (bbox["level_0"], bbox["level_1"], bbox["level_2"], bbox["certified"], bbox["active_30d"]) == \
        ("2", "2", "1", "3", "2")
    assert rows[-1]["skill"] == "all" and rows[-1]["active_7d"] == "1"


@pytest.mark.parametrize("rollups", ["stale", "current"])
def test_funnel_by_weekly_cohort(app, client, workforce, manager, rollups):
    _refresh(app, rollups)
    body = client.get(f"{MANAGE}/workforce/funnel?weeks=2", headers=manager.headers).get_json()
    assert body["stages"] == ["registered", "enrolled", "course_completed", "certified", "first_task", "active_7d"]
    last_week, this_week = body["cohorts"]
    assert last_week["week_start"] == "2030-03-03T15:00:00Z"  # Monday 00:00 in Seoul
    assert this_week["week_start"] == "2030-03-10T15:00:00Z"
    assert [s["count"] for s in this_week["stages"]] == [2, 1, 1, 1, 1, 1]
    assert [s["count"] for s in last_week["stages"]] == [2, 2, 1, 1, 1, 0]
    total = body["total"]
    assert [s["count"] for s in total] == [5, 4, 3, 3, 3, 1]  # with 최유진, who registered long before
    assert [s["conversion"] for s in total] == [1.0, 0.8, 0.75, 1.0, 1.0, 0.3333]
    assert [s["share"] for s in total] == [1.0, 0.8, 0.6, 0.6, 0.6, 0.2]
    assert [s["conversion"] for s in last_week["stages"]] == [1.0, 1.0, 0.5, 1.0, 1.0, 0.0]


def test_funnel_as_csv_and_its_limits(client, manager):
    rows = _csv(client.get(f"{MANAGE}/workforce/funnel?weeks=2&format=csv", headers=manager.headers))
    assert [row["week_start"] for row in rows] == ["2030-03-03T15:00:00Z", "2030-03-10T15:00:00Z", "total"]
    assert (rows[2]["registered"], rows[2]["enrolled"], rows[2]["enrolled_conversion"]) == ("5", "4", "0.8")
    assert client.get(f"{MANAGE}/workforce/funnel?weeks=0", headers=manager.headers).status_code == 422
    assert client.get(f"{MANAGE}/workforce/funnel", headers=manager.headers).get_json()["weeks"] == 8


@pytest.mark.parametrize("rollups", ["stale", "current"])
def test_answers_per_hour(app, client, workforce, manager, rollups):
    _refresh(app, rollups)
    items = client.get(f"{MANAGE}/workforce/throughput", headers=manager.headers).get_json()["items"]
    assert len(items) == 14 * 24
    assert items[-1]["hour"] == "2030-03-13T10:00:00Z"  # the current hour, last
    by_hour = {item["hour"]: (item["answers"], item["gold_answers"]) for item in items if item["answers"]}
    assert by_hour == {"2030-03-13T05:00:00Z": (5, 2), "2030-03-05T10:00:00Z": (3, 2)}
    rows = _csv(client.get(f"{MANAGE}/workforce/throughput?days=1&format=csv", headers=manager.headers))
    assert len(rows) == 24 and rows[-6] == {"hour": "2030-03-13T05:00:00Z", "answers": "5", "gold_answers": "2"}


@pytest.mark.parametrize("rollups", ["stale", "current"])
def test_gold_accuracy_histogram(app, client, workforce, manager, rollups):
    _refresh(app, rollups)
    body = client.get(f"{MANAGE}/workforce/accuracy?min_gold=2", headers=manager.headers).get_json()
    assert body["workers"] == 2
    assert [b["workers"] for b in body["bins"]] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 1]  # 50 % and 100 %
    assert body["bins"][9] == {"from": 0.9, "to": 1.0, "workers": 1}
    assert client.get(f"{MANAGE}/workforce/accuracy", headers=manager.headers).get_json()["workers"] == 0
    rows = _csv(client.get(f"{MANAGE}/workforce/accuracy?min_gold=2&format=csv", headers=manager.headers))
    assert rows[5] == {"from": "0.5", "to": "0.6", "workers": "1"}


def test_expiring_certificates(client, workforce, manager):
    items = client.get(f"{MANAGE}/workforce/certificates/expiring", headers=manager.headers).get_json()["items"]
    assert [(i["user_id"], i["display_name"], i["skill"], i["level"], i["days_left"]) for i in items] == \
        [(workforce.ids["yujin"], "최유진", "bbox", 1, 25)]
    assert items[0]["expires_at"] == "2030-04-07T10:00:00Z"
    rows = _csv(client.get(f"{MANAGE}/workforce/certificates/expiring?format=csv", headers=manager.headers))
    assert [row["display_name"] for row in rows] == ["최유진"]
    assert client.get(f"{MANAGE}/workforce/certificates/expiring?days=20",
                      headers=manager.headers).get_json()["items"] == []


def test_project_progress_has_rate_eta_and_eligible_workforce(client, workforce, manager):
    body = client.get(f"{MANAGE}/projects/{workforce.project_id}/progress", headers=manager.headers).get_json()
    assert (body["tasks_total"], body["tasks_done"], body["answers"]) == (10, 1, 9)
    assert body["remaining_answers"] == 15  # 10 tasks × overlap 2 − 5 normal answers
    assert body["answers_last_24h"] == 3  # 김민수's normal answers (gold does not move the work)
    assert body["answers_per_hour"] == 0.12  # 3 / 24, rounded
    assert body["eta"] == "2030-03-18T10:00:00Z"  # 15 answers at 0.125 an hour: 120 hours
    assert body["eligible_workers"] == 3  # level ≥ 1 in bbox: 김민수, 이서연, 최유진
    overview = client.get(f"{MANAGE}/workforce/projects", headers=manager.headers).get_json()["items"]
    assert [(p["id"], p["title"], p["eligible_workers"], p["remaining_answers"]) for p in overview] == \
        [(workforce.project_id, "문장 분류", 3, 15)]
    rows = _csv(client.get(f"{MANAGE}/workforce/projects?format=csv", headers=manager.headers))
    assert (rows[0]["title"], rows[0]["eta"], rows[0]["eligible_workers"]) == ("문장 분류", "2030-03-18T10:00:00Z", "3")


def test_a_project_without_recent_answers_has_no_eta(auth, client, workforce):
    with at(NOW + dt.timedelta(days=2)):
        manager = auth.login("manager@workforce.test", "correct horse 1", "manager")
        body = client.get(f"{MANAGE}/projects/{workforce.project_id}/progress", headers=manager.headers).get_json()
    assert (body["answers_per_hour"], body["eta"]) == (0.0, None)


def _names(client, manager, query: str = "") -> list[str]:
    body = client.get(f"{MANAGE}/workers?{query}", headers=manager.headers).get_json()
    return [item["display_name"] for item in body["items"]]


@pytest.mark.parametrize("rollups", ["stale", "current"])
def test_worker_list_filters_and_sorts(app, client, workforce, manager, rollups):
    _refresh(app, rollups)
    assert _names(client, manager) == ["김민수", "이서연", "최유진", "Emma Kim", "박지훈"]  # by last answer
    assert _names(client, manager, "skill=bbox&level=1") == ["김민수", "이서연"]
    assert _names(client, manager, "skill=bbox&min_level=2") == ["최유진"]
    assert _names(client, manager, "skill=bbox") == ["김민수", "이서연", "최유진"]
    assert _names(client, manager, "skill=ocr") == []
    assert _names(client, manager, "activity=active_7d") == ["김민수"]
    assert _names(client, manager, "activity=active_30d") == ["김민수", "이서연"]
    assert _names(client, manager, "activity=inactive_30d") == ["최유진"]
    assert _names(client, manager, "activity=never&sort=id") == ["박지훈", "Emma Kim"]
    assert _names(client, manager, "min_accuracy=0.9") == ["김민수"]
    assert _names(client, manager, "max_accuracy=0.6") == ["이서연"]
    assert _names(client, manager, "q=서연") == ["이서연"]
    assert _names(client, manager, "q=EMMA") == ["Emma Kim"]
    assert _names(client, manager, "sort=-answers&limit=3") == ["김민수", "이서연", "최유진"]
    # Workers without gold answers come last either way (then by id).
    assert _names(client, manager, "sort=accuracy") == ["이서연", "김민수", "최유진", "박지훈", "Emma Kim"]
    assert _names(client, manager, "sort=-accuracy") == ["김민수", "이서연", "Emma Kim", "박지훈", "최유진"]


def test_worker_list_items_and_pages(client, workforce, manager):
    first = client.get(f"{MANAGE}/workers?limit=2", headers=manager.headers).get_json()
    assert first["total"] == 5 and len(first["items"]) == 2 and first["next_cursor"]
    second = client.get(f"{MANAGE}/workers?limit=2&cursor={first['next_cursor']}", headers=manager.headers).get_json()
    third = client.get(f"{MANAGE}/workers?limit=2&cursor={second['next_cursor']}", headers=manager.headers).get_json()
    assert third["next_cursor"] is None
    names = [i["display_name"] for page in (first, second, third) for i in page["items"]]
    assert names == ["김민수", "이서연", "최유진", "Emma Kim", "박지훈"]
    minsu = first["items"][0]
    assert minsu["id"] == workforce.ids["minsu"]
    assert (minsu["answers"], minsu["gold_answers"], minsu["gold_correct"], minsu["gold_accuracy"]) == (5, 2, 2, 1.0)
    assert minsu["levels"] == {"bbox": 1}
    assert minsu["earned"] == {"amount": 500, "currency": "KRW"}  # 5 answers × 100 won, pending or not
    assert minsu["last_active_at"] == "2030-03-13T05:00:00Z"
    assert minsu["agreement"] is None  # none of his tasks has a second answer yet
    assert second["items"][0]["display_name"] == "최유진" and second["items"][0]["agreement"] == 1.0
    assert client.get(f"{MANAGE}/workers?cursor=zzz", headers=manager.headers).status_code == 422
    assert client.get(f"{MANAGE}/workers?skill=nope", headers=manager.headers).status_code == 422
    assert client.get(f"{MANAGE}/workers?level=1", headers=manager.headers).status_code == 422
    assert client.get(f"{MANAGE}/workers?sort=salary", headers=manager.headers).status_code == 422


def test_worker_list_as_csv_has_every_match(client, workforce, manager):
    rows = _csv(client.get(f"{MANAGE}/workers?limit=1&format=csv", headers=manager.headers))
    assert [row["display_name"] for row in rows] == ["김민수", "이서연", "최유진", "Emma Kim", "박지훈"]
    assert rows[0]["levels"] == "bbox:1" and rows[0]["earned"] == "500" and rows[0]["gold_accuracy"] == "1.0"
    assert rows[2]["levels"] == "bbox:2"


def test_worker_detail(client, workforce, manager):
    body = client.get(f"{MANAGE}/workers/{workforce.ids['minsu']}", headers=manager.headers).get_json()
    assert (body["display_name"], body["answers"], body["last_active_at"]) == ("김민수", 5, "2030-03-13T05:00:00Z")
    low, high = stats.wilson_interval(2, 2)
    assert body["gold"] == {"successes": 2, "total": 2, "rate": 1.0, "ci_low": round(low, 4), "ci_high": 1.0}
    assert body["first_pass_acceptance"]["successes"] == 1 and body["first_pass_acceptance"]["total"] == 2
    assert [a["submission_id"] for a in body["open_appeals"]] == [workforce.submissions["minsu"][1]]
    assert body["median_time"] == [{"difficulty": 1, "answers": 5, "median_s": 4.0}]  # 3, 3, 4, 6, 8 s
    assert body["earnings"]["total"] == {"amount": 500, "currency": "KRW"}
    bbox = next(s for s in body["skills"] if s["skill"] == "bbox")
    assert bbox["level"] == 1 and bbox["answers"] == 5 and bbox["gold"]["rate"] == 1.0
    assert [(e["from_level"], e["level"], e["source"]) for e in bbox["timeline"]] == [(0, 1, "certificate")]
    assert bbox["timeline"][0]["at"] == "2030-03-12T10:00:00Z"
    assert [c["status"] for c in body["certificates"]] == ["valid"]
    assert body["agreement"] == {"successes": 0, "total": 0, "rate": None, "ci_low": None, "ci_high": None}

    yujin = client.get(f"{MANAGE}/workers/{workforce.ids['yujin']}", headers=manager.headers).get_json()
    bbox = next(s for s in yujin["skills"] if s["skill"] == "bbox")
    assert [(e["from_level"], e["level"], e["source"]) for e in bbox["timeline"]] == \
        [(0, 1, "certificate"), (1, 2, "promotion")]
    assert yujin["gold"] == {"successes": 0, "total": 0, "rate": None, "ci_low": None, "ci_high": None}
    assert yujin["median_time"] == [{"difficulty": 1, "answers": 1, "median_s": 20.0}]
    low, high = stats.wilson_interval(1, 1)
    assert yujin["agreement"] == {"successes": 1, "total": 1, "rate": 1.0, "ci_low": round(low, 4), "ci_high": 1.0}


def test_unknown_deleted_or_staff_accounts_are_not_workers(client, workforce, manager):
    for user_id in (999_999, workforce.ids["gone"], workforce.manager_id):
        response = client.get(f"{MANAGE}/workers/{user_id}", headers=manager.headers)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_level_override_with_reason(app, client, workforce, manager):
    minsu = workforce.ids["minsu"]
    url = f"{MANAGE}/workers/{minsu}/skills/bbox"
    response = client.put(url, json={"level": 3, "reason": "현장 평가 통과"}, headers=manager.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["level"], body["previous_level"], body["changed"]) == (3, 1, True)
    last = body["timeline"][-1]
    assert (last["from_level"], last["level"], last["source"], last["reason"], last["actor_id"]) == \
        (1, 3, "override", "현장 평가 통과", workforce.manager_id)
    with app.app_context():
        from backend.audit import services as audit

        entries, _ = audit.list_entries(after_id=None, limit=10, action="level.override")
        assert [(e.actor_id, e.target_id, e.after) for e in entries] == \
            [(workforce.manager_id, str(minsu), {"skill": "bbox", "level": 3})]
    assert client.put(url, json={"level": 3, "reason": "again"}, headers=manager.headers).get_json()["changed"] is False
    assert client.put(url, json={"level": 2}, headers=manager.headers).status_code == 422
    assert client.put(url, json={"level": 2, "reason": "   "}, headers=manager.headers).status_code == 422
    assert client.put(url, json={"level": 9, "reason": "x"}, headers=manager.headers).status_code == 422
    assert client.put(f"{MANAGE}/workers/{minsu}/skills/juggling", json={"level": 1, "reason": "x"},
                      headers=manager.headers).status_code == 404
    assert client.put(f"{MANAGE}/workers/{workforce.manager_id}/skills/bbox", json={"level": 1, "reason": "x"},
                      headers=manager.headers).status_code == 404
    summary = client.get(f"{MANAGE}/workforce/summary", headers=manager.headers).get_json()
    bbox = next(item for item in summary["skills"] if item["skill"] == "bbox")
    assert [entry["workers"] for entry in bbox["levels"]] == [2, 1, 1, 1, 0, 0]


@pytest.mark.parametrize("path", ["/workforce/summary", "/workforce/funnel", "/workforce/throughput",
                                  "/workforce/accuracy", "/workforce/certificates/expiring", "/workforce/projects",
                                  "/workers", "/workers/1"])
def test_only_managers_and_admins(client, auth, workforce, path):
    with at(NOW):
        worker = auth.login("minsu@workforce.test", "correct horse 1")
        reviewer = auth.login("reviewer@workforce.test", "correct horse 1", "reviewer")
        admin = auth.create("admin")
        assert client.get(MANAGE + path).status_code == 401
        assert client.get(MANAGE + path, headers=worker.headers).status_code == 403
        assert client.get(MANAGE + path, headers=reviewer.headers).status_code == 403
        assert client.get(MANAGE + path, headers=admin.headers).status_code in (200, 404)
