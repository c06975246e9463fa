"""Course packs on disk (docs/contracts/FORMATS.md): find them, read them, check them.

A pack is read into the authoring payload of the manager API (plus `version` and its media files),
so `courses.schemas.PackCourseIn` checks packs and API payloads alike. On top of that come the
rules of files: front matter, body sections, media files, Markdown that renders, both languages.
Every problem carries its file and line. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from marshmallow import ValidationError

from backend.errors import flatten_messages
from courses.schemas import SLUG_PATTERN, PackCourseIn

MAX_MEDIA_BYTES = 100 * 1024  # FORMATS.md
MEDIA_BUDGET_BYTES = 60 * 1024  # the content author's own budget: above it is a warning
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
               ".ogg": "audio/ogg"}
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "audio/ogg": (b"OggS",)}
_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)?---\n(.*)\Z", re.S)
_MARKER = re.compile(r"^<!-- (ko|en|next) -->[ \t]*$", re.M)
_LESSON_KEY = re.compile(SLUG_PATTERN)
_markdown = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class PackInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} problem(s) in the course packs")
        self.problems = sorted(problems)


@dataclass(frozen=True)
class MediaFile:
    path: str  # relative to the pack: media/x.png
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Locator:
    """Where each part of a payload came from: (path in the payload) → (file, line)."""

    def __init__(self, default_file: str):
        self.default_file = default_file
        self._lines: dict[tuple[str, ...], tuple[str, int]] = {}

    def set(self, path: tuple, file: str, line: int) -> None:
        self._lines[tuple(str(part) for part in path)] = (file, line)

    def add_yaml(self, node: yaml.Node, file: str, prefix: tuple = (), offset: int = 0) -> None:
        self.set(prefix, file, node.start_mark.line + 1 + offset)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                self.add_yaml(value_node, file, (*prefix, key_node.value), offset)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.add_yaml(item, file, (*prefix, index), offset)

    def find(self, path) -> tuple[str, int]:
        parts = tuple(str(part) for part in path)
        for end in range(len(parts), -1, -1):
            if parts[:end] in self._lines:
                return self._lines[parts[:end]]
        return self.default_file, 0


@dataclass
class Pack:
    slug: str
    root: Path
    payload: dict  # cleaned by PackCourseIn
    media: dict[str, MediaFile]
    locator: Locator
    warnings: list[Problem] = field(default_factory=list)


def discover(path: Path) -> list[Path]:
    """A pack folder itself, or every pack folder inside `path` (folders starting with _ or . are not)."""
    path = Path(path)
    if (path / "course.yaml").is_file():
        return [path]
    if not path.is_dir():
        raise PackInvalid([Problem(str(path), 0, "not a folder")])
    found = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if not found:
        raise PackInvalid([Problem(str(path), 0, "no course packs (folders with a course.yaml) here")])
    return found


def load_packs(path: Path) -> tuple[list[Pack], list[Problem]]:
    """Read and check every pack under `path`; returns the packs that are valid and all problems."""
    packs, problems = [], []
    for folder in discover(path):
        reader = PackReader(folder)
        pack = reader.read()
        problems.extend(p for p in reader.problems if not p.warning)
        if pack is not None:
            pack.warnings = [p for p in reader.problems if p.warning]
            packs.append(pack)
    return packs, problems


def _display(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


class PackReader:
    """Reads one pack folder; collects every problem instead of stopping at the first."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.problems: list[Problem] = []
        self.course_file = _display(self.root / "course.yaml")
        self.locator = Locator(self.course_file)
        self.media: dict[str, MediaFile] = {}
        self.unreadable: set[tuple[str, ...]] = set()  # lessons already reported; their fields are not

    def error(self, file: str, line: int, message: str, *, warning: bool = False) -> None:
        self.problems.append(Problem(file, line, message, warning))

    # -- whole pack -----------------------------------------------------------------------------
    def read(self) -> Pack | None:
        course = self._yaml(self.root / "course.yaml", self.course_file, ())
        if course is None:
            return None
        if not isinstance(course, dict):
            self.error(self.course_file, 1, "course.yaml must be a mapping")
            return None
        if course.get("slug") != self.root.name:
            self.error(*self.locator.find(("slug",)), f"slug must equal the folder name {self.root.name!r}")
        if "description" not in course:
            self.error(self.course_file, 1, "description: a pack's course needs a description")
        payload = {**course, "modules": self._modules(course.get("modules"))}
        self._check_unlisted_files(payload["modules"])
        self._check_both_languages(payload, ())
        self._check_examples(payload["modules"])
        cleaned = self._validate(payload)
        if cleaned is None or self.problems_without_warnings():
            return None
        return Pack(self.root.name, self.root, cleaned, self.media, self.locator)

    def problems_without_warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    def _validate(self, payload: dict) -> dict | None:
        try:
            return PackCourseIn().load(payload)
        except ValidationError as error:
            for path, messages in flatten_messages(error.messages).items():
                parts = [part for part in path.split(".") if part != "_schema"]
                if tuple(parts[:4]) in self.unreadable:
                    continue
                file, line = self.locator.find(parts)
                shown = _readable_path(parts)
                for message in messages:
                    self.error(file, line, f"{shown}: {message}" if shown else message)
            return None

    def _modules(self, modules) -> list:
        if not isinstance(modules, list):
            return modules
        result = []
        for m, module in enumerate(modules):
            if not isinstance(module, dict) or not isinstance(module.get("lessons"), list):
                result.append(module)
                continue
            lessons = [self._lesson(key, ("modules", m, "lessons", n))
                       for n, key in enumerate(module["lessons"])]
            result.append({**module, "lessons": lessons})
        return result

    def _check_unlisted_files(self, modules) -> None:
        listed = {lesson.get("key") for module in modules or () if isinstance(module, dict)
                  for lesson in module.get("lessons") or () if isinstance(lesson, dict)}
        lessons_dir = self.root / "lessons"
        for path in sorted(lessons_dir.glob("*.md")) if lessons_dir.is_dir() else ():
            if path.stem not in listed:
                self.error(_display(path), 1, "this lesson is not listed in course.yaml")
        media_dir = self.root / "media"
        for path in sorted(media_dir.rglob("*")) if media_dir.is_dir() else ():
            relative = path.relative_to(self.root).as_posix()
            if path.is_file() and relative not in self.media:
                self.error(_display(path), 0, "this media file is not used by any lesson")

    # -- one lesson -----------------------------------------------------------------------------
    def _lesson(self, key, where: tuple) -> dict:
        """The lesson's payload; a lesson that cannot be read is reported once, here."""
        self.unreadable.add(tuple(str(part) for part in where))
        if not isinstance(key, str) or not _LESSON_KEY.match(key) or len(key) > 80:
            self.error(*self.locator.find(where), f"bad lesson key {key!r}: use lowercase letters, digits "
                                                  "and single hyphens")
            return {"key": str(key)}
        self.locator.set((*where, "key"), *self.locator.find(where))
        path = self.root / "lessons" / f"{key}.md"
        file = _display(path)
        if not path.is_file():
            self.error(*self.locator.find(where), f"lesson file lessons/{key}.md is missing")
            return {"key": key}
        text = _read_text(path)
        match = _FRONT_MATTER.match(text) if text is not None else None
        if match is None:
            self.error(file, 1, "a lesson starts with YAML front matter between two '---' lines")
            return {"key": key}
        meta = self._yaml_text(match.group(1) or "", file, where, offset=1)
        if not isinstance(meta, dict):
            if meta is not None:
                self.error(file, 2, "the front matter must be a mapping with title and blocks")
            return {"key": key}
        self.unreadable.discard(tuple(str(part) for part in where))
        if "key" in meta:
            self.error(*self.locator.find((*where, "key")), "the lesson key is its file name; remove 'key'")
        body_line = (match.group(1) or "").count("\n") + 3
        self._fill_markdown(meta, self._sections(match.group(2), file, body_line), file, where)
        self._check_lesson_media(meta, file, where)
        return {**meta, "key": key}

    def _sections(self, body: str, file: str, first_line: int) -> dict[str, list[tuple[int, str]]]:
        """{"ko": [(line, markdown), …], "en": […]} from a body split by <!-- ko|en|next --> lines."""
        sections: dict[str, list[tuple[int, str]]] = {}
        language, start, start_line = None, 0, first_line
        first = _MARKER.search(body)
        if body[: first.start() if first else len(body)].strip():
            self.error(file, first_line, "text before the first '<!-- ko -->' or '<!-- en -->' marker")
        for marker in _MARKER.finditer(body):
            line = first_line + body.count("\n", 0, marker.start())
            if language is not None:
                sections[language].append((start_line, body[start:marker.start()]))
            if marker.group(1) == "next":
                if language is None:
                    self.error(file, line, "'<!-- next -->' before a language marker")
            else:
                language = marker.group(1)
                if language in sections:
                    self.error(file, line, f"a second '<!-- {language} -->' marker")
                sections[language] = []
            start, start_line = marker.end() + 1, line + 1
        if language is not None:
            sections[language].append((start_line, body[start:]))
        return sections

    def _fill_markdown(self, meta: dict, sections: dict, file: str, where: tuple) -> None:
        blocks = meta.get("blocks") if isinstance(meta.get("blocks"), list) else []
        bodyless = [b for b, block in enumerate(blocks)
                    if isinstance(block, dict) and block.get("kind") == "markdown" and "text" not in block]
        for language in ("ko", "en"):
            found = sections.get(language)
            if found is None:
                self.error(file, 1, f"the body has no '<!-- {language} -->' sections")
                continue
            if len(found) != len(bodyless):
                self.error(file, found[0][0] - 1, f"{language}: {len(found)} body section(s) for "
                                                  f"{len(bodyless)} markdown block(s) without inline text")
            for line, text in found:
                self._lint_markdown(text, file, line, language)
            for b, (line, text) in zip(bodyless, found, strict=False):
                blocks[b].setdefault("text", {})[language] = text.strip()
                self.locator.set((*where, "blocks", b, "text", language), file, line)
        for b, block in enumerate(blocks):
            if b not in bodyless and isinstance(block, dict) and isinstance(block.get("text"), dict):
                for language, text in block["text"].items():
                    if isinstance(text, str):
                        self._lint_markdown(text, *self.locator.find((*where, "blocks", b, "text")), language)

    def _lint_markdown(self, text: str, file: str, line: int, language: str) -> None:
        """What a renderer would show wrongly: stray comments, '---' lines, unrendered emphasis, ~."""
        if not text.strip():
            self.error(file, line, f"{language}: empty body section")
            return
        if "<!--" in text:
            self.error(file, line, f"{language}: an HTML comment inside a section (a misspelt marker?)")
        for number, row in enumerate(text.split("\n")):
            if re.fullmatch(r"---\s*", row):
                self.error(file, line + number, f"{language}: a '---' line in a body section")
        for token in _markdown.parse(text):
            if token.type != "inline":
                continue
            where = line + (token.map[0] if token.map else 0)
            texts = [child.content for child in token.children or () if child.type == "text"]
            if sum(t.count("~") for t in texts) >= 2:
                self.error(file, where, f"{language}: two '~' outside code in one paragraph render as "
                                        f"strike-through: {token.content[:60]!r}")
            for content in texts:
                if "**" in content or "__" in content:
                    self.error(file, where, f"{language}: emphasis did not render: {content[:60]!r}")

    # -- media ----------------------------------------------------------------------------------
    def _check_lesson_media(self, meta: dict, file: str, where: tuple) -> None:
        blocks = meta.get("blocks") if isinstance(meta.get("blocks"), list) else []
        for b, block in enumerate(blocks):
            if not isinstance(block, dict):
                continue
            at = (*where, "blocks", b)
            if block.get("kind") == "image":
                self._media(block.get("url"), "image", at)
            elif block.get("kind") == "video" and not str(block.get("url", "")).startswith("http"):
                self._media(block.get("url"), "video", at)
            question = block.get("question") if block.get("kind") == "example" else None
            items = question.get("media") if isinstance(question, dict) else None
            for i, item in enumerate(items if isinstance(items, list) else ()):
                if isinstance(item, dict):
                    self._media(item.get("url"), item.get("kind"), (*at, "question", "media", i))

    def _media(self, url, kind, where: tuple) -> MediaFile | None:
        file, line = self.locator.find((*where, "url"))
        if not isinstance(url, str) or not url.startswith("media/") or ".." in url.split("/") or "\\" in url:
            self.error(file, line, f"media url must be a file of the pack under media/: {url!r}")
            return None
        if url in self.media:
            return self.media[url]
        path = self.root / url
        if not path.is_file() or not path.resolve().is_relative_to(self.root.resolve()):
            self.error(file, line, f"media missing: {url}")
            return None
        content_type = MEDIA_TYPES.get(path.suffix.lower())
        if content_type is None:
            self.error(file, line, f"{url}: type not allowed (use {', '.join(sorted(MEDIA_TYPES))})")
            return None
        data = path.read_bytes()
        self._check_media_bytes(url, content_type, data, kind, file, line)
        self.media[url] = MediaFile(url, content_type, data)
        return self.media[url]

    def _check_media_bytes(self, url, content_type, data, kind, file, line) -> None:
        if len(data) > MAX_MEDIA_BYTES:
            self.error(file, line, f"{url} is {len(data)} bytes; the limit is {MAX_MEDIA_BYTES}")
        elif len(data) > MEDIA_BUDGET_BYTES:
            self.error(file, line, f"{url} is {len(data)} bytes, above the {MEDIA_BUDGET_BYTES}-byte budget",
                       warning=True)
        magic = _MAGIC.get(content_type)
        is_svg = content_type == "image/svg+xml"
        if (magic and not data.startswith(magic)) or (is_svg and b"<svg" not in data[:2048]):
            self.error(file, line, f"{url}: the content is not {content_type}")
        if kind in ("image", "audio") and not content_type.startswith(kind):
            self.error(file, line, f"{url}: a {kind} needs a {kind} file, not {content_type}")

    # -- practice examples ----------------------------------------------------------------------
    def _check_examples(self, modules) -> None:
        for m, module in enumerate(modules if isinstance(modules, list) else ()):
            lessons = module.get("lessons") if isinstance(module, dict) else None
            for n, lesson in enumerate(lessons if isinstance(lessons, list) else ()):
                blocks = lesson.get("blocks") if isinstance(lesson, dict) else None
                for b, block in enumerate(blocks if isinstance(blocks, list) else ()):
                    question = block.get("question") if isinstance(block, dict) else None
                    if isinstance(question, dict):
                        self._check_example(question, ("modules", m, "lessons", n, "blocks", b, "question"))

    def _check_example(self, question: dict, where: tuple) -> None:
        if "key" not in question:
            self.error(*self.locator.find(where), "a pack's example needs a key (unique in the pack)")
        if question.get("explanation") is None:
            self.error(*self.locator.find(where), "explanation: a pack's example needs an explanation")
        options = question.get("options")
        ids = [o.get("id") for o in options if isinstance(o, dict)] if isinstance(options, list) else []
        if question.get("kind") in ("single_choice", "multi_choice") and ids and \
                ids != [chr(ord("a") + i) for i in range(len(ids))]:
            self.error(*self.locator.find((*where, "options")), f"option ids should be a, b, c, …: {ids}")
        if question.get("kind") == "bbox":
            self._check_boxes(question, where)

    def _check_boxes(self, question: dict, where: tuple) -> None:
        images = [self.media.get(item.get("url")) for item in question.get("media") or ()
                  if isinstance(item, dict) and item.get("kind") == "image"]
        size = _image_size(images[0]) if images and images[0] else None
        answer = question.get("answer")
        boxes = answer.get("boxes") if isinstance(answer, dict) else None
        if images and images[0] and size is None:
            self.error(*self.locator.find((*where, "media")), "a bbox image must be a PNG or JPEG")
        for i, box in enumerate(boxes if isinstance(boxes, list) else ()):
            if not isinstance(box, dict) or not all(isinstance(box.get(k), int) for k in "xywh"):
                self.error(*self.locator.find((*where, "answer", "boxes", i)), f"box numbers must be whole "
                                                                               f"pixels: {box}")
            elif size and (box["x"] + box["w"] > size[0] or box["y"] + box["h"] > size[1]):
                self.error(*self.locator.find((*where, "answer", "boxes", i)),
                           f"box {box} reaches outside the {size[0]}×{size[1]} image")

    # -- languages ------------------------------------------------------------------------------
    def _check_both_languages(self, value, where: tuple) -> None:
        """A text given as {ko, en} must give both: packs are written in Korean and English."""
        if isinstance(value, dict):
            if value and set(value) <= {"ko", "en"}:
                for language in ("ko", "en"):
                    if not isinstance(value.get(language), str) or not value[language].strip():
                        self.error(*self.locator.find(where), f"{_readable_path(where) or 'text'}: "
                                                              f"the {language} text is missing")
                return
            for key, item in value.items():
                self._check_both_languages(item, (*where, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_both_languages(item, (*where, index))

    # -- YAML -----------------------------------------------------------------------------------
    def _yaml(self, path: Path, file: str, where: tuple):
        if not path.is_file():
            self.error(file, 0, "missing")
            return None
        text = _read_text(path)
        if text is None:
            self.error(file, 0, "not UTF-8 text")
            return None
        return self._yaml_text(text, file, where)

    def _yaml_text(self, text: str, file: str, where: tuple, offset: int = 0):
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            self.error(file, (mark.line + 1 + offset) if mark else 0, f"YAML: {error.problem or error}")
            return None
        except yaml.YAMLError as error:
            self.error(file, 0, f"YAML: {error}")
            return None
        if node is not None:
            self.locator.add_yaml(node, file, where, offset)
            self._check_duplicate_keys(node, file, offset)
        return data

    def _check_duplicate_keys(self, node: yaml.Node, file: str, offset: int) -> None:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                if key_node.value in seen:
                    line = key_node.start_mark.line + 1 + offset
                    self.error(file, line, f"{key_node.value!r} is given twice")
                seen.add(key_node.value)
                self._check_duplicate_keys(value_node, file, offset)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._check_duplicate_keys(item, file, offset)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        return None


def _image_size(media: MediaFile) -> tuple[int, int] | None:
    # Imported here: only pack imports (CLI, manager uploads) read images; the web app starts without Pillow.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(media.data)) as image:
            return image.size if image.format in ("PNG", "JPEG") else None
    except (UnidentifiedImageError, OSError):
        return None


def _readable_path(parts) -> str:
    """modules.0.lessons.2.blocks.1.question.answer → blocks.1.question.answer (the file says the rest)."""
    parts = [str(part) for part in parts]
    if len(parts) >= 4 and parts[0] == "modules" and parts[2] == "lessons":
        parts = parts[4:]
    return ".".join(parts)
