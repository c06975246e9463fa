#!/usr/bin/env python3
"""Check the course packs under courses/packs/ against docs/contracts/FORMATS.md.

Run:  python courses/packs/_tools/check_packs.py      (exit status 1 on any error)

Checks: course.yaml fields; every lesson file parses (YAML front matter) and is listed;
each language has exactly as many `<!-- next -->` sections as there are markdown blocks
without inline text; media exist and are small; question keys are unique in a pack;
answers have the API.md shapes and reference existing option ids; bbox keys equal the
boxes that _tools/draw_media.py computes; Markdown renders without stray `**`.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from PIL import Image

TOOLS = Path(__file__).resolve().parent
PACKS = TOOLS.parent
sys.path.insert(0, str(TOOLS))
sys.dont_write_bytecode = True  # importing draw_media must not leave __pycache__ in the repo

SKILLS = {"bbox", "ocr", "audio_transcription", "llm_eval"}
BLOCK_KINDS = {"markdown", "image", "video", "example"}
QUESTION_KINDS = {"single_choice", "multi_choice", "true_false", "numeric", "short_text", "bbox",
                  "transcription", "rating", "pairwise"}
MEDIA_EXT = {".png", ".jpg", ".jpeg", ".svg", ".ogg"}
MAX_MEDIA = 100 * 1024   # FORMATS.md
SOFT_MAX_MEDIA = 60 * 1024  # our own budget
FM = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.S)
LESSON_KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

errors: list[str] = []
questions: list[str] = []  # kinds of the questions of the pack being checked
md = MarkdownIt("commonmark").enable("table")


def err(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def is_text(v) -> bool:
    """Localised text: a non-empty string, or {ko, en} with both non-empty (we want both)."""
    if isinstance(v, str):
        return bool(v.strip())
    return (isinstance(v, dict) and set(v) == {"ko", "en"}
            and all(isinstance(v[k], str) and v[k].strip() for k in ("ko", "en")))


def check_markdown(where: str, text: str) -> None:
    if "<!--" in text:
        err(where, "HTML comment inside a section")
    if re.search(r"^---\s*$", text, re.M):
        err(where, "a '---' line in a body section")
    tokens = md.parse(text)
    for tok in tokens:
        if tok.type != "inline":
            continue
        tildes = sum(c.content.count("~") for c in tok.children or [] if c.type == "text")
        if tildes >= 2:  # GFM renderers strike through ~text~ (one tilde is enough there)
            err(where, f"two '~' outside code in one paragraph/cell: {tok.content[:60]!r}")
        for child in tok.children or []:
            if child.type == "text" and ("**" in child.content or "__" in child.content):
                err(where, f"emphasis did not render: {child.content[:60]!r}")


def check_media_url(where: str, pack: Path, url, media_used: set[str]) -> Path | None:
    if not isinstance(url, str) or url.startswith(("/", "http:", "https:")) or ".." in url:
        err(where, f"media url must be relative to the pack: {url!r}")
        return None
    path = pack / url
    if not path.is_file():
        err(where, f"media missing: {url}")
        return None
    if path.suffix.lower() not in MEDIA_EXT:
        err(where, f"media type not allowed: {url}")
    size = path.stat().st_size
    if size > MAX_MEDIA:
        err(where, f"{url} is {size} B > 100 KB")
    elif size > SOFT_MAX_MEDIA:
        err(where, f"{url} is {size} B > 60 KB budget")
    media_used.add(url)
    return path


def check_answer(where: str, q: dict, pack: Path) -> None:
    kind, ans, opts = q["kind"], q.get("answer"), q.get("options")
    ids = [o.get("id") for o in opts] if isinstance(opts, list) else []
    if not isinstance(ans, dict):
        err(where, "answer must be a mapping")
        return
    if opts is not None:
        if not isinstance(opts, list) or not opts:
            err(where, "options must be a non-empty list")
        for o in opts or []:
            if not isinstance(o, dict) or set(o) != {"id", "text"} or not isinstance(o["id"], str):
                err(where, f"bad option {o!r}")
            elif not is_text(o["text"]):
                err(where, f"option {o['id']} text not localised")
        if len(set(ids)) != len(ids):
            err(where, "duplicate option ids")

    def keys(allowed: set[str], required: set[str]):
        if not required <= set(ans) <= allowed:
            err(where, f"{kind} answer keys {sorted(ans)}; want {sorted(required)} (+{sorted(allowed - required)})")

    if kind in ("single_choice", "multi_choice"):
        if len(ids) < 2:
            err(where, f"{kind} needs at least two options")
        if ids and ids != [chr(ord("a") + i) for i in range(len(ids))]:
            err(where, f"option ids should be a, b, c, …: {ids}")
    if kind == "single_choice":
        keys({"choice"}, {"choice"})
        if ans.get("choice") not in ids:
            err(where, f"choice {ans.get('choice')!r} not an option id")
    elif kind == "multi_choice":
        keys({"choices"}, {"choices"})
        ch = ans.get("choices")
        if not isinstance(ch, list) or not ch or len(set(ch)) != len(ch) or not set(ch) <= set(ids):
            err(where, f"choices {ch!r} must be distinct option ids")
    elif kind == "true_false":
        keys({"value"}, {"value"})
        if not isinstance(ans.get("value"), bool):
            err(where, "true_false value must be a boolean")
    elif kind == "numeric":
        keys({"value", "tolerance"}, {"value"})
        if not isinstance(ans.get("value"), (int, float)) or isinstance(ans.get("value"), bool):
            err(where, "numeric value must be a number")
    elif kind == "short_text":
        keys({"text", "alternatives"}, {"text"})
        if not isinstance(ans.get("text"), str) or not ans["text"].strip():
            err(where, "short_text text must be a non-empty string")
        alts = ans.get("alternatives", [])
        if not isinstance(alts, list) or not all(isinstance(a, str) and a for a in alts):
            err(where, "alternatives must be a list of strings")
    elif kind == "transcription":
        keys({"text", "max_cer"}, {"text"})
        if not isinstance(ans.get("text"), str) or not ans["text"].strip():
            err(where, "transcription text must be a non-empty string")
        mc = ans.get("max_cer")
        if mc is not None and not (isinstance(mc, (int, float)) and 0 <= mc < 1):
            err(where, "max_cer must be in [0, 1)")
    elif kind == "rating":
        keys({"scores", "tolerance"}, {"scores"})
        sc = ans.get("scores")
        if not isinstance(sc, dict) or not sc:
            err(where, "rating scores must be a non-empty mapping")
        else:
            for dim, v in sc.items():
                if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 5:
                    err(where, f"score {dim}={v!r} must be an int 1..5")
            if opts is not None and set(sc) != set(ids):
                err(where, f"score dimensions {sorted(sc)} != option ids {sorted(ids)}")
        tol = ans.get("tolerance")
        if tol is not None and not (isinstance(tol, int) and tol >= 0):
            err(where, "rating tolerance must be an int >= 0")
    elif kind == "pairwise":
        keys({"preferred"}, {"preferred"})
        if ans.get("preferred") not in ("a", "b"):
            err(where, "preferred must be 'a' or 'b'")
        if opts is not None and ids != ["a", "b"]:
            err(where, f"pairwise options must be a and b, got {ids}")
    elif kind == "bbox":
        keys({"boxes", "iou"}, {"boxes"})
        boxes = ans.get("boxes")
        size = None
        for m in q.get("media", []):
            if m.get("kind") == "image" and (pack / m["url"]).is_file():
                with Image.open(pack / m["url"]) as im:
                    size = im.size
        if size is None:
            err(where, "bbox question needs an image")
        if not isinstance(boxes, list) or not boxes:
            err(where, "bbox answer needs boxes")
            return
        for b in boxes:
            if not isinstance(b, dict) or set(b) != {"x", "y", "w", "h", "label"}:
                err(where, f"bad box {b!r}")
                continue
            if not all(isinstance(b[k], int) for k in "xywh") or b["w"] <= 0 or b["h"] <= 0:
                err(where, f"box numbers must be positive ints: {b}")
            elif size and (b["x"] < 0 or b["y"] < 0 or b["x"] + b["w"] > size[0] or b["y"] + b["h"] > size[1]):
                err(where, f"box {b} outside the {size} image")
        iou = ans.get("iou")
        if iou is not None and not (isinstance(iou, (int, float)) and 0 < iou <= 1):
            err(where, "iou must be in (0, 1]")


def check_question(where: str, q, pack: Path, keys_seen: dict, media_used: set[str], bbox_keys: list):
    if not isinstance(q, dict):
        err(where, "question must be a mapping")
        return
    allowed = {"key", "kind", "prompt", "media", "options", "answer", "points", "explanation", "pool"}
    if set(q) - allowed:
        err(where, f"unknown question fields {sorted(set(q) - allowed)}")
    key = q.get("key")
    where = f"{where} [{key}]"
    if not isinstance(key, str) or not key:
        err(where, "question needs a key")
    elif key in keys_seen:
        err(where, f"question key also used in {keys_seen[key]}")
    else:
        keys_seen[key] = where
    if q.get("kind") not in QUESTION_KINDS:
        err(where, f"unknown kind {q.get('kind')!r}")
        return
    questions.append(q["kind"])
    if not is_text(q.get("prompt")):
        err(where, "prompt must be localised ko + en")
    if not is_text(q.get("explanation")):
        err(where, "explanation must be localised ko + en")
    for m in q.get("media", []) or []:
        if not isinstance(m, dict) or set(m) != {"kind", "url"} or m["kind"] not in ("image", "audio", "video"):
            err(where, f"bad media item {m!r}")
        else:
            check_media_url(where, pack, m["url"], media_used)
    if "points" in q and not (isinstance(q["points"], int) and q["points"] > 0):
        err(where, "points must be a positive int")
    check_answer(where, q, pack)
    if q["kind"] == "bbox":
        bbox_keys.append((where, q))


def split_body(where: str, body: str) -> dict[str, list[str]] | None:
    m = re.fullmatch(r"\s*<!-- ko -->\n(.*)\n<!-- en -->\n(.*)", body, re.S)
    if not m:
        err(where, "body must be '<!-- ko -->' sections then '<!-- en -->' sections")
        return None
    out = {}
    for lang, text in zip(("ko", "en"), m.groups()):
        parts = [p.strip() for p in re.split(r"^<!-- next -->\s*$", text, flags=re.M)]
        if any(not p for p in parts):
            err(where, f"empty {lang} section")
        out[lang] = parts
    return out


def check_lesson(pack: Path, key: str, keys_seen: dict, media_used: set[str], bbox_keys: list) -> int:
    path = pack / "lessons" / f"{key}.md"
    where = str(path.relative_to(PACKS))
    if not path.is_file():
        err(where, "lesson file missing")
        return 0
    raw = path.read_text(encoding="utf-8")
    m = FM.match(raw)
    if not m:
        err(where, "no YAML front matter")
        return 0
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        err(where, f"YAML: {e}")
        return 0
    try:  # the loader may well use python-frontmatter: make sure it agrees
        import frontmatter
        post = frontmatter.loads(raw)
        if post.metadata != meta or post.content.strip() != m.group(2).strip():
            err(where, "python-frontmatter parses this file differently")
    except ImportError:
        pass
    if set(meta) != {"title", "blocks"}:
        err(where, f"front matter keys {sorted(meta)}; want title, blocks")
    if not is_text(meta.get("title")):
        err(where, "title must be localised ko + en")
    blocks = meta.get("blocks") or []
    n_body = 0
    n_examples = 0
    for i, b in enumerate(blocks):
        bw = f"{where} block {i}"
        kind = b.get("kind") if isinstance(b, dict) else None
        if kind not in BLOCK_KINDS:
            err(bw, f"unknown block kind {kind!r}")
            continue
        if kind == "markdown":
            if "text" in b:
                if not is_text(b["text"]):
                    err(bw, "inline text must be localised")
                else:
                    for lang in ("ko", "en"):
                        check_markdown(f"{bw} {lang}", b["text"][lang])
            else:
                n_body += 1
            if set(b) - {"kind", "text"}:
                err(bw, f"unknown fields {sorted(set(b) - {'kind', 'text'})}")
        elif kind == "image":
            if set(b) != {"kind", "url", "alt"}:
                err(bw, f"image fields {sorted(b)}; want kind, url, alt")
            check_media_url(bw, pack, b.get("url"), media_used)
            if not is_text(b.get("alt")):
                err(bw, "alt must be localised ko + en")
        elif kind == "video":
            if not isinstance(b.get("duration_s"), int):
                err(bw, "video needs duration_s")
        elif kind == "example":
            n_examples += 1
            check_question(bw, b.get("question"), pack, keys_seen, media_used, bbox_keys)
    sections = split_body(where, m.group(2))
    if sections:
        for lang, parts in sections.items():
            if len(parts) != n_body:
                err(where, f"{lang}: {len(parts)} sections for {n_body} body-less markdown blocks")
            for j, p in enumerate(parts):
                check_markdown(f"{where} {lang}#{j + 1}", p)
    return n_examples


def check_bbox_geometry(bbox_keys: list) -> None:
    if not bbox_keys:
        return
    import draw_media
    draw_media.DRY_RUN = True
    draw_media.bbox_media()
    for where, q in bbox_keys:
        name = Path(q["media"][0]["url"]).name
        drawn = draw_media.BOXES.get(name)
        if drawn is None:
            err(where, f"draw_media.py records no boxes for {name}")
            continue
        want = sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in q["answer"]["boxes"])
        have = sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in drawn)
        if want != have:
            err(where, f"answer boxes {want} != drawn {have}")


def check_pack(pack: Path) -> None:
    where = pack.name
    cy = pack / "course.yaml"
    if not cy.is_file():
        err(where, "course.yaml missing")
        return
    try:
        course = yaml.safe_load(cy.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        err(where, f"course.yaml: {e}")
        return
    allowed = {"slug", "version", "title", "description", "skill", "level", "sequential", "requires", "modules"}
    if set(course) - allowed:
        err(where, f"unknown course fields {sorted(set(course) - allowed)}")
    if course.get("slug") != pack.name:
        err(where, "slug must equal the folder name")
    if not isinstance(course.get("version"), int) or course["version"] < 1:
        err(where, "version must be a positive int")
    for f in ("title", "description"):
        if not is_text(course.get(f)):
            err(where, f"{f} must be localised ko + en")
    if course.get("skill") not in SKILLS:
        err(where, f"unknown skill {course.get('skill')!r}")
    if not isinstance(course.get("level"), int):
        err(where, "level must be an int")
    if not isinstance(course.get("sequential", False), bool):
        err(where, "sequential must be a boolean")
    req = course.get("requires")
    if req is not None and (not isinstance(req, dict) or set(req) - {"courses", "skill_level"}):
        err(where, "requires must be {courses, skill_level}")
    keys_seen: dict[str, str] = {}
    questions.clear()
    media_used: set[str] = set()
    bbox_keys: list = []
    lessons: list[str] = []
    examples = 0
    for i, mod in enumerate(course.get("modules") or []):
        if not is_text(mod.get("title")):
            err(where, f"module {i} title must be localised")
        for key in mod.get("lessons") or []:
            if not isinstance(key, str) or not LESSON_KEY.match(key):
                err(where, f"bad lesson key {key!r}")
                continue
            if key in lessons:
                err(where, f"lesson {key} listed twice")
            lessons.append(key)
            examples += check_lesson(pack, key, keys_seen, media_used, bbox_keys)
    if not lessons:
        err(where, "no lessons")
    on_disk = {p.stem for p in (pack / "lessons").glob("*.md")}
    for extra in sorted(on_disk - set(lessons)):
        err(where, f"lessons/{extra}.md is not listed in course.yaml")
    media_dir = pack / "media"
    if media_dir.is_dir():
        for f in sorted(media_dir.iterdir()):
            if f"media/{f.name}" not in media_used:
                err(where, f"media/{f.name} is not used")
    check_bbox_geometry(bbox_keys)
    kinds: dict[str, int] = {}
    for q in questions:
        kinds[q] = kinds.get(q, 0) + 1
    summary = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(f"{pack.name}: {len(lessons)} lessons ({', '.join(lessons)}); {examples} examples ({summary}); "
          f"{len(media_used)} media")


def main() -> int:
    packs = sorted(p for p in PACKS.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    for pack in packs:
        check_pack(pack)
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
