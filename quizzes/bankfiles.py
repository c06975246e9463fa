"""Exam bank files (quizzes/banks/<exam-key>.yaml, media in quizzes/banks/media/): read, check, report.

Every problem is reported as `<file>:<line>: <field path>: <message>`; a caller imports nothing
unless the whole set is clean (all-or-nothing, like course packs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from quizzes.documents import BankContext, validate_exam

MEDIA_TOTAL_LIMIT = 2 * 1024 * 1024  # all media of one bank folder
MEDIA_URL_PREFIX = "/api/v1/media/quizzes/"
# Option ids are strings; YAML would read `id: 1` as a number and `id: yes` as true.
_ID_PATHS = (("options", None, "id"), ("answer", "choice"), ("answer", "choices", None))


CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "ogg": "audio/ogg",
                 "mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4", "webm": "video/webm"}


@dataclass
class MediaFile:
    name: str
    content_type: str
    data: bytes
    sha256: str


@dataclass
class BankFile:
    path: Path
    document: dict  # validated and cleaned, media URLs pointing at GET /api/v1/media/quizzes/<name>
    content_hash: str
    media: list[MediaFile]  # files the bank uses


class _LineIndex:
    """Line of every mapping key and sequence item of a YAML document, and raw scalar texts."""

    def __init__(self, node, errors: list[tuple[int, str, str]]):
        self.lines: dict[tuple, int] = {}
        self.raw: dict[tuple, str] = {}
        self._errors = errors
        if node is not None:
            self._walk(node, ())

    def _walk(self, node, path: tuple) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            self.raw[path] = node.value
        elif isinstance(node, MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else str(key_node.start_mark)
                if key in seen:
                    self._errors.append((key_node.start_mark.line + 1, ".".join(map(str, path + (key,))),
                                         "This key appears twice in the mapping."))
                seen.add(key)
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                self._walk(value_node, path + (key,))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def line_of(self, dotted: str) -> int:
        parts = tuple(int(p) if p.isdigit() else p for p in dotted.split(".")) if dotted else ()
        if parts and parts[-1] == "_schema":
            parts = parts[:-1]
        while parts and parts not in self.lines:
            parts = parts[:-1]
        return self.lines.get(parts, 1)


def _stringify_ids(document: dict, index: _LineIndex) -> None:
    """Option ids (and the answers naming them) become the text written in the file."""
    questions = document.get("questions")
    if not isinstance(questions, list):
        return
    for q_index, question in enumerate(questions):
        if not isinstance(question, dict):
            continue
        for spec in _ID_PATHS:
            _stringify(question, spec, ("questions", q_index), index)


def _stringify(container, spec: tuple, path: tuple, index: _LineIndex) -> None:
    if not spec:
        return
    head, rest = spec[0], spec[1:]
    if head is None:
        if isinstance(container, list):
            for i, item in enumerate(container):
                if rest:
                    _stringify(item, rest, path + (i,), index)
                elif not isinstance(item, str) and path + (i,) in index.raw and item is not None:
                    container[i] = index.raw[path + (i,)]
        return
    if not isinstance(container, dict) or head not in container:
        return
    if rest:
        _stringify(container[head], rest, path + (head,), index)
    else:
        value = container[head]
        if value is not None and not isinstance(value, (str, dict, list)) and path + (head,) in index.raw:
            container[head] = index.raw[path + (head,)]


def content_hash(document) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
                          .encode()).hexdigest()


def bank_paths(path: Path) -> list[Path]:
    """The bank files of PATH: the file itself, or the *.yaml files directly in the folder."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.yaml") if p.is_file()) + sorted(
            p for p in path.glob("*.yml") if p.is_file())
    return [path]


def read_bank(path: Path, skill_max_levels: dict[str, int], errors: list[str]) -> BankFile | None:
    """Check one bank file; append `file:line: path: message` for every problem."""
    found: list[tuple[int, str, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        errors.append(f"{path}:1: file: cannot be read as UTF-8 text ({type(error).__name__}).")
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark else 1
        errors.append(f"{path}:{line}: yaml: {getattr(error, 'problem', None) or error}")
        return None
    index = _LineIndex(node, found)
    if isinstance(raw, dict):
        _stringify_ids(raw, index)
    bank = BankContext(key=path.stem, folder=path.parent)
    document, problems = validate_exam(raw, skill_max_levels, bank)
    for dotted, messages in problems.items():
        for message in messages:
            found.append((index.line_of(dotted), dotted, message))
    for line, dotted, message in sorted(found, key=lambda item: item[0]):
        errors.append(f"{path}:{line}: {dotted or 'document'}: {message}")
    if found or document is None:
        return None
    document["key"] = bank.key
    media = []
    for name in sorted(bank.media_used):
        data = (bank.folder / "media" / name).read_bytes()
        media.append(MediaFile(name, CONTENT_TYPES[name.rpartition(".")[2].lower()], data,
                               hashlib.sha256(data).hexdigest()))
    versions = {m.name: m.sha256[:12] for m in media}
    digest = content_hash({"document": raw, "media": versions})
    for question in document["questions"]:
        question["media"] = [{**item, "url": _served_url(item["url"].removeprefix("media/"), versions)}
                             for item in question["media"]]
    return BankFile(path=path, document=document, content_hash=digest, media=media)


def _served_url(name: str, versions: dict[str, str]) -> str:
    """Versioned, so phones may cache a file for good: a changed file gets a new URL."""
    return f"{MEDIA_URL_PREFIX}{name}?v={versions[name]}"


def read_banks(path: Path, skill_max_levels: dict[str, int]) -> tuple[list[BankFile], list[str]]:
    """Every bank under PATH, checked together: (banks, errors); use the banks only without errors."""
    errors: list[str] = []
    if not path.exists():
        return [], [f"{path}:1: path: no such file or folder."]
    paths = bank_paths(path)
    if not paths:
        return [], [f"{path}:1: path: no *.yaml bank files here."]
    banks = [bank for p in paths if (bank := read_bank(p, skill_max_levels, errors)) is not None]
    keys: dict[str, Path] = {}
    for bank in banks:
        other = keys.setdefault(bank.document["key"], bank.path)
        if other != bank.path:
            errors.append(f"{bank.path}:1: key: exam key {bank.document['key']!r} is also {other}.")
    if path.is_dir() and not errors:
        errors.extend(_check_media_folder(path / "media", {m.name for b in banks for m in b.media}))
    return banks, errors


def _check_media_folder(folder: Path, used: set[str]) -> list[str]:
    if not folder.is_dir():
        return []
    on_disk = {p.name: p for p in folder.iterdir() if p.is_file()}
    errors = [f"{on_disk[name]}:1: media: not used by any question of the banks here."
              for name in sorted(set(on_disk) - used)]
    total = sum(p.stat().st_size for p in on_disk.values())
    if total > MEDIA_TOTAL_LIMIT:
        errors.append(f"{folder}:1: media: {total} bytes in all, over the {MEDIA_TOTAL_LIMIT} allowed.")
    return errors
