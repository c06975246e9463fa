"""The editorial rules of the four starter banks (quizzes/banks/*.yaml), on top of what the importer
checks for every bank: their size and mix, scoring scheme and limits, labels, and answer keys that
equal what _tools/make_media.py draws. Database-free."""

import importlib.util
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

BANKS = Path(__file__).resolve().parents[2] / "quizzes" / "banks"
STARTER = {
    "bbox-level-1": ("bbox", "bbox-basics"),
    "ocr-level-1": ("ocr", "korean-ocr-basics"),
    "audio-level-1": ("audio_transcription", "meeting-transcription-basics"),
    "llm-eval-level-1": ("llm_eval", "llm-eval-basics"),
}
PRACTICAL_KINDS = {"bbox", "transcription", "rating", "pairwise"}
BBOX_LABELS = {"car", "person", "sign"}


def _bank(key: str) -> dict:
    return yaml.safe_load((BANKS / f"{key}.yaml").read_text(encoding="utf-8"))


def _make_media():
    spec = importlib.util.spec_from_file_location("make_media", BANKS / "_tools" / "make_media.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exactly_the_four_starter_banks():
    assert {p.stem for p in BANKS.glob("*.yaml")} == set(STARTER)


@pytest.mark.parametrize("key", sorted(STARTER))
def test_exam_settings(key):
    bank = _bank(key)
    skill, course = STARTER[key]
    assert (bank["key"], bank["skill"], bank["grants_level"]) == (key, skill, 1)
    assert bank["requires"] == {"course": course, "skill_level": 0}
    assert 1200 <= bank["time_limit_s"] <= 1800
    assert 70 <= bank["pass_percent"] <= 80
    assert (bank["attempts_allowed"], bank["retake_cooldown_s"], bank["validity_days"]) == (3, 86400, 365)


@pytest.mark.parametrize("key", sorted(STARTER))
def test_size_mix_and_scoring(key):
    bank = _bank(key)
    questions = bank["questions"]
    pools = Counter(q["pool"] for q in questions)
    assert len(questions) >= 20
    assert set(pools) == {"basics", "practical"}
    assert pools["practical"] * 3 >= len(questions)
    for q in questions:
        practical = q["pool"] == "practical"
        assert practical == (q["kind"] in PRACTICAL_KINDS), q["key"]
        assert q["points"] == (2 if practical else 1), q["key"]
        if q["kind"] in ("single_choice", "multi_choice"):
            ids = [o["id"] for o in q["options"]]
            assert ids == ["a", "b", "c", "d"][:len(ids)] and len(ids) >= 2, q["key"]
    for entry in bank["draw"]:
        assert entry["count"] < pools[entry["pool"]], "a draw of every question would not vary"


@pytest.mark.parametrize("key", sorted(STARTER))
def test_practical_keys_are_fair(key):
    for q in _bank(key)["questions"]:
        answer = q["answer"]
        if q["kind"] == "transcription":
            assert 0 < answer["max_cer"] <= 0.15, q["key"]
        if q["kind"] == "bbox":
            assert 0 < answer["iou"] < 1 and answer["boxes"], q["key"]
            for box in answer["boxes"]:
                assert box["label"] in BBOX_LABELS, q["key"]
                assert all(isinstance(box[k], int) for k in "xywh"), q["key"]
        if q["kind"] == "rating":
            assert all(isinstance(s, int) and 1 <= s <= 5 for s in answer["scores"].values()), q["key"]
            assert isinstance(answer.get("tolerance", 0), int), q["key"]


@pytest.mark.parametrize("key", sorted(STARTER))
def test_true_false_explanations_agree_with_the_key(key):
    for q in _bank(key)["questions"]:
        if q["kind"] == "true_false":
            ko, en = q["explanation"]["ko"].strip(), q["explanation"]["en"].strip()
            if q["answer"]["value"]:
                assert ko.startswith("참") and en.startswith("True"), q["key"]
            else:
                assert ko.startswith("거짓") and en.startswith("False"), q["key"]


def test_keys_equal_what_make_media_draws():
    make_media = _make_media()
    for key, kind, check in (
        ("bbox-level-1", "bbox", lambda q: sorted(q["answer"]["boxes"], key=lambda b: (b["label"], b["x"], b["y"]))
         == make_media.render_bbox(q["key"])[1]),
        ("ocr-level-1", "transcription", lambda q: make_media.OCR_ITEMS[q["key"]]["text"] == q["answer"]["text"]),
        ("audio-level-1", "transcription", lambda q: make_media.AUDIO_ITEMS[q["key"]]["key"] == q["answer"]["text"]),
    ):
        practical = [q for q in _bank(key)["questions"] if q["kind"] == kind]
        assert practical
        for q in practical:
            assert check(q), f"{key} {q['key']}: the key differs from what make_media.py draws"


def test_media_are_named_after_bank_and_question():
    names = {p.name for p in (BANKS / "media").iterdir()}
    used = set()
    for key in STARTER:
        for q in _bank(key)["questions"]:
            for item in q.get("media") or ():
                name = item["url"].removeprefix("media/")
                assert re.match(rf"^{re.escape(key)}-{re.escape(q['key'])}(-[a-z0-9]+)?\.[a-z0-9]+$", name)
                used.add(name)
    assert used == names
