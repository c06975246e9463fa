"""Course packs: the real packs import; a changed pack updates in place keeping everyone's progress;
a malformed pack is refused with every problem named by file and line, and nothing is written."""

from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from backend.extensions import db
from courses import services
from courses.models import Course, CourseExample, CourseMedia, Enrollment, Lesson, LessonCompletion
from courses.packs import PackInvalid

from .conftest import PACKS, lesson_ids

STARTERS = {"bbox-basics": (6, 12, 11), "korean-ocr-basics": (5, 12, 8), "llm-eval-basics": (6, 14, 1),
            "meeting-transcription-basics": (5, 10, 2)}


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def _edit(path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_starter_packs_import_published_with_their_lessons_examples_and_media(app, starter_packs):
    assert {r["slug"]: (r["lessons"], r["examples"], r["media"]) for r in starter_packs} == STARTERS
    assert all(r["status"] == "created" for r in starter_packs)
    with app.app_context():
        courses = db.session.execute(sa.select(Course)).scalars().all()
        assert {c.slug for c in courses} == set(STARTERS)
        assert all(c.published and c.source == "pack" and c.version == 1 for c in courses)
    assert _count(app, Lesson) == 22 and _count(app, CourseExample) == 48 and _count(app, CourseMedia) == 22


def test_reimporting_an_unchanged_pack_changes_nothing(app, starter_packs):
    with app.app_context():
        before = db.session.execute(sa.select(Course.slug, Course.updated_at)).all()
        again = services.import_packs(PACKS)
        db.session.commit()
        assert {r["status"] for r in again} == {"unchanged"}
        assert db.session.execute(sa.select(Course.slug, Course.updated_at)).all() == before


def test_demo_seed_imports_every_pack_and_is_idempotent(app):
    import courses.demo

    with app.app_context():
        courses.demo.seed()
        courses.demo.seed()
        db.session.commit()
    assert _count(app, Course) == 4


def test_cli_imports_and_reports(app, pack_copy):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["courses", "import", str(pack_copy.parent)])
    assert result.exit_code == 0, result.output
    assert "bbox-basics: created (version 1, 6 lessons, 12 examples, 11 media files)" in result.output
    again = runner.invoke(args=["courses", "import", str(pack_copy)])
    assert again.exit_code == 0 and "bbox-basics: unchanged" in again.output


def test_cli_dry_run_and_draft(app, client, auth, pack_copy):
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["courses", "import", "--dry-run", str(pack_copy)])
    assert dry.exit_code == 0 and "would be created" in dry.output
    assert _count(app, Course) == 0
    assert runner.invoke(args=["courses", "import", "--draft", str(pack_copy)]).exit_code == 0
    worker = auth.register()
    assert client.get("/api/v1/courses/bbox-basics", headers=worker.headers).status_code == 404


def test_changed_pack_updates_in_place_and_keeps_everyone_s_progress(app, client, auth, pack_copy):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["courses", "import", str(pack_copy)]).exit_code == 0
    worker = auth.register()
    assert client.post("/api/v1/courses/bbox-basics/enrollment", headers=worker.headers).status_code == 201
    ids = lesson_ids(client, worker, "bbox-basics")
    with app.app_context():
        keys = dict(db.session.execute(sa.select(Lesson.key, Lesson.id)).all())
    for lesson_id in (keys["what-is-a-box"], keys["tight-boxes"], keys["class-confusion"]):
        client.post(f"/api/v1/courses/bbox-basics/lessons/{lesson_id}/completion", headers=worker.headers)

    # The author renames a lesson, swaps two, drops one, adds one and fixes an example.
    course_yaml = pack_copy / "course.yaml"
    _edit(course_yaml, "version: 1", "version: 2")
    _edit(course_yaml, "lessons: [what-is-a-box, tight-boxes, occlusion-and-truncation]",
          "lessons: [tight-boxes, what-is-a-box, occlusion-and-truncation, final-quiz]")
    _edit(course_yaml, "lessons: [small-objects-and-crowds, class-confusion, reflections-and-pictures]",
          "lessons: [small-objects-and-crowds, reflections-and-pictures]")
    (pack_copy / "lessons" / "class-confusion.md").unlink()
    _edit(pack_copy / "lessons" / "tight-boxes.md", 'en: "Tight boxes"', 'en: "Boxes that fit"')
    _edit(pack_copy / "lessons" / "tight-boxes.md", "answer: {choice: c}", "answer: {choice: b}")
    (pack_copy / "lessons" / "final-quiz.md").write_text(
        '---\ntitle: {ko: "마무리", en: "Wrap-up"}\nblocks:\n  - kind: markdown\n---\n'
        "<!-- ko -->\n수고했습니다.\n<!-- en -->\nWell done.\n", encoding="utf-8")
    for name in ("vehicles.png", "rider.png"):  # used only by the dropped lesson
        (pack_copy / "media" / name).unlink()

    result = runner.invoke(args=["courses", "import", str(pack_copy)])
    assert result.exit_code == 0, result.output
    assert "bbox-basics: updated (version 2, 6 lessons" in result.output

    with app.app_context():
        now = dict(db.session.execute(sa.select(Lesson.key, Lesson.id)).all())
        assert {key: now[key] for key in keys} == keys  # every known lesson kept its id
        retired = db.session.execute(sa.select(Lesson.retired_at).where(Lesson.key == "class-confusion")).scalar()
        assert retired is not None
        assert db.session.execute(sa.select(CourseMedia.path).where(CourseMedia.path == "media/rider.png")
                                  ).first() is None
    assert _count(app, LessonCompletion) == 3 and _count(app, Enrollment) == 1
    worker_en = client.get("/api/v1/courses/bbox-basics", headers=worker.headers).get_json()
    assert worker_en["completed_lessons"] == 2 and worker_en["lesson_count"] == 6
    order = [lesson["key"] for module in worker_en["modules"] for lesson in module["lessons"]]
    assert order[:4] == ["tight-boxes", "what-is-a-box", "occlusion-and-truncation", "final-quiz"]
    assert set(ids) - set(now.values()) == set()
    feedback = client.post("/api/v1/courses/bbox-basics/examples/bbox-tight-1/answer", headers=worker.headers,
                           json={"answer": {"choice": "b"}}).get_json()
    assert feedback["correct"] is True


def test_content_change_without_a_version_bump_is_a_warning(app, pack_copy):
    runner = app.test_cli_runner()
    runner.invoke(args=["courses", "import", str(pack_copy)])
    _edit(pack_copy / "lessons" / "tight-boxes.md", 'en: "Tight boxes"', 'en: "Boxes that fit"')
    result = runner.invoke(args=["courses", "import", str(pack_copy)])
    assert result.exit_code == 0 and "updated" in result.output
    assert "the content changed but the version is still 1" in result.output


def _problems(pack_dir) -> list[str]:
    with pytest.raises(PackInvalid) as caught:
        services.import_packs(pack_dir)
    return [str(problem) for problem in caught.value.problems]


def _lines(pattern: str, problems: list[str]) -> list[str]:
    return [p for p in problems if re.search(pattern, p)]


# (file to edit, old, new, where the problem is reported "file:line", what it says)
MUTATIONS = {
    "unknown course field": ("course.yaml", "skill: bbox\n", "skill: bbox\ncolour: red\n",
                             "course.yaml:10", "colour: Unknown field"),
    "slug is not the folder": ("course.yaml", "slug: bbox-basics", "slug: bbox-101", "course.yaml:1",
                               "slug must equal the folder name"),
    "version": ("course.yaml", "version: 1", "version: 0", "course.yaml:2", "version: Must be greater"),
    "unknown skill": ("course.yaml", "skill: bbox", "skill: boxes", "course.yaml:9", "Unknown skill 'boxes'"),
    "required course unknown": ("course.yaml", "sequential: false", "sequential: false\nrequires: {courses: [nope]}",
                                "course.yaml:12", "requires.courses.0: Unknown course 'nope'"),
    "sequential not a boolean": ("course.yaml", "sequential: false", "sequential: 'no'", "course.yaml:11",
                                 "sequential: Not a valid boolean"),
    "bad lesson key": ("course.yaml", "[what-is-a-box,", "[What_Is,", "course.yaml:16", "bad lesson key 'What_Is'"),
    "lesson listed twice": ("course.yaml", "tight-boxes, occlusion", "tight-boxes, tight-boxes, occlusion",
                            "course.yaml:16", "'tight-boxes' is used twice"),
    "missing lesson file": ("course.yaml", "reflections-and-pictures]", "reflections-and-pictures, ghost]",
                            "course.yaml:20", "lessons/ghost.md is missing"),
    "title missing a language": ("lessons/tight-boxes.md", '  en: "Tight boxes"\n', "",
                                 "tight-boxes.md:3", "title: the en text is missing"),
    "YAML syntax": ("lessons/tight-boxes.md", "answer: {choice: c}", "answer: {choice: c", "tight-boxes.md:",
                    "YAML:"),
    "duplicate YAML key": ("lessons/tight-boxes.md", "answer: {choice: c}", "answer: {choice: c}\n      answer: {choice: a}",
                           "tight-boxes.md:24", "'answer' is given twice"),
    "no front matter": ("lessons/tight-boxes.md", "---\ntitle:", "title:", "tight-boxes.md:1", "front matter"),
    "unknown option id": ("lessons/tight-boxes.md", "answer: {choice: c}", "answer: {choice: z}",
                          "tight-boxes.md:23", "answer.choice: Unknown option id 'z'"),
    "option ids not a, b, c": ("lessons/tight-boxes.md", "- id: c\n", "- id: x\n", "tight-boxes.md:",
                               "option ids should be a, b, c"),
    "missing explanation": ("lessons/what-is-a-box.md", "      explanation:\n        ko: \"x, y는",
                            "      explanatio:\n        ko: \"x, y는", "what-is-a-box.md:", "needs an explanation"),
    "box outside the image": ("lessons/tight-boxes.md", "{x: 246, y: 110, w: 22, h: 62, label: person}",
                              "{x: 246, y: 110, w: 220, h: 62, label: person}", "tight-boxes.md:40",
                              "reaches outside the 320×240 image"),
    "box in fractions": ("lessons/tight-boxes.md", "{x: 246, y: 110, w: 22, h: 62, label: person}",
                         "{x: 246, y: 110, w: 22.5, h: 62, label: person}", "tight-boxes.md:40", "whole pixels"),
    "unknown block kind": ("lessons/tight-boxes.md", "  - kind: markdown\n  - kind: example",
                           "  - kind: markdown\n  - kind: quiz\n  - kind: example", "tight-boxes.md:",
                           "kind: Must be one of"),
    "image field of another kind": ("lessons/what-is-a-box.md", "    url: media/coordinates.png",
                                    "    url: media/coordinates.png\n    duration_s: 3", "what-is-a-box.md:",
                                    "duration_s: Not allowed in a image block"),
    "sections do not match the blocks": ("lessons/tight-boxes.md", "<!-- next -->\n## What goes in",
                                         "## What goes in", "tight-boxes.md:", "en: 2 body section"),
    "misspelt marker": ("lessons/tight-boxes.md", "<!-- next -->\n## What goes in", "<!-- nxt -->\n## What goes in",
                        "tight-boxes.md:", "HTML comment inside a section"),
    "emphasis that does not render": ("lessons/tight-boxes.md", "**Too big**", "** Too big**",
                                      "tight-boxes.md:", "emphasis did not render"),
    "two tildes": ("lessons/tight-boxes.md", "background (road, sky)", "background (road ~ sky ~ grass)",
                   "tight-boxes.md:", "two '~'"),
    "a --- line in the body": ("lessons/tight-boxes.md", "## Summary\n", "## Summary\n---\n", "tight-boxes.md:",
                               "a '---' line"),
    "media missing": ("lessons/what-is-a-box.md", "url: media/coordinates.png", "url: media/coordinate.png",
                      "what-is-a-box.md:8", "media missing: media/coordinate.png"),
    "media outside the pack": ("lessons/what-is-a-box.md", "url: media/coordinates.png",
                               "url: ../bbox-basics/media/coordinates.png", "what-is-a-box.md:8",
                               "must be a file of the pack under media/"),
    "duplicate question key": ("lessons/tight-boxes.md", "key: bbox-tight-1", "key: bbox-coords-1",
                               "tight-boxes.md:", "Question key 'bbox-coords-1' is used twice"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_malformed_pack_is_refused_naming_file_and_line(app, pack_copy, name):
    file, old, new, where, says = MUTATIONS[name]
    _edit(pack_copy / file, old, new)
    with app.app_context():
        problems = _problems(pack_copy)
    assert _lines(re.escape(where) + r".*" + re.escape(says), problems), problems


def test_pack_file_problems(app, pack_copy):
    (pack_copy / "lessons" / "extra.md").write_text("---\ntitle: x\nblocks: []\n---\n", encoding="utf-8")
    (pack_copy / "media" / "unused.png").write_bytes((pack_copy / "media" / "crowd.png").read_bytes())
    (pack_copy / "media" / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 110_000)
    _edit(pack_copy / "lessons" / "what-is-a-box.md", "url: media/coordinates.png", "url: media/big.png")
    (pack_copy / "media" / "coordinates.png").rename(pack_copy / "media" / "coordinates.gif")
    with app.app_context():
        problems = _problems(pack_copy)
    assert _lines(r"lessons/extra.md:1: this lesson is not listed in course.yaml", problems), problems
    assert _lines(r"media/unused.png: this media file is not used", problems), problems
    assert _lines(r"media/coordinates.gif: this media file is not used", problems), problems
    assert _lines(r"what-is-a-box.md:8: media/big.png is 110008 bytes; the limit is 102400", problems), problems


def test_media_type_and_content_are_checked(app, pack_copy):
    shutil.copy(pack_copy / "media" / "coordinates.png", pack_copy / "media" / "coordinates.gif")
    _edit(pack_copy / "lessons" / "what-is-a-box.md", "url: media/coordinates.png", "url: media/coordinates.gif")
    (pack_copy / "media" / "coordinates.png").unlink()
    (pack_copy / "media" / "crowd.png").write_bytes(b"GIF89a not a png")
    with app.app_context():
        problems = _problems(pack_copy)
    assert _lines(r"what-is-a-box.md:8: media/coordinates.gif: type not allowed", problems), problems
    assert _lines(r"media/crowd.png: the content is not image/png", problems), problems


def test_rating_and_pairwise_rules(app, tmp_path):
    pack = tmp_path / "llm-eval-basics"
    shutil.copytree(PACKS / "llm-eval-basics", pack)
    _edit(pack / "lessons" / "rating-scales.md", "scores: {correctness: 5, helpfulness: 2}",
          "scores: {correctness: 6, helpfulness: 2}")
    text = (pack / "lessons" / "pairwise-and-ties.md").read_text(encoding="utf-8")
    (pack / "lessons" / "pairwise-and-ties.md").write_text(text.replace("        - id: b\n", "        - id: c\n", 1),
                                                           encoding="utf-8")
    with app.app_context():
        problems = _problems(pack)
    assert _lines(r"rating-scales.md:\d+: .*answer.scores.correctness: Must be between 1 and 5", problems), problems
    assert _lines(r"pairwise-and-ties.md:\d+: .*options: A pairwise question has exactly the options a and b",
                  problems), problems


def test_every_problem_is_reported_at_once_and_nothing_is_written(app, starter_packs, tmp_path):
    packs = tmp_path / "packs"
    shutil.copytree(PACKS, packs)
    _edit(packs / "bbox-basics" / "course.yaml", "version: 1", "version: 2")
    _edit(packs / "bbox-basics" / "lessons" / "tight-boxes.md", 'en: "Tight boxes"', 'en: "Changed"')
    _edit(packs / "korean-ocr-basics" / "course.yaml", "skill: ocr", "skill: nope")
    _edit(packs / "llm-eval-basics" / "course.yaml", "level: 1", "level: 9")
    _edit(packs / "meeting-transcription-basics" / "course.yaml", "sequential: false", "sequential: maybe")
    with app.app_context():
        before = db.session.execute(sa.select(Course.slug, Course.version, Course.content_hash)).all()
    result = app.test_cli_runner().invoke(args=["courses", "import", str(packs)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, result.output
    assert "korean-ocr-basics/course.yaml:9: skill: Unknown skill 'nope'" in result.output
    assert "llm-eval-basics/course.yaml:10: level: Must be at most 5" in result.output
    assert "meeting-transcription-basics/course.yaml:11: sequential: Not a valid boolean." in result.output
    assert "3 problem(s); nothing was imported." in result.output
    with app.app_context():
        assert db.session.execute(sa.select(Course.slug, Course.version, Course.content_hash)).all() == before


def test_a_folder_without_packs_is_an_error(app, tmp_path):
    (tmp_path / "_tools").mkdir()
    result = app.test_cli_runner().invoke(args=["courses", "import", str(tmp_path)])
    assert result.exit_code == 1 and "no course packs" in result.output
