"""Bank files: `flask quizzes import PATH`, all or nothing, every problem with its file and line;
re-import updates in place without losing attempts or certificates; media served to phones."""

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from backend.errors import Invalid
from backend.extensions import db
from quizzes import services
from quizzes.models import Attempt, Certificate, Exam, Question
from tests.quizzes.conftest import API

BANKS = Path(__file__).resolve().parents[2] / "quizzes" / "banks"

TINY = """\
key: tiny-exam
version: 1
title: {ko: "작은 시험", en: "Tiny exam"}
description: {ko: "작은 시험입니다", en: "A tiny exam"}
skill: ocr
grants_level: 1
requires: {skill_level: 0}
time_limit_s: 600
pass_percent: 50
attempts_allowed: 2
retake_cooldown_s: 0
validity_days: 30
questions:
  - key: q1
    kind: single_choice
    prompt: {ko: "숫자를 고르세요", en: "Pick a number"}
    options:
      - {id: 1, text: {ko: "하나", en: "one"}}
      - {id: 2, text: {ko: "둘", en: "two"}}
      - {id: yes, text: {ko: "예", en: "yes"}}
    answer: {choice: 2}
    explanation: {ko: "둘이 맞습니다", en: "Two is right"}
  - key: q2
    kind: transcription
    prompt: {ko: "그림의 글자를 쓰세요", en: "Type the text in the image"}
    media: [{kind: image, url: media/tiny-exam-q2.png}]
    answer: {text: "안녕", max_cer: 0.1}
    explanation: {ko: "정답은 안녕입니다", en: "The answer is 안녕"}
"""


def _tiny(tmp_path, text=TINY) -> Path:
    folder = tmp_path / "banks"
    (folder / "media").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 20), (255, 255, 255)).save(folder / "media" / "tiny-exam-q2.png")
    (folder / "tiny-exam.yaml").write_text(text, encoding="utf-8")
    return folder


def _import(app, path, **kwargs):
    with app.app_context():
        report = services.import_banks(path, **kwargs)
        db.session.commit()
    return report


def _errors(app, path) -> list[str]:
    with app.app_context(), pytest.raises(Invalid) as raised:
        services.import_banks(path)
    return raised.value.errors["banks"]


def _line(path: Path, text: str, nth: int = 1) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [i + 1 for i, line in enumerate(lines) if text in line]
    return found[nth - 1]


def _exam_count(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Exam)).scalar()


def test_starter_banks_import_and_serve_their_media(app, client, auth):
    report = _import(app, BANKS)
    assert [(r["key"], r["action"], r["questions"]) for r in report] == [
        ("audio-level-1", "created", 24), ("bbox-level-1", "created", 24),
        ("llm-eval-level-1", "created", 24), ("ocr-level-1", "created", 24)]
    assert [r["action"] for r in _import(app, BANKS)] == ["unchanged"] * 4

    worker = auth.register()
    items = client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
    assert {i["key"]: (i["question_count"], i["unavailable_reason"]) for i in items} == {
        key: (15, "course_required") for key in ("audio-level-1", "bbox-level-1", "llm-eval-level-1", "ocr-level-1")}
    with app.app_context():
        question = db.session.execute(sa.select(Question).where(Question.key == "p01", Question.kind == "bbox")
                                      ).scalar_one()
        url = question.media[0]["url"]
        assert question.options == [] and question.answer_key["iou"] == 0.6
    assert url.startswith("/api/v1/media/quizzes/bbox-level-1-p01.png?v=")
    media = client.get(url)
    assert media.status_code == 200 and media.mimetype == "image/png"
    assert media.data == (BANKS / "media" / "bbox-level-1-p01.png").read_bytes()
    assert "immutable" in media.headers["Cache-Control"]
    assert client.get(url, headers={"If-None-Match": media.headers["ETag"]}).status_code == 304
    audio = client.get("/api/v1/media/quizzes/audio-level-1-p01.ogg")
    assert audio.status_code == 200 and audio.mimetype == "audio/ogg"
    for bad in ("nothing.png", "..%2Fsecret", "%2Fetc%2Fpasswd", ".hidden"):
        assert client.get(f"/api/v1/media/quizzes/{bad}").status_code == 404


def test_option_ids_become_strings(app, tmp_path):
    _import(app, _tiny(tmp_path))
    with app.app_context():
        question = db.session.execute(sa.select(Question).where(Question.key == "q1")).scalar_one()
        assert [o["id"] for o in question.options] == ["1", "2", "yes"]
        assert question.answer_key == {"choice": "2"}


def test_every_problem_is_listed_with_file_and_line_and_nothing_is_imported(app, tmp_path):
    folder = tmp_path / "banks"
    shutil.copytree(BANKS, folder, ignore=shutil.ignore_patterns("_tools"))
    bank = folder / "bbox-level-1.yaml"
    text = bank.read_text(encoding="utf-8")
    text = text.replace("answer: {choice: a}", "answer: {choice: z}", 1)
    text = text.replace("  - key: b02\n", "  - key: b01\n", 1)
    text = text.replace("  - {pool: practical, count: 5}", "  - {pool: practical, count: 50}", 1)
    text = text.replace("    kind: true_false\n", "    kind: true_false\n    hint: nope\n", 1)
    text = text.replace('en: "Bounding boxes — Level 1 certification"', 'en: ""', 1)
    bank.write_text(text, encoding="utf-8")
    (folder / "media" / "bbox-level-1-p03.png").unlink()
    (folder / "media" / "stray.png").write_bytes((folder / "media" / "bbox-level-1-p01.png").read_bytes())

    errors = _errors(app, folder)
    expected = [
        (_line(bank, "answer: {choice: z}"), "questions.0.answer.choice"),
        (_line(bank, "  - key: b01", 2), "questions.1.key"),
        (_line(bank, "count: 50"), "draw.1.count"),
        (_line(bank, "hint: nope"), "questions.2.hint"),
        (_line(bank, "url: media/bbox-level-1-p03.png"), "questions.17.media.0.url"),
        (_line(bank, 'en: ""'), "title.en"),
    ]
    for line, field in expected:
        prefix = f"{bank}:{line}: {field}: "
        assert any(e.startswith(prefix) for e in errors), (prefix, "\n".join(errors))
    # The orphan is found only once the banks themselves are clean: fix them, keep the stray file.
    assert _exam_count(app) == 0
    shutil.copy(BANKS / "bbox-level-1.yaml", bank)
    shutil.copy(BANKS / "media" / "bbox-level-1-p03.png", folder / "media")
    errors = _errors(app, folder)
    assert errors == [f"{folder / 'media' / 'stray.png'}:1: media: not used by any question of the banks here."]
    assert _exam_count(app) == 0
    (folder / "media" / "stray.png").unlink()
    assert len(_import(app, folder)) == 4


def test_yaml_errors_and_bank_rules(app, tmp_path):
    folder = _tiny(tmp_path, TINY.replace('answer: {text: "안녕", max_cer: 0.1}', 'answer: {text: "안녕", max_cer: 0.1'))
    [error] = _errors(app, folder)
    assert error.startswith(f"{folder / 'tiny-exam.yaml'}:") and ": yaml: " in error

    rules = TINY.replace("key: tiny-exam\n", "key: other-name\n").replace(
        'prompt: {ko: "숫자를 고르세요", en: "Pick a number"}', 'prompt: "Pick a number"').replace(
        "media/tiny-exam-q2.png", "media/wrong-name.png").replace(
        '    explanation: {ko: "둘이 맞습니다", en: "Two is right"}\n', "").replace(
        "time_limit_s: 600\n", "time_limit_s: 600\ntime_limit_s: 700\n")
    folder = _tiny(tmp_path, rules)
    path = folder / "tiny-exam.yaml"
    errors = _errors(app, folder)
    for line, field in [(1, "key"), (_line(path, 'prompt: "Pick a number"'), "questions.0.prompt"),
                        (_line(path, "  - key: q1"), "questions.0.explanation"),
                        (_line(path, "url: media/wrong-name.png"), "questions.1.media.0.url"),
                        (_line(path, "time_limit_s: 700"), "time_limit_s")]:
        assert any(e.startswith(f"{path}:{line}: {field}: ") for e in errors), (line, field, errors)


def test_reimport_updates_in_place_and_keeps_attempts_and_certificates(app, client, auth, tmp_path):
    folder = _tiny(tmp_path)
    _import(app, folder)
    worker = auth.register()
    exam = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                if i["key"] == "tiny-exam")
    attempt = client.post(f"{API}/exams/{exam['id']}/attempts", headers=worker.headers).get_json()
    ids = {q["kind"]: q["id"] for q in attempt["questions"]}
    passed = client.post(f"{API}/attempts/{attempt['id']}/submission", headers=worker.headers, json={"answers": {
        str(ids["single_choice"]): {"choice": "2"}, str(ids["transcription"]): {"text": "안녕"}}}).get_json()
    assert passed["passed"] is True

    changed = TINY.replace("version: 1", "version: 2").replace("Pick a number", "Pick the number two")
    changed = changed[:changed.index("  - key: q2")] + """\
  - key: q3
    kind: true_false
    prompt: {ko: "하늘은 파랗다", en: "The sky is blue"}
    answer: {value: true}
    explanation: {ko: "참입니다", en: "True"}
"""
    (folder / "tiny-exam.yaml").write_text(changed, encoding="utf-8")
    (folder / "media" / "tiny-exam-q2.png").unlink()
    report = _import(app, folder)
    assert [(r["action"], r["exam_id"]) for r in report] == [("updated", exam["id"])]
    with app.app_context():
        rows = {q.key: q for q in db.session.execute(sa.select(Question)).scalars()}
        assert rows["q1"].id == ids["single_choice"] and rows["q1"].prompt["en"] == "Pick the number two"
        assert rows["q1"].active and not rows["q2"].active and rows["q3"].active
        assert db.session.execute(sa.select(sa.func.count()).select_from(Attempt)).scalar() == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(Certificate)).scalar() == 1
        assert db.session.get(Exam, exam["id"]).version == 2
    old = client.get(f"{API}/attempts/{attempt['id']}", headers=worker.headers).get_json()
    assert old["result"]["passed"] is True and len(old["questions"]) == 2
    assert client.get(f"{API}/certificates/{passed['certificate']['code']}").get_json()["status"] == "valid"
    listed = next(i for i in client.get(f"{API}/exams", headers=worker.headers).get_json()["items"]
                  if i["key"] == "tiny-exam")
    assert listed["question_count"] == 2


def test_cli_import(app, tmp_path):
    runner = app.test_cli_runner()
    folder = _tiny(tmp_path)
    dry = runner.invoke(args=["quizzes", "import", "--dry-run", str(folder)])
    assert dry.exit_code == 0, dry.output
    assert "tiny-exam: would be created" in dry.output and _exam_count(app) == 0
    result = runner.invoke(args=["quizzes", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "tiny-exam: created" in result.output and _exam_count(app) == 1
    (folder / "tiny-exam.yaml").write_text(TINY.replace("answer: {choice: 2}", "answer: {choice: 7}"),
                                           encoding="utf-8")
    failed = runner.invoke(args=["quizzes", "import", str(folder)])
    assert failed.exit_code == 1
    line = _line(folder / "tiny-exam.yaml", "answer: {choice: 7}")
    assert f"tiny-exam.yaml:{line}: questions.0.answer.choice: " in failed.output
    missing = runner.invoke(args=["quizzes", "import", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output


def test_demo_seed_loads_the_starter_exams_idempotently(app):
    import quizzes.demo

    with app.app_context():
        quizzes.demo.seed()
        quizzes.demo.seed()
        db.session.commit()
    assert _exam_count(app) == 4
