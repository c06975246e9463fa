"""Aggregated results: per task type, incremental runs, the job, exports, quality, agreement."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa
import time_machine

from backend import database, events
from backend.extensions import db
from backend.quality import results
from backend.quality.models import AggregationState, Review, TaskResult
from backend.skills import services as skills
from tests.quality.test_results_support import (
    make_project,
    make_workers,
    task_ids,
    write_answers,
)

START = dt.datetime(2031, 3, 2, 9, 0, tzinfo=dt.UTC)
LATER = START + dt.timedelta(minutes=5)  # past the watermark's settle time


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def _stored(project_id: int) -> dict[int, TaskResult]:
    return {r.task_id: r for r in db.session.execute(
        sa.select(TaskResult).where(TaskResult.project_id == project_id)).scalars()}


def _texts(n: int, gold: dict | None = None) -> list[dict]:
    items = [{"payload": {"text": f"문장 {i}"}, "external_id": f"t{i}"} for i in range(n)]
    if gold:
        items.append({"payload": {"text": "골드"}, "gold_answer": gold, "external_id": "gold"})
    return items


# ------------------------------------------------------------------------------ per task type


def test_classification_takes_dawid_skene_from_three_answers_and_majority_below(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(3))
        a, b, c = task_ids(project)
        w = make_workers(3)
        write_answers(project, [(a, w[0], {"label": "cat"}), (a, w[1], {"label": "cat"}),
                                (a, w[2], {"label": "dog"}), (b, w[0], {"label": "dog"}),
                                (b, w[1], {"label": "bird"})])
        summary = results.aggregate_project(project)
        stored = _stored(project)
    assert summary["results_written"] == 2
    assert set(stored) == {a, b}  # c has no answers: no result
    assert stored[a].result == {"label": "cat"} and stored[a].method == "ds" and stored[a].answers == 3
    assert 0.5 < stored[a].confidence <= 1
    # Two answers: the majority vote, a tie going to the first label in natural order.
    assert stored[b].result == {"label": "bird"} and stored[b].method == "mv"
    assert stored[b].confidence == pytest.approx(0.5)
    assert stored[a].finished and stored[b].finished  # the project's overlap is 1


def test_finished_follows_the_fixed_overlap(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(2), overlap=2)
        a, b = task_ids(project)
        w = make_workers(2)
        write_answers(project, [(a, w[0], {"label": "cat"}), (a, w[1], {"label": "cat"}),
                                (b, w[0], {"label": "dog"})])
        results.aggregate_project(project)
        stored = _stored(project)
    assert stored[a].finished and not stored[b].finished


def test_every_answer_shape(app):
    with app.app_context(), at(START):
        w = make_workers(3)
        multi = make_project(task_type="multi_label", items=_texts(1))
        (m,) = task_ids(multi)
        write_answers(multi, [(m, w[0], {"labels": ["cat", "dog"]}), (m, w[1], {"labels": ["cat"]}),
                              (m, w[2], {"labels": ["cat", "dog"]})])
        pair = make_project(task_type="pairwise", config={},
                            items=[{"payload": {"prompt": "질문", "a": "답 A", "b": "답 B"}}])
        (p,) = task_ids(pair)
        write_answers(pair, [(p, w[0], {"preferred": "b"}), (p, w[1], {"preferred": "b"})])
        text = make_project(task_type="transcription", config={},
                            items=[{"payload": {"audio_url": "https://example.com/a.ogg"}}])
        (t,) = task_ids(text)
        write_answers(text, [(t, w[0], {"text": "안녕하세요 여러분"}), (t, w[1], {"text": "안녕하세요  여러분"}),
                             (t, w[2], {"text": "안녕 여러분"})])
        rating = make_project(task_type="rating", config={"dimensions": ["fluency", "accuracy"], "scale": [1, 5]},
                              items=[{"payload": {"prompt": "질문", "response": "답"}}])
        (r,) = task_ids(rating)
        write_answers(rating, [(r, w[0], {"scores": {"fluency": 4, "accuracy": 2}}),
                               (r, w[1], {"scores": {"fluency": 5, "accuracy": 2}}),
                               (r, w[2], {"scores": {"fluency": 4, "accuracy": 5}})])
        for project in (multi, pair, text, rating):
            results.aggregate_project(project)
        got = {project: _stored(project) for project in (multi, pair, text, rating)}
    assert got[multi][m].result == {"labels": ["cat", "dog"]} and got[multi][m].method == "ds"
    assert got[pair][p].result == {"preferred": "b"} and got[pair][p].confidence == 1.0
    assert got[text][t].result == {"text": "안녕하세요 여러분"} and got[text][t].method == "rover"
    assert 0.5 < got[text][t].confidence < 1
    rated = got[rating][r]
    assert rated.result == {"scores": {"accuracy": 2, "fluency": 4}} and rated.method == "median"
    assert rated.detail["dimensions"]["fluency"] == {"median": 4, "mean": 4.3333, "spread": 0,
                                                     "confidence": 1.0, "answers": 3}
    assert rated.confidence == pytest.approx(1.0)  # MAD is 0 in both: the outlier does not count


def test_boxes_are_weighted_by_gold_accuracy(app):
    """Two workers who fail the gold agree on a wrong box; the one who passes it drew the right
    one. Weighted by gold accuracy, the right box wins; by heads, the wrong one would."""
    image = {"image_url": "https://example.com/p.png", "width": 200, "height": 100}
    gold_box = {"boxes": [{"x": 10, "y": 10, "w": 50, "h": 40, "label": "car"}]}
    wrong = {"boxes": [{"x": 120, "y": 30, "w": 50, "h": 40, "label": "car"}]}
    with app.app_context(), at(START):
        project = make_project(task_type="bbox", config={"labels": ["car"]},
                               items=[{"payload": image, "external_id": "t"},
                                      {"payload": image, "gold_answer": gold_box, "external_id": "g1"},
                                      {"payload": image, "gold_answer": gold_box, "external_id": "g2"}])
        (task,) = task_ids(project)
        g1, g2 = task_ids(project, gold=True)
        good, bad1, bad2 = make_workers(3)
        golds = {g1: gold_box, g2: gold_box}
        write_answers(project, [(g, good, gold_box) for g in (g1, g2)] +
                      [(g, bad, wrong) for g in (g1, g2) for bad in (bad1, bad2)], gold_answers=golds, task_type="bbox")
        write_answers(project, [(task, good, {"boxes": [{"x": 12, "y": 10, "w": 50, "h": 40, "label": "car"}]}),
                                (task, bad1, wrong), (task, bad2, wrong)])
        results.aggregate_project(project)
        stored = _stored(project)
    assert set(stored) == {task}  # gold tasks get no result
    assert stored[task].result == {"boxes": [{"x": 12, "y": 10, "w": 50, "h": 40, "label": "car"}]}
    assert stored[task].method == "iou-cluster"
    assert stored[task].detail["dropped"] == 1 and stored[task].detail["boxes"][0]["support"] == 0.6


def test_collection_projects_are_not_aggregated(app):
    config = {"media": "image", "consent": {"version": "v1", "text": "동의합니다"}}
    with app.app_context(), at(START):
        project = make_project(task_type="collection", config=config, items=[{"payload": {}}])
        (task,) = task_ids(project)
        (worker,) = make_workers(1)
        write_answers(project, [(task, worker, {"uploads": ["u1"], "consent": {"version": "v1", "accepted": True}})])
        db.session.commit()
    with app.app_context(), at(LATER):
        summary = results.aggregate_pending()
        db.session.commit()
        assert summary["projects"] == 1 and _stored(project) == {}
        assert results.pending_projects().project_ids == []  # its watermark moved on


# ------------------------------------------------------------------------------ incremental


def test_incremental_runs_write_only_what_changed_and_cost_nothing_when_idle(app):
    scale = {"dimensions": ["quality"], "scale": [1, 5]}
    with app.app_context(), at(START):
        project = make_project(task_type="rating", config=scale,
                               items=[{"payload": {"prompt": f"질문 {i}", "response": "답"}} for i in range(3)])
        a, b, c = task_ids(project)
        w = make_workers(3)
        write_answers(project, [(t, w[0], {"scores": {"quality": 3}}) for t in (a, b, c)])
        db.session.commit()
        first = results.aggregate_pending()
        db.session.commit()
        stamps = {t: r.updated_at for t, r in _stored(project).items()}
    assert first["projects"] == 1 and first["results_written"] == 3

    with app.app_context(), at(LATER):
        # The watermark settles: one more run, nothing written, then nothing pending at all.
        assert results.aggregate_pending()["results_written"] == 0
        db.session.commit()
        idle = results.aggregate_pending()
        assert idle == {"projects": 0, "results_written": 0, "slots_opened": 0, "slots_closed": 0, "failed": []}
        write_answers(project, [(b, w[1], {"scores": {"quality": 5}})])
        db.session.commit()
    with app.app_context(), at(LATER + dt.timedelta(minutes=5)):
        again = results.aggregate_pending()
        db.session.commit()
        stored = _stored(project)
    assert again["projects"] == 1 and again["results_written"] == 1
    assert stored[b].answers == 2 and stored[b].result == {"scores": {"quality": 4}}
    assert stored[a].updated_at == stamps[a] and stored[c].updated_at == stamps[c]


def test_an_idle_check_is_a_few_statements(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(2))
        a, b = task_ids(project)
        w = make_workers(2)
        write_answers(project, [(a, w[0], {"label": "cat"}), (b, w[1], {"label": "dog"})])
        db.session.commit()
        results.aggregate_pending()
        db.session.commit()
    with app.app_context(), at(LATER):
        results.aggregate_pending()  # the watermark passes the settled answers
        db.session.commit()
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            summary = results.aggregate_pending()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
    assert summary["projects"] == 0
    assert len([s for s in statements if not s.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]) <= 5


def test_a_second_run_at_once_changes_nothing(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(4), overlap=3)
        w = make_workers(3)
        write_answers(project, [(t, u, {"label": "cat" if u != w[2] else "dog"}) for t in task_ids(project) for u in w])
        db.session.commit()
        first = results.aggregate_pending()
        db.session.commit()
        second = results.aggregate_pending()  # also pending: the watermark waits for SETTLE
        db.session.commit()
    assert first["results_written"] == 4
    assert second["projects"] == 1 and second["results_written"] == 0


def test_the_watermark_waits_until_answers_settle(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(1))
        (task,) = task_ids(project)
        (worker,) = make_workers(1)
        write_answers(project, [(task, worker, {"label": "cat"})])
        db.session.commit()
        results.aggregate_pending()
        db.session.commit()
        assert db.session.get(AggregationState, project).last_submission_id == 0
        assert results.pending_projects().project_ids == [project]
    with app.app_context(), at(START + results.SETTLE + dt.timedelta(seconds=1)):
        results.aggregate_pending()
        db.session.commit()
        assert db.session.get(AggregationState, project).last_submission_id > 0
        assert results.pending_projects().project_ids == []


def test_a_final_rejection_takes_the_answer_out(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(1))
        (task,) = task_ids(project)
        w = make_workers(2)
        write_answers(project, [(task, w[0], {"label": "cat"}), (task, w[1], {"label": "dog"})])
        db.session.commit()
        results.aggregate_pending()
        db.session.commit()
        assert _stored(project)[task].result == {"label": "cat"}  # the tie goes to "cat"
    with app.app_context(), at(LATER):
        results.aggregate_pending()
        db.session.commit()
        assert results.pending_projects().project_ids == []
        rejected = db.session.execute(sa.select(sa.text("id")).select_from(sa.table("submissions")).where(
            sa.column("user_id") == w[0])).scalar_one()
        db.session.add(Review(submission_id=rejected, user_id=w[0], project_id=project, decision="rejected",
                              final=True, outcome="rejected", decided_at=LATER, final_at=LATER))
        # The handler the app connects to submission_reviewed marks the project stale.
        assert any(getattr(receiver(), "__name__", "") == "_on_submission_reviewed"
                   for receiver in events.submission_reviewed.receivers.values())
        results._on_submission_reviewed(None, submission_id=rejected, user_id=w[0], decision="rejected",
                                        reason=None, final=True)
        db.session.commit()
        assert results.pending_projects().project_ids == [project]
        results.aggregate_pending()
        db.session.commit()
        stored = _stored(project)[task]
    assert stored.result == {"label": "dog"} and stored.answers == 1


# ------------------------------------------------------------------------------ the job


def test_the_job_commits_each_project_and_skips_a_failing_one(app):
    with app.app_context(), at(START):
        good = make_project(items=_texts(1))
        bad = make_project(items=_texts(1))
        (worker,) = make_workers(1)
        write_answers(good, [(task_ids(good)[0], worker, {"label": "cat"})])
        write_answers(bad, [(task_ids(bad)[0], worker, {"not": "a classification answer"})])
        db.session.commit()
        summary = results.aggregation_job()
        db.session.rollback()
        assert summary["failed"] == [bad] and summary["projects"] == 1
        assert database._sqlite_deferred.get() is False  # write transactions are immediate again
        assert set(_stored(good)) == set(task_ids(good))
        assert bad in results.pending_projects().project_ids  # retried next run
        from backend.quality import jobs
        assert any(job.id == "quality.aggregate" and job.func is results.aggregation_job for job in jobs.JOBS)


# ------------------------------------------------------------------------------ HTTP


def _setup_export(app, n=3) -> int:
    with app.app_context(), at(START):
        project = make_project(task_type="rating", config={"dimensions": ["fluency", "tone"], "scale": [1, 5]},
                               items=[{"payload": {"prompt": f"질문 {i}", "response": "답"}, "external_id": f"r{i}"}
                                      for i in range(n)], overlap=2)
        ids = task_ids(project)
        w = make_workers(2)
        write_answers(project, [(t, w[0], {"scores": {"fluency": 4, "tone": 2}}) for t in ids]
                      + [(ids[0], w[1], {"scores": {"fluency": 5, "tone": 2}})])
        results.aggregate_project(project)
        db.session.commit()
        return project


def test_export_as_json_jsonl_and_csv(app, client, auth):
    project = _setup_export(app)
    with at(START):
        manager = auth.create("manager")
        # A streamed body is read before the next request (the request context lives until then).
        whole = client.get(f"/api/v1/manage/projects/{project}/results", headers=manager.headers)
        whole.get_data()
        lines = client.get(f"/api/v1/manage/projects/{project}/results?format=jsonl", headers=manager.headers)
        lines.get_data()
        table = client.get(f"/api/v1/manage/projects/{project}/results",
                           headers={**manager.headers, "Accept": "text/csv"})
        table.get_data()
        done = client.get(f"/api/v1/manage/projects/{project}/results?finished=true&payload=true",
                          headers={**manager.headers, "Accept": "application/x-ndjson"})
        done.get_data()
    assert whole.status_code == 200 and whole.mimetype == "application/json"
    body = whole.get_json()
    assert body["project_id"] == project and body["task_type"] == "rating" and len(body["items"]) == 3
    assert [item["task_id"] for item in body["items"]] == sorted(item["task_id"] for item in body["items"])
    first = body["items"][0]  # the task answered twice (_setup_export)
    assert first["external_id"].startswith("r") and first["answers"] == 2 and first["method"] == "median"
    assert first["result"] == {"scores": {"fluency": 4.5, "tone": 2}} and first["finished"] is True
    assert first["confidence"] == pytest.approx(0.75) and first["updated_at"].endswith("Z")
    assert "payload" not in first

    assert lines.mimetype == "application/x-ndjson"
    assert "attachment" in lines.headers["Content-Disposition"]
    parsed = [json.loads(line) for line in lines.get_data(as_text=True).splitlines()]
    assert [item["task_id"] for item in parsed] == [item["task_id"] for item in body["items"]]

    assert table.mimetype == "text/csv"
    text = table.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(rows[0]) == ["task_id", "external_id", "score.fluency", "score.tone", "confidence", "answers",
                             "method", "finished", "updated_at"]
    assert rows[0]["score.fluency"] == "4.5" and rows[0]["finished"] == "true" and rows[1]["finished"] == "false"

    finished = [json.loads(line) for line in done.get_data(as_text=True).splitlines()]
    assert len(finished) == 1 and finished[0]["task_id"] == first["task_id"]
    assert set(finished[0]["payload"]) == {"prompt", "response"}


def test_export_streams_many_pages_in_task_order(app, client, auth):
    n = results.CHUNK + 234
    with app.app_context(), at(START):
        project = make_project(items=_texts(n))
        (worker,) = make_workers(1)
        write_answers(project, [(t, worker, {"label": "dog"}) for t in task_ids(project)])
        results.aggregate_project(project)
        db.session.commit()
    with at(START):
        manager = auth.create("manager")
        response = client.get(f"/api/v1/manage/projects/{project}/results?format=csv", headers=manager.headers)
        assert response.is_streamed
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == n and {row["label"] for row in rows} == {"dog"}
    assert [int(row["task_id"]) for row in rows] == sorted(int(row["task_id"]) for row in rows)


def test_export_needs_a_manager_and_a_project(app, client, auth):
    project = _setup_export(app, n=1)
    worker = auth.register()
    manager = auth.create("manager")
    assert client.get(f"/api/v1/manage/projects/{project}/results", headers=worker.headers).status_code == 403
    assert client.get(f"/api/v1/manage/projects/{project}/results").status_code == 401
    missing = client.get("/api/v1/manage/projects/999999/results", headers=manager.headers)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert client.get("/api/v1/manage/projects/999999/quality", headers=manager.headers).status_code == 404
    wrong = client.get(f"/api/v1/manage/projects/{project}/results?format=xml", headers=manager.headers)
    assert wrong.status_code == 422 and "format" in wrong.get_json()["errors"]


def test_quality_flags_gold_exhaustion(app, client, auth):
    gold = {"label": "cat"}
    with app.app_context(), at(START):
        skills.ensure_starter_skills()
        items = _texts(2) + [{"payload": {"text": f"골드 {i}"}, "gold_answer": gold, "external_id": f"g{i}"}
                             for i in range(5)]
        project = make_project(items=items, gold_ratio=0.2)
        empty = make_project(items=_texts(1), gold_ratio=0.1)
        golds = task_ids(project, gold=True)
        seasoned = make_workers(3)
        newcomer, uncertified = make_workers(2)
        for user_id in [*seasoned, newcomer]:
            skills.set_level(user_id, "llm_eval", 1, "test", source="override")
        answers = [(g, u, {"label": "cat"}) for u in seasoned for g in golds[:4]]  # 4 of 5 seen: 80 %
        answers += [(golds[0], newcomer, {"label": "cat"})]
        answers += [(g, uncertified, {"label": "cat"}) for g in golds]  # not eligible: not counted
        write_answers(project, answers, gold_answers=dict.fromkeys(golds, gold))
        db.session.commit()
    with at(START + dt.timedelta(days=1)):
        manager = auth.create("manager")
        report = client.get(f"/api/v1/manage/projects/{project}/quality", headers=manager.headers).get_json()
        other = client.get(f"/api/v1/manage/projects/{empty}/quality", headers=manager.headers).get_json()
    with at(START + dt.timedelta(days=45)):
        manager = auth.create("manager")
        stale = client.get(f"/api/v1/manage/projects/{project}/quality", headers=manager.headers).get_json()
    exhaustion = report["gold_exhaustion"]
    assert exhaustion["gold_tasks"] == 5 and exhaustion["active_workers"] == 4
    assert exhaustion["exhausted_workers"] == 3 and exhaustion["mean_seen_share"] == pytest.approx(0.65)
    assert exhaustion["flagged"] is True and exhaustion["reason"] == "most_gold_seen"
    assert report["overlap"] == {"mode": "fixed", "overlap": 1, "min_overlap": None, "max_overlap": None,
                                 "confidence_target": None}
    assert report["tasks"] == 2 and report["tasks_with_result"] == 0
    assert report["aggregation"]["up_to_date"] is False  # answers came, no run yet
    assert other["gold_exhaustion"]["reason"] == "no_gold" and other["gold_exhaustion"]["flagged"] is True
    assert stale["gold_exhaustion"]["active_workers"] == 0 and stale["gold_exhaustion"]["flagged"] is False


def test_quality_reports_results_and_whether_they_are_current(app, client, auth):
    project = _setup_export(app)
    with at(START):
        manager = auth.create("manager")
        report = client.get(f"/api/v1/manage/projects/{project}/quality", headers=manager.headers).get_json()
    assert report["tasks_with_result"] == 3 and report["tasks_finished"] == 1 and report["answers"] == 4
    assert report["aggregation"]["up_to_date"] is True and report["aggregation"]["aggregated_at"].endswith("Z")
    with app.app_context(), at(START + dt.timedelta(seconds=30)):
        write_answers(project, [(task_ids(project)[1], make_workers(1)[0], {"scores": {"fluency": 1, "tone": 1}})])
        db.session.commit()
    with at(START + dt.timedelta(seconds=31)):
        manager = auth.login(manager.email, manager.password)
        report = client.get(f"/api/v1/manage/projects/{project}/quality", headers=manager.headers).get_json()
    assert report["aggregation"]["up_to_date"] is False


# ------------------------------------------------------------------------------ agreement


def test_agreement_by_worker(app):
    with app.app_context(), at(START):
        project = make_project(items=_texts(4))
        a, b, c, d = task_ids(project)
        w = make_workers(4)
        answers = [(t, u, {"label": "cat"}) for t in (a, b, c) for u in w[:2]]
        answers += [(a, w[2], {"label": "dog"}), (b, w[2], {"label": "cat"}), (c, w[2], {"label": "dog"})]
        answers += [(d, w[3], {"label": "bird"})]  # a lone answer: agrees only with itself, not counted
        write_answers(project, answers)
        results.aggregate_project(project)
        everyone = results.agreement_by_worker()
        some = results.agreement_by_worker([w[2], w[3], 10**9])
    assert everyone[w[0]] == {"agreed": 3, "total": 3} and everyone[w[1]] == {"agreed": 3, "total": 3}
    assert everyone[w[2]] == {"agreed": 1, "total": 3}
    assert w[3] not in everyone
    assert some == {w[2]: {"agreed": 1, "total": 3}, w[3]: {"agreed": 0, "total": 0},
                    10**9: {"agreed": 0, "total": 0}}
