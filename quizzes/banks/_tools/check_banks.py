"""Check the exam bank files in quizzes/banks/ against docs/contracts/FORMATS.md and our own rules.

    .venv/bin/python quizzes/banks/_tools/check_banks.py        # exit 0 when every bank passes

Checks: the exam fields, >= 20 questions, >= 1/3 practical, Korean and English in every prompt,
explanation and option text, unique keys, answer shapes per kind, answers that name existing
options, media that exist (named <bank>-<question>.<ext>, within size limits, none unused), draw
counts within the pool sizes, and that the bbox/OCR/audio answer keys equal what make_media.py
draws. When backend.quality.compare is importable, every key also passes its validate_key and
grades itself as correct.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import yaml
from PIL import Image

TOOLS = Path(__file__).resolve().parent
BANKS = TOOLS.parent
MEDIA = BANKS / "media"
sys.path.insert(0, str(TOOLS))
import make_media  # noqa: E402

EXPECTED = {
    "bbox-level-1": ("bbox", "bbox-basics"),
    "ocr-level-1": ("ocr", "korean-ocr-basics"),
    "audio-level-1": ("audio_transcription", "meeting-transcription-basics"),
    "llm-eval-level-1": ("llm_eval", "llm-eval-basics"),
}
KINDS = {"single_choice", "multi_choice", "true_false", "numeric", "short_text", "bbox",
         "transcription", "rating", "pairwise"}
QUESTION_FIELDS = {"key", "kind", "prompt", "media", "options", "answer", "points", "explanation", "pool"}
EXAM_FIELDS = {"key", "version", "title", "description", "skill", "grants_level", "requires",
               "time_limit_s", "pass_percent", "attempts_allowed", "retake_cooldown_s",
               "validity_days", "draw", "questions"}
MEDIA_LIMITS = {"image": 60 * 1024, "audio": 80 * 1024}
MEDIA_EXT = {"image": {"png", "jpg", "jpeg"}, "audio": {"ogg", "mp3", "wav"}}
TOTAL_MEDIA_LIMIT = 2 * 1024 * 1024
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN = re.compile(r"[A-Za-z]")


class Bank:
    def __init__(self, path: Path):
        self.path = path
        self.errors: list[str] = []

    def err(self, where: str, msg: str) -> None:
        self.errors.append(f"{self.path.name}: {where}: {msg}")


def check_text(b: Bank, where: str, value, *, strict: bool) -> None:
    """A localised text with both languages. strict: ko has Hangul and en has Latin letters."""
    if not isinstance(value, dict) or set(value) != {"ko", "en"}:
        b.err(where, f"needs exactly {{ko, en}}, got {value!r:.60}")
        return
    for lang in ("ko", "en"):
        if not isinstance(value[lang], str) or not value[lang].strip():
            b.err(where, f"empty {lang} text")
            return
    if strict:
        if not HANGUL.search(value["ko"]):
            b.err(where, "ko text has no Hangul")
        if not LATIN.search(value["en"]):
            b.err(where, "en text has no Latin letters")


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_answer(b: Bank, q: dict, where: str, media_sizes: list[tuple[int, int]]) -> None:
    kind, ans = q["kind"], q.get("answer")
    if not isinstance(ans, dict):
        b.err(where, "answer must be a mapping")
        return
    ids = [o.get("id") for o in q.get("options") or []]
    if kind in ("single_choice", "multi_choice"):
        if ids[:len(ids)] != ["a", "b", "c", "d"][:len(ids)] or len(ids) < 2:
            b.err(where, f"options must be ids a, b, c, d in order, got {ids}")
    elif q.get("options"):
        b.err(where, f"{kind} takes no options")

    def keys(required: set, optional: set = frozenset()):
        extra = set(ans) - required - optional
        missing = required - set(ans)
        if extra or missing:
            b.err(where, f"answer keys: missing {sorted(missing)}, unexpected {sorted(extra)}")
            return False
        return True

    if kind == "single_choice":
        if keys({"choice"}) and ans["choice"] not in ids:
            b.err(where, f"choice {ans['choice']!r} is not an option id")
    elif kind == "multi_choice":
        if keys({"choices"}):
            ch = ans["choices"]
            if not isinstance(ch, list) or not ch or len(set(ch)) != len(ch) or not set(ch) <= set(ids):
                b.err(where, f"choices {ch!r} must be distinct existing option ids")
            elif len(ch) == len(ids):
                b.err(where, "every option is correct: not a real question")
    elif kind == "true_false":
        if keys({"value"}) and not isinstance(ans["value"], bool):
            b.err(where, "value must be true or false")
    elif kind == "numeric":
        if keys({"value"}, {"tolerance"}):
            if not is_num(ans["value"]) or not is_num(ans.get("tolerance", 0)) or ans.get("tolerance", 0) < 0:
                b.err(where, "numeric value/tolerance must be numbers, tolerance >= 0")
    elif kind == "short_text":
        if keys({"text"}, {"alternatives"}):
            alts = ans.get("alternatives", [])
            if not isinstance(ans["text"], str) or not ans["text"] or not all(isinstance(a, str) and a for a in alts):
                b.err(where, "short_text needs a text and string alternatives")
    elif kind == "transcription":
        if keys({"text"}, {"max_cer"}):
            cer = ans.get("max_cer")
            if not isinstance(ans["text"], str) or not ans["text"].strip():
                b.err(where, "transcription needs a text")
            if cer is None or not is_num(cer) or not 0 < cer <= 0.15:
                b.err(where, f"max_cer must be in (0, 0.15], got {cer!r}")
    elif kind == "bbox":
        if keys({"boxes"}, {"iou"}):
            iou = ans.get("iou")
            if iou is None or not is_num(iou) or not 0 < iou < 1:
                b.err(where, f"iou must be in (0, 1), got {iou!r}")
            boxes = ans["boxes"]
            if not isinstance(boxes, list) or not boxes:
                b.err(where, "boxes must be a non-empty list")
                return
            w, h = media_sizes[0] if media_sizes else (None, None)
            for i, bx in enumerate(boxes):
                if not isinstance(bx, dict) or set(bx) != {"x", "y", "w", "h", "label"}:
                    b.err(where, f"box {i} must have exactly x, y, w, h, label")
                    continue
                if not all(is_int(bx[k]) for k in "xywh") or bx["w"] <= 0 or bx["h"] <= 0 or bx["x"] < 0 or bx["y"] < 0:
                    b.err(where, f"box {i} needs non-negative integers and w, h > 0")
                elif w is not None and (bx["x"] + bx["w"] > w or bx["y"] + bx["h"] > h):
                    b.err(where, f"box {i} goes outside the {w}x{h} image")
                if bx["label"] not in {"car", "person", "sign"}:
                    b.err(where, f"box {i} has unknown label {bx['label']!r}")
    elif kind == "rating":
        if keys({"scores"}, {"tolerance"}):
            sc = ans["scores"]
            if not isinstance(sc, dict) or not sc or not all(is_int(v) and 1 <= v <= 5 for v in sc.values()):
                b.err(where, "scores must map dimensions to integers 1..5")
            else:
                en = q["prompt"]["en"] if isinstance(q.get("prompt"), dict) else ""
                ko = q["prompt"]["ko"] if isinstance(q.get("prompt"), dict) else ""
                for dim in sc:
                    if dim not in en or dim not in ko:
                        b.err(where, f"dimension {dim!r} is not named in both prompts")
            if not is_int(ans.get("tolerance", 0)) or ans.get("tolerance", 0) < 0:
                b.err(where, "tolerance must be an integer >= 0")
    elif kind == "pairwise":
        if keys({"preferred"}) and ans["preferred"] not in ("a", "b"):
            b.err(where, "preferred must be a or b")
        for lang, a_mark, b_mark in (("ko", "[답변 A]", "[답변 B]"), ("en", "[Response A]", "[Response B]")):
            text = q["prompt"].get(lang, "") if isinstance(q.get("prompt"), dict) else ""
            if a_mark not in text or b_mark not in text:
                b.err(where, f"{lang} prompt must show both responses ({a_mark}, {b_mark})")


def check_media(b: Bank, bank_key: str, q: dict, where: str, used: set) -> list[tuple[int, int]]:
    sizes = []
    for m in q.get("media") or []:
        kind, url = m.get("kind"), m.get("url", "")
        if set(m) != {"kind", "url"}:
            b.err(where, f"media entries are {{kind, url}}, got {sorted(m)}")
        if not url.startswith("media/"):
            b.err(where, f"media url must start with media/: {url}")
            continue
        name = url[len("media/"):]
        stem, _, ext = name.rpartition(".")
        if stem != f"{bank_key}-{q['key']}" and not stem.startswith(f"{bank_key}-{q['key']}-"):
            b.err(where, f"media file {name} is not named <bank-key>-<question-key>.<ext>")
        if kind not in MEDIA_EXT or ext not in MEDIA_EXT[kind]:
            b.err(where, f"media kind {kind!r} does not fit .{ext}")
            continue
        path = BANKS / url
        if not path.is_file():
            b.err(where, f"missing media file {url}")
            continue
        used.add(path.name)
        if path.stat().st_size > MEDIA_LIMITS[kind]:
            b.err(where, f"{url} is {path.stat().st_size} bytes, over {MEDIA_LIMITS[kind]}")
        if kind == "image":
            with Image.open(path) as im:
                sizes.append(im.size)
    return sizes


def check_generated(b: Bank, bank_key: str, q: dict, where: str) -> None:
    """The answer keys must be what make_media.py draws."""
    k = q["key"]
    if bank_key == "bbox-level-1" and q["kind"] == "bbox":
        if k not in make_media.BBOX_SCENES:
            b.err(where, "no scene in make_media.BBOX_SCENES")
            return
        _, drawn = make_media.render_bbox(k)
        key = sorted(q["answer"]["boxes"], key=lambda bx: (bx["label"], bx["x"], bx["y"]))
        if key != drawn:
            b.err(where, f"boxes differ from the drawn scene: {drawn}")
    elif bank_key == "ocr-level-1" and q["kind"] == "transcription":
        item = make_media.OCR_ITEMS.get(k)
        if not item or item["text"] != q["answer"]["text"]:
            b.err(where, f"text differs from make_media.OCR_ITEMS: {item and item['text']!r}")
    elif bank_key == "audio-level-1" and q["kind"] == "transcription":
        item = make_media.AUDIO_ITEMS.get(k)
        if not item or item["key"] != q["answer"]["text"]:
            b.err(where, f"text differs from make_media.AUDIO_ITEMS: {item and item['key']!r}")


KEY_ONLY = {"tolerance", "alternatives", "iou", "max_cer"}


def _compare_module():
    """backend.quality.compare (the real grader) when the repo has it, else None."""
    sys.path.insert(0, str(BANKS.parents[1]))
    try:
        from backend.quality import compare
    except Exception:  # noqa: BLE001 - the check works without the backend too
        return None
    return compare


COMPARE = _compare_module()


def check_with_grader(b: Bank, q: dict, where: str) -> None:
    """The key passes the real grader's key validation and grades itself as right; a box drawn
    1 px looser on every side still passes."""
    kind, key = q["kind"], q["answer"]
    try:
        COMPARE.validate_key(kind, key, q.get("options"))
    except Exception as exc:  # noqa: BLE001
        b.err(where, f"grader rejects the key: {exc}")
        return
    reply = {k: v for k, v in key.items() if k not in KEY_ONLY}
    if not COMPARE.grade(kind, key, COMPARE.validate_answer(kind, reply)).correct:
        b.err(where, "the key does not grade itself as correct")
    if kind == "bbox":
        loose = {"boxes": [{**bx, "x": max(0, bx["x"] - 1), "y": max(0, bx["y"] - 1),
                            "w": bx["w"] + 2, "h": bx["h"] + 2} for bx in key["boxes"]]}
        if not COMPARE.grade(kind, key, loose).correct:
            b.err(where, "a box 1 px looser on each side fails: the IoU threshold is too strict")


def check_bank(path: Path, used: set) -> Bank:
    b = Bank(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        b.err("yaml", str(exc))
        return b
    bank_key = path.stem
    if set(data) - EXAM_FIELDS or EXAM_FIELDS - {"draw"} - set(data):
        b.err("exam", f"fields: unexpected {sorted(set(data) - EXAM_FIELDS)}, missing {sorted(EXAM_FIELDS - {'draw'} - set(data))}")
    if data.get("key") != bank_key:
        b.err("key", f"{data.get('key')!r} must equal the file name {bank_key!r}")
    skill, course = EXPECTED.get(bank_key, (None, None))
    if skill is None:
        b.err("key", "not one of the four starter banks")
    if data.get("skill") != skill:
        b.err("skill", f"{data.get('skill')!r} != {skill!r}")
    if data.get("requires", {}).get("course") != course:
        b.err("requires", f"course must be {course!r}")
    if set(data.get("requires", {})) - {"course", "skill_level"}:
        b.err("requires", "only course and skill_level are allowed")
    if data.get("grants_level") != 1 or not is_int(data.get("version")) or data.get("version") < 1:
        b.err("exam", "grants_level must be 1 and version a positive integer")
    for f, lo, hi in (("time_limit_s", 1200, 1800), ("pass_percent", 70, 80), ("attempts_allowed", 3, 3),
                      ("retake_cooldown_s", 86400, 86400), ("validity_days", 365, 365)):
        if not is_int(data.get(f)) or not lo <= data[f] <= hi:
            b.err(f, f"{data.get(f)!r} not in [{lo}, {hi}]")
    check_text(b, "title", data.get("title"), strict=True)
    check_text(b, "description", data.get("description"), strict=True)

    qs = data.get("questions") or []
    if len(qs) < 20:
        b.err("questions", f"only {len(qs)} questions, need >= 20")
    keys = Counter(q.get("key") for q in qs)
    for k, n in keys.items():
        if n > 1:
            b.err("questions", f"key {k!r} used {n} times")
    pools = Counter(q.get("pool") for q in qs)
    if set(pools) - {"basics", "practical"}:
        b.err("questions", f"unknown pools {sorted(set(pools) - {'basics', 'practical'})}")
    if pools["practical"] * 3 < len(qs):
        b.err("questions", f"{pools['practical']} practical of {len(qs)}: less than a third")
    for q in qs:
        where = f"question {q.get('key')}"
        if set(q) - QUESTION_FIELDS:
            b.err(where, f"unexpected fields {sorted(set(q) - QUESTION_FIELDS)}")
        if not isinstance(q.get("key"), str) or not q.get("key"):
            b.err(where, "needs a string key")
            continue
        if q.get("kind") not in KINDS:
            b.err(where, f"unknown kind {q.get('kind')!r}")
            continue
        practical = q.get("pool") == "practical"
        if q.get("points") != (2 if practical else 1):
            b.err(where, f"points {q.get('points')!r}: practical items 2, others 1")
        if practical != (q["kind"] in {"bbox", "transcription", "rating", "pairwise"}):
            b.err(where, f"pool {q.get('pool')} does not fit kind {q['kind']}")
        check_text(b, f"{where} prompt", q.get("prompt"), strict=True)
        check_text(b, f"{where} explanation", q.get("explanation"), strict=True)
        for o in q.get("options") or []:
            if set(o) != {"id", "text"}:
                b.err(where, f"option fields must be id, text: {o}")
            check_text(b, f"{where} option {o.get('id')}", o.get("text"), strict=False)
        sizes = check_media(b, bank_key, q, where, used)
        if q["kind"] in ("bbox", "transcription") and not q.get("media"):
            b.err(where, f"{q['kind']} needs media")
        before = len(b.errors)
        check_answer(b, q, where, sizes)
        if len(b.errors) == before:
            check_generated(b, bank_key, q, where)
            if COMPARE is not None:
                check_with_grader(b, q, where)

    draw = data.get("draw")
    if draw is not None:
        seen = set()
        for d in draw:
            pool, count = d.get("pool"), d.get("count")
            if set(d) != {"pool", "count"} or not is_int(count) or count < 1:
                b.err("draw", f"bad entry {d}")
            elif pool not in pools:
                b.err("draw", f"pool {pool!r} has no questions")
            elif count > pools[pool]:
                b.err("draw", f"pool {pool}: draws {count} of {pools[pool]}")
            elif count == pools[pool]:
                b.err("draw", f"pool {pool}: draws all {count}, attempts would not differ")
            if pool in seen:
                b.err("draw", f"pool {pool} listed twice")
            seen.add(pool)

    if not b.errors:
        kinds = Counter(q["kind"] for q in qs)
        drawn = {d["pool"]: d["count"] for d in draw or []}
        print(f"{path.name}: {len(qs)} questions ({pools['basics']} basics / {pools['practical']} practical), "
              f"draw {drawn}, kinds {dict(sorted(kinds.items()))}")
    return b


def main() -> int:
    files = sorted(BANKS.glob("*.yaml"))
    errors: list[str] = []
    used: set[str] = set()
    names = {p.stem for p in files}
    for missing in sorted(set(EXPECTED) - names):
        errors.append(f"missing bank {missing}.yaml")
    for path in files:
        errors += check_bank(path, used).errors
    on_disk = {p.name for p in MEDIA.iterdir() if p.is_file()} if MEDIA.is_dir() else set()
    for orphan in sorted(on_disk - used):
        errors.append(f"media/{orphan} is not used by any question")
    total = sum((MEDIA / n).stat().st_size for n in on_disk)
    if total > TOTAL_MEDIA_LIMIT:
        errors.append(f"media total {total} bytes is over {TOTAL_MEDIA_LIMIT}")
    print(f"media: {len(on_disk)} files, {total / 1024:.0f} KiB; "
          f"keys checked against backend.quality.compare: {'yes' if COMPARE else 'no (not importable)'}")
    for e in errors:
        print("ERROR", e)
    bad = {e.split(":")[0] for e in errors if ".yaml:" in e}
    print(f"banks: {len(files) - len(bad)} ok, {len(bad)} with errors; {len(errors)} errors in all")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
