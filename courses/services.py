"""Training courses: the catalogue a worker sees, enrollment, lesson progress, practice examples,
authoring (manager API and course packs), and what other domains ask (is_completed, …).

Who may do what: an unpublished course does not exist for workers (404). A course is `locked`
for a worker who is not enrolled and lacks a required course or the minimum level in its skill;
a locked course cannot be enrolled in, read or practised (409 naming what is missing). Once
enrolled, a worker keeps access even if a requirement lapses later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from backend import events
from backend.database import keyset_page, utcnow
from backend.errors import Conflict, Invalid, NotFound, flatten_messages
from backend.extensions import db
from backend.i18n import both, localize
from backend.quality import compare
from backend.skills import services as skills
from courses import packs
from courses.models import (
    Course,
    CourseExample,
    CourseMedia,
    CourseModule,
    Enrollment,
    Lesson,
    LessonCompletion,
)

MEDIA_ROUTE = "/api/v1/media/courses"  # served by mobile_api.training
PACKS_DIR = Path(__file__).resolve().parent / "packs"


# ---------------------------------------------------------------------- what other domains call

def is_completed(user_id: int, slug: str) -> bool:
    """Has the user completed the course (ever; a later change of the course does not undo it)?"""
    return slug in completed_slugs(user_id)


def completed_slugs(user_id: int) -> set[str]:
    return set(db.session.execute(
        sa.select(Course.slug).join(Enrollment, Enrollment.course_id == Course.id)
        .where(Enrollment.user_id == user_id, Enrollment.completed_at.is_not(None))
    ).scalars())


def get_course_summary(slug: str) -> dict | None:
    course = _find(slug)
    if course is None:
        return None
    return {"slug": course.slug, "title": both(course.title), "skill": course.skill_code,
            "level": course.level, "published": course.published}


def enrollment_counts() -> dict[str, dict[str, int]]:
    """{slug: {"enrolled": n, "completed": m}} for every course with an enrollment (one query)."""
    rows = db.session.execute(
        sa.select(Course.slug, sa.func.count(Enrollment.id), sa.func.count(Enrollment.completed_at))
        .join(Enrollment, Enrollment.course_id == Course.id).group_by(Course.slug)
    )
    return {slug: {"enrolled": enrolled, "completed": completed} for slug, enrolled, completed in rows}


def enrolled_users(*, completed: bool = False):
    """A statement selecting the ids of users enrolled in any course (with `completed`: who
    completed one), to compose into other queries (the workforce funnel)."""
    stmt = sa.select(Enrollment.user_id)
    if completed:
        stmt = stmt.where(Enrollment.completed_at.is_not(None))
    return stmt.distinct()


# ---------------------------------------------------------------------- small queries

def _find(slug: str) -> Course | None:
    return db.session.execute(sa.select(Course).where(Course.slug == slug)).scalar_one_or_none()


def _visible(slug: str) -> Course:
    course = _find(slug)
    if course is None or not course.published:
        raise NotFound(f"No course {slug!r}.", slug="course-not-found")
    return course


def _active_lessons(course_id: int) -> list[Lesson]:
    return list(db.session.execute(
        sa.select(Lesson).where(Lesson.course_id == course_id, Lesson.retired_at.is_(None))
        .order_by(Lesson.position, Lesson.id)
    ).scalars())


def _lesson_counts(course_ids) -> dict[int, int]:
    return dict(db.session.execute(
        sa.select(Lesson.course_id, sa.func.count()).where(Lesson.course_id.in_(course_ids),
                                                           Lesson.retired_at.is_(None))
        .group_by(Lesson.course_id)
    ).all())


def _enrollment(user_id: int, course_id: int, *, for_update: bool = False) -> Enrollment | None:
    stmt = sa.select(Enrollment).where(Enrollment.user_id == user_id, Enrollment.course_id == course_id)
    if for_update:  # serialises completions of one enrollment (PostgreSQL; SQLite has BEGIN IMMEDIATE)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one_or_none()


def _enrollments(user_id: int, course_ids) -> dict[int, Enrollment]:
    rows = db.session.execute(sa.select(Enrollment).where(Enrollment.user_id == user_id,
                                                          Enrollment.course_id.in_(course_ids))).scalars()
    return {row.course_id: row for row in rows}


def _done_counts(enrollment_ids) -> dict[int, int]:
    """Completed lessons per enrollment, counting only lessons the course still has."""
    return dict(db.session.execute(
        sa.select(LessonCompletion.enrollment_id, sa.func.count())
        .join(Lesson, Lesson.id == LessonCompletion.lesson_id)
        .where(LessonCompletion.enrollment_id.in_(enrollment_ids), Lesson.retired_at.is_(None))
        .group_by(LessonCompletion.enrollment_id)
    ).all())


def _done_ids(enrollment: Enrollment | None) -> set[int]:
    if enrollment is None:
        return set()
    return set(db.session.execute(sa.select(LessonCompletion.lesson_id)
                                  .where(LessonCompletion.enrollment_id == enrollment.id)).scalars())


def _media_hashes(course_id: int) -> dict[str, str]:
    return dict(db.session.execute(sa.select(CourseMedia.path, CourseMedia.sha256)
                                   .where(CourseMedia.course_id == course_id)).all())


# ---------------------------------------------------------------------- prerequisites

class _Locks:
    """Why a worker may not enroll yet, for a batch of courses (a few small queries, only if needed)."""

    def __init__(self, user_id: int, courses):
        needy = [c for c in courses if c.required_courses or c.required_skill_level]
        self.completed = completed_slugs(user_id) if needy else set()
        self.levels = skills.levels_of(user_id) if needy else {}
        wanted = {slug for course in needy for slug in course.required_courses}
        self.titles = dict(db.session.execute(sa.select(Course.slug, Course.title)
                                              .where(Course.slug.in_(wanted))).all()) if wanted else {}
        self.skill_names = {s.code: s.name for s in skills.list_skills()} if needy else {}

    def missing(self, course: Course) -> dict | None:
        courses = [slug for slug in course.required_courses if slug not in self.completed]
        level = self.levels.get(course.skill_code, 0)
        short = course.required_skill_level if level < course.required_skill_level else None
        if not courses and short is None:
            return None
        return {"courses": courses, "skill_level": short, "current_level": level}

    def reason(self, course: Course) -> dict | None:
        """The locked_reason, in Korean and English (the response picks the worker's locale)."""
        missing = self.missing(course)
        if missing is None:
            return None
        ko, en = [], []
        if missing["courses"]:
            titles = [self.titles.get(slug) or {"ko": slug, "en": slug} for slug in missing["courses"]]
            names_ko = ", ".join("「" + localize(title, "ko") + "」" for title in titles)
            names_en = _and(["“" + localize(title, "en") + "”" for title in titles])
            ko.append(f"먼저 {names_ko} 과정을 수료해야 합니다.")
            en.append(f"Complete the course{'s' if len(titles) > 1 else ''} {names_en} first.")
        if missing["skill_level"] is not None:
            name = self.skill_names.get(course.skill_code) or course.skill_code
            need, have = missing["skill_level"], missing["current_level"]
            ko.append(f"{localize(name, 'ko')} 레벨 {need} 이상이 필요합니다(현재 레벨 {have}).")
            en.append(f"Requires level {need} in {localize(name, 'en')} (you are level {have}).")
        return {"ko": " ".join(ko), "en": " ".join(en)}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _require_unlocked(user_id: int, course: Course) -> None:
    locks = _Locks(user_id, [course])
    reason = locks.reason(course)
    if reason is not None:
        missing = locks.missing(course)
        raise Conflict(localize(reason), slug="course-locked",
                       missing={"courses": missing["courses"], "skill_level": missing["skill_level"]})


def _require_access(user_id: int, course: Course) -> Enrollment | None:
    """Reading and practising: enrolled, or allowed to enroll."""
    enrollment = _enrollment(user_id, course.id)
    if enrollment is None:
        _require_unlocked(user_id, course)
    return enrollment


# ---------------------------------------------------------------------- the catalogue

def list_courses(user_id: int, *, skill: str | None = None, after_id: int | None = None,
                 limit: int = 20) -> tuple[list[dict], int | None]:
    """Published courses in catalogue order, with the worker's progress and locks."""
    stmt = sa.select(Course).where(Course.published.is_(True))
    if skill:
        stmt = stmt.where(Course.skill_code == skill)
    courses, last_id = keyset_page(db.session, stmt, Course.id, after_id, limit, descending=False)
    ids = [course.id for course in courses]
    counts, enrollments = _lesson_counts(ids), _enrollments(user_id, ids)
    done = _done_counts([e.id for e in enrollments.values()])
    locks = _Locks(user_id, [c for c in courses if c.id not in enrollments])
    items = []
    for course in courses:
        enrollment = enrollments.get(course.id)
        reason = None if enrollment else locks.reason(course)
        items.append(_item(course, counts.get(course.id, 0), enrollment,
                           done.get(enrollment.id, 0) if enrollment else 0, reason))
    return items, last_id


def _item(course: Course, lesson_count: int, enrollment: Enrollment | None, done: int, reason) -> dict:
    return {
        "slug": course.slug, "title": course.title, "skill": course.skill_code, "level": course.level,
        "lesson_count": lesson_count, "completed_lessons": done,
        "progress": round(done / lesson_count, 4) if lesson_count else 0.0,
        "enrolled": enrollment is not None,
        "completed": enrollment is not None and enrollment.completed_at is not None,
        "locked": reason is not None, "locked_reason": reason,
    }


def course_detail(user_id: int, slug: str) -> dict:
    course = _visible(slug)
    lessons = _active_lessons(course.id)
    enrollment = _enrollment(user_id, course.id)
    done = _done_ids(enrollment)
    reason = None if enrollment else _Locks(user_id, [course]).reason(course)
    item = _item(course, len(lessons), enrollment, sum(1 for lesson in lessons if lesson.id in done), reason)
    modules = db.session.execute(sa.select(CourseModule).where(CourseModule.course_id == course.id)
                                 .order_by(CourseModule.position)).scalars()
    return {**item, "description": course.description, "sequential": course.sequential,
            "requires": {"courses": course.required_courses, "skill_level": course.required_skill_level},
            "modules": [{"title": module.title, "lessons": [
                {"id": lesson.id, "key": lesson.key, "title": lesson.title, "completed": lesson.id in done}
                for lesson in lessons if lesson.module_id == module.id]} for module in modules]}


# ---------------------------------------------------------------------- enrollment and progress

def enroll(user_id: int, slug: str) -> tuple[dict, bool]:
    """Enroll (idempotent): returns the enrollment and whether it was created now."""
    course = _visible(slug)
    enrollment = _enrollment(user_id, course.id)
    created = False
    if enrollment is None:
        _require_unlocked(user_id, course)
        enrollment, created = _insert_enrollment(user_id, course.id)
    return _progress(course, enrollment), created


def _insert_enrollment(user_id: int, course_id: int) -> tuple[Enrollment, bool]:
    enrollment = Enrollment(user_id=user_id, course_id=course_id)
    try:
        with db.session.begin_nested():
            db.session.add(enrollment)
    except IntegrityError:  # a concurrent request enrolled first
        return _enrollment(user_id, course_id), False
    return enrollment, True


def _progress(course: Course, enrollment: Enrollment) -> dict:
    lessons = _active_lessons(course.id)
    done = _done_ids(enrollment)
    return {"slug": course.slug, "enrolled_at": enrollment.enrolled_at,
            "completed_lessons": sum(1 for lesson in lessons if lesson.id in done),
            "total_lessons": len(lessons), "course_completed": enrollment.completed_at is not None}


def complete_lesson(user_id: int, slug: str, lesson_id: int) -> dict:
    """Mark a lesson done (idempotent). Completing the last one completes the course, once."""
    course = _visible(slug)
    lessons = _active_lessons(course.id)
    lesson = _lesson_in(lessons, lesson_id)
    enrollment = _enrollment(user_id, course.id, for_update=True)
    if enrollment is None:
        raise Conflict(localize({
            "ko": f"「{localize(course.title, 'ko')}」 과정에 먼저 수강 신청하세요. 신청한 과정의 레슨만 완료할 수 있습니다.",
            "en": f"Enroll in “{localize(course.title, 'en')}” first: only lessons of a course you are "
                  f"enrolled in can be completed."}), slug="not-enrolled")
    done = _done_ids(enrollment)
    if lesson.id not in done:
        if course.sequential:
            _require_previous_done(lessons, lesson, done)
        db.session.add(LessonCompletion(enrollment_id=enrollment.id, lesson_id=lesson.id))
        done.add(lesson.id)
    completed = sum(1 for row in lessons if row.id in done)
    if completed == len(lessons):
        _mark_completed(course, enrollment)
    db.session.flush()
    return {"lesson_id": lesson.id, "completed_lessons": completed, "total_lessons": len(lessons),
            "course_completed": enrollment.completed_at is not None}


def _lesson_in(lessons: list[Lesson], lesson_id: int) -> Lesson:
    lesson = next((row for row in lessons if row.id == lesson_id), None)
    if lesson is None:
        raise NotFound(f"No lesson {lesson_id} in this course.", slug="lesson-not-found")
    return lesson


def _require_previous_done(lessons: list[Lesson], lesson: Lesson, done: set[int]) -> None:
    for earlier in lessons[:lessons.index(lesson)]:
        if earlier.id not in done:
            raise Conflict(localize({
                "ko": f"이 과정은 순서대로 진행합니다. 먼저 「{localize(earlier.title, 'ko')}」 레슨을 완료하세요.",
                "en": f"This course goes in order: complete the lesson “{localize(earlier.title, 'en')}” "
                      "first.",
            }), slug="lesson-out-of-order", next_lesson_id=earlier.id)


def _mark_completed(course: Course, enrollment: Enrollment) -> None:
    if enrollment.completed_at is not None:
        return
    enrollment.completed_at = utcnow()
    db.session.flush()
    events.course_completed.send(user_id=enrollment.user_id, course_id=course.id, slug=course.slug,
                                 skill=course.skill_code, level=course.level)


# ---------------------------------------------------------------------- lessons and practice

def lesson_for_worker(user_id: int, slug: str, lesson_id: int) -> dict:
    course = _visible(slug)
    enrollment = _require_access(user_id, course)
    lessons = _active_lessons(course.id)
    lesson = _lesson_in(lessons, lesson_id)
    examples = {row.key: row for row in db.session.execute(
        sa.select(CourseExample).where(CourseExample.lesson_id == lesson.id)).scalars()}
    urls = _MediaUrls(course.slug, _media_hashes(course.id))
    index = lessons.index(lesson)
    return {
        "id": lesson.id, "key": lesson.key, "course": course.slug, "title": lesson.title,
        "completed": lesson.id in _done_ids(enrollment),
        "previous_lesson_id": lessons[index - 1].id if index > 0 else None,
        "next_lesson_id": lessons[index + 1].id if index + 1 < len(lessons) else None,
        "blocks": [_worker_block(block, examples, urls) for block in lesson.blocks],
    }


@dataclass(frozen=True)
class _MediaUrls:
    """Pack files become absolute paths of the media route, versioned by content for caching."""

    slug: str
    hashes: dict[str, str]

    def __call__(self, url: str) -> str:
        if not url.startswith("media/"):
            return url
        version = self.hashes.get(url, "")[:12]
        path = f"{MEDIA_ROUTE}/{self.slug}/{url.removeprefix('media/')}"
        return f"{path}?v={version}" if version else path


def _worker_block(block: dict, examples: dict[str, CourseExample], urls: _MediaUrls) -> dict:
    kind = block["kind"]
    if kind == "markdown":
        return {"kind": kind, "text": block["text"]}
    if kind == "image":
        return {"kind": kind, "url": urls(block["url"]), "alt": block["alt"]}
    if kind == "video":
        return {"kind": kind, "url": urls(block["url"]), "duration_s": block["duration_s"]}
    example = examples[block["key"]]
    return {"kind": kind, "question": {
        "key": example.key, "kind": example.kind, "prompt": example.prompt, "points": example.points,
        "media": [{"kind": item["kind"], "url": urls(item["url"])} for item in example.media],
        "options": example.options,
    }}


def answer_example(user_id: int, slug: str, key: str, answer: dict) -> dict:
    """Grade a practice answer at once, with the same comparison as exams; nothing is stored."""
    course = _visible(slug)
    _require_access(user_id, course)
    example = db.session.execute(
        sa.select(CourseExample).join(Lesson, Lesson.id == CourseExample.lesson_id)
        .where(CourseExample.course_id == course.id, CourseExample.key == key, Lesson.retired_at.is_(None))
    ).scalar_one_or_none()
    if example is None:
        raise NotFound(f"No practice example {key!r} in this course.", slug="example-not-found")
    try:
        cleaned = compare.validate_answer(example.kind, answer)
    except ValidationError as error:
        errors = {f"answer.{name}": messages for name, messages in flatten_messages(error.messages).items()}
        raise Invalid(f"The answer does not fit a {example.kind} question.", errors=errors) from None
    result = compare.grade(example.kind, example.answer, cleaned, example.options)
    return {"correct": result.correct, "credit": round(result.credit, 4), "explanation": example.explanation,
            "expected": example.answer, "detail": result.detail}


def get_media(slug: str, name: str) -> CourseMedia:
    """A media file of a published course, by its name under the pack's media/ folder."""
    course = _visible(slug)
    media = db.session.execute(sa.select(CourseMedia).where(
        CourseMedia.course_id == course.id, CourseMedia.path == f"media/{name}")).scalar_one_or_none()
    if media is None:
        raise NotFound("No such media file.", slug="media-not-found")
    return media


# ---------------------------------------------------------------------- authoring (manager API)

def create_course(payload: dict) -> dict:
    """POST /manage/courses: a new course, unpublished unless `published` is true (authoring view)."""
    if _find(payload["slug"]) is not None:
        raise Conflict(f"A course with the slug {payload['slug']!r} already exists.",
                       slug="course-slug-taken")
    _raise_reference_problems(payload, known_media=set())
    course = Course(slug=payload["slug"], source="api", version=1)
    try:
        with db.session.begin_nested():
            _save_content(course, payload, media=None)
    except IntegrityError:
        raise Conflict(f"A course with the slug {payload['slug']!r} already exists.",
                       slug="course-slug-taken") from None
    _set_published(course, payload.get("published", False))
    return manager_course(course.slug)


def update_course(slug: str, payload: dict) -> dict:
    """PUT /manage/courses/{slug}: replace the content; lessons and examples are matched by key."""
    course = _find(slug)
    if course is None:
        raise NotFound(f"No course {slug!r}.", slug="course-not-found")
    if payload.setdefault("slug", slug) != slug:
        raise Invalid.field("slug", "The slug cannot change; it must equal the one in the path.")
    _raise_reference_problems(payload, known_media=set(_media_hashes(course.id)))
    if _content_hash(payload, None) != course.content_hash:
        _save_content(course, payload, media=None)
        course.version += 1
    if "published" in payload:
        _set_published(course, payload["published"])
    return manager_course(slug)


def set_published(slug: str, published: bool) -> dict:
    """Publish or unpublish; an unpublished course is invisible to workers (progress is kept)."""
    course = _find(slug)
    if course is None:
        raise NotFound(f"No course {slug!r}.", slug="course-not-found")
    _set_published(course, published)
    return manager_course(slug)


def _set_published(course: Course, published: bool) -> None:
    if published and not course.published:
        course.published_at = utcnow()
    course.published = published
    db.session.flush()


def manager_courses(after_id: int | None = None, limit: int = 20) -> tuple[list[dict], int | None]:
    courses, last_id = keyset_page(db.session, sa.select(Course), Course.id, after_id, limit,
                                   descending=False)
    counts, people = _lesson_counts([c.id for c in courses]), enrollment_counts()
    return [_manager_item(course, counts.get(course.id, 0), people) for course in courses], last_id


def _manager_item(course: Course, lesson_count: int, people: dict) -> dict:
    numbers = people.get(course.slug, {"enrolled": 0, "completed": 0})
    return {"id": course.id, "slug": course.slug, "title": both(course.title), "skill": course.skill_code,
            "level": course.level, "published": course.published, "version": course.version,
            "source": course.source, "lesson_count": lesson_count, **numbers,
            "updated_at": course.updated_at, "published_at": course.published_at}


def manager_course(slug: str) -> dict:
    """The authoring view: everything, answer keys included, shaped like the POST/PUT payload."""
    course = _find(slug)
    if course is None:
        raise NotFound(f"No course {slug!r}.", slug="course-not-found")
    lessons = _active_lessons(course.id)
    examples = {row.key: row for row in db.session.execute(
        sa.select(CourseExample).where(CourseExample.course_id == course.id)).scalars()}
    modules = db.session.execute(sa.select(CourseModule).where(CourseModule.course_id == course.id)
                                 .order_by(CourseModule.position)).scalars()
    return {
        **_manager_item(course, len(lessons), enrollment_counts()),
        "description": course.description, "sequential": course.sequential, "created_at": course.created_at,
        "requires": {"courses": course.required_courses, "skill_level": course.required_skill_level},
        "modules": [{"title": module.title, "lessons": [
            {"id": lesson.id, "key": lesson.key, "title": lesson.title,
             "blocks": [_authored_block(block, examples) for block in lesson.blocks]}
            for lesson in lessons if lesson.module_id == module.id]} for module in modules],
    }


def _authored_block(block: dict, examples: dict[str, CourseExample]) -> dict:
    if block["kind"] != "example":
        return dict(block)
    row = examples[block["key"]]
    question = {"key": row.key, "kind": row.kind, "prompt": row.prompt, "media": row.media,
                "answer": row.answer, "points": row.points}
    question.update({name: value for name, value in (("options", row.options),
                                                     ("explanation", row.explanation)) if value is not None})
    return {"kind": "example", "question": question}


# ---------------------------------------------------------------------- checks against the database

def _reference_problems(payload: dict, *, known_media: set[str] | None,
                        batch: dict[str, list[str]] | None = None) -> list[tuple[tuple, str]]:
    """(path in the payload, message) for what only the database can tell: skills, required
    courses (known, not circular) and media files the course does not have."""
    problems = []
    skill = next((s for s in skills.list_skills() if s.code == payload["skill"]), None)
    if skill is None:
        known = ", ".join(s.code for s in skills.list_skills())
        problems.append((("skill",), f"Unknown skill {payload['skill']!r} (known: {known})."))
    elif payload["level"] > skill.max_level:
        problems.append((("level",), f"Must be at most {skill.max_level}, the top level of {skill.code}."))
    problems += _requirement_problems(payload, batch or {})
    if known_media is not None:
        problems += _media_problems(payload, known_media)
    return problems


def _requirement_problems(payload: dict, batch: dict[str, list[str]]) -> list[tuple[tuple, str]]:
    graph = dict(db.session.execute(sa.select(Course.slug, Course.required_courses)).all())
    graph.update(batch)
    slug, required = payload["slug"], payload["requires"]["courses"]
    graph[slug] = required
    problems = []
    for index, other in enumerate(required):
        where = ("requires", "courses", index)
        if other == slug:
            problems.append((where, "A course cannot require itself."))
        elif other not in graph:
            problems.append((where, f"Unknown course {other!r}."))
        elif (loop := _path_back(other, slug, graph, set())) is not None:
            problems.append((where, f"Requirements go round in a circle: {' → '.join([slug, *loop])}."))
    return problems


def _path_back(start: str, goal: str, graph: dict[str, list[str]], seen: set[str]) -> list[str] | None:
    if start == goal:
        return [goal]
    seen.add(start)
    for nxt in graph.get(start) or ():
        if nxt not in seen and (rest := _path_back(nxt, goal, graph, seen)) is not None:
            return [start, *rest]
    return None


def _media_problems(payload: dict, known: set[str]) -> list[tuple[tuple, str]]:
    problems = []
    for m, module in enumerate(payload["modules"]):
        for n, lesson in enumerate(module["lessons"]):
            for b, block in enumerate(lesson["blocks"]):
                where = ("modules", m, "lessons", n, "blocks", b)
                urls = [((*where, "url"), block.get("url"))]
                urls += [((*where, "question", "media", i, "url"), item["url"])
                         for i, item in enumerate((block.get("question") or {}).get("media", ()))]
                problems += [(path, f"This course has no file {url} (media files come with a course pack; "
                                    "or give an http(s) URL).")
                             for path, url in urls if url and url.startswith("media/") and url not in known]
    return problems


def _raise_reference_problems(payload: dict, *, known_media: set[str]) -> None:
    problems = _reference_problems(payload, known_media=known_media)
    if problems:
        errors: dict[str, list[str]] = {}
        for path, message in problems:
            errors.setdefault(".".join(str(part) for part in path), []).append(message)
        detail = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
        raise Invalid(detail[:1000], errors=errors)


# ---------------------------------------------------------------------- saving a course's content

def _content_hash(payload: dict, media: dict | None) -> str:
    content = {key: value for key, value in payload.items() if key not in ("published", "version")}
    if media is not None:
        content["_media"] = {path: item.sha256 for path, item in media.items()}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _save_content(course: Course, payload: dict, media: dict | None) -> None:
    """Write a validated payload over a course in place: modules by position, lessons and examples
    by key (ids stay), lessons no longer listed are retired (completions stay attached)."""
    course.title, course.description = payload["title"], payload["description"]
    course.skill_code, course.level = payload["skill"], payload["level"]
    course.sequential = payload["sequential"]
    course.required_courses = list(payload["requires"]["courses"])
    course.required_skill_level = payload["requires"]["skill_level"]
    course.content_hash = _content_hash(payload, media)
    course.updated_at = utcnow()
    db.session.add(course)
    db.session.flush()
    modules, stale_modules = _sync_modules(course, payload["modules"])
    lessons = _sync_lessons(course, modules, payload["modules"])
    _sync_examples(course, lessons, payload["modules"])
    for module in stale_modules:
        db.session.delete(module)
    if media is not None:
        _sync_media(course, media)
    db.session.flush()
    _complete_finished_enrollments(course)


def _sync_modules(course: Course, modules: list[dict]) -> tuple[list[CourseModule], list[CourseModule]]:
    existing = {row.position: row for row in db.session.execute(
        sa.select(CourseModule).where(CourseModule.course_id == course.id)).scalars()}
    rows = []
    for position, module in enumerate(modules):
        row = existing.pop(position, None) or CourseModule(course_id=course.id, position=position)
        row.title = module["title"]
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    return rows, list(existing.values())


def _sync_lessons(course: Course, modules: list[CourseModule], payload: list[dict]) -> dict[str, Lesson]:
    existing = {row.key: row for row in db.session.execute(
        sa.select(Lesson).where(Lesson.course_id == course.id)).scalars()}
    active: dict[str, Lesson] = {}
    for module_row, module in zip(modules, payload, strict=True):
        for lesson in module["lessons"]:
            row = existing.pop(lesson["key"], None) or Lesson(course_id=course.id, key=lesson["key"])
            row.module_id, row.position, row.retired_at = module_row.id, len(active), None
            row.title, row.blocks = lesson["title"], [_stored_block(block) for block in lesson["blocks"]]
            db.session.add(row)
            active[row.key] = row
    for row in existing.values():
        row.module_id = None
        row.retired_at = row.retired_at or utcnow()
    db.session.flush()
    return active


def _stored_block(block: dict) -> dict:
    if block["kind"] == "example":
        return {"kind": "example", "key": block["question"]["key"]}
    return dict(block)


def _sync_examples(course: Course, lessons: dict[str, Lesson], modules: list[dict]) -> None:
    existing = {row.key: row for row in db.session.execute(
        sa.select(CourseExample).where(CourseExample.course_id == course.id)).scalars()}
    for module in modules:
        for lesson in module["lessons"]:
            for block in lesson["blocks"]:
                if block["kind"] != "example":
                    continue
                question = block["question"]
                row = existing.pop(question["key"], None)
                row = row or CourseExample(course_id=course.id, key=question["key"])
                row.lesson_id = lessons[lesson["key"]].id
                row.kind, row.prompt, row.answer = question["kind"], question["prompt"], question["answer"]
                row.media, row.options = question["media"], question["options"]
                row.explanation, row.points = question["explanation"], question["points"]
                db.session.add(row)
    for row in existing.values():
        db.session.delete(row)


def _sync_media(course: Course, media: dict[str, packs.MediaFile]) -> None:
    existing = {row.path: row for row in db.session.execute(
        sa.select(CourseMedia).where(CourseMedia.course_id == course.id)
        .options(sa.orm.defer(CourseMedia.data))).scalars()}
    for path, item in media.items():
        row = existing.pop(path, None)
        if row is not None and row.sha256 == item.sha256:
            continue
        row = row or CourseMedia(course_id=course.id, path=path)
        row.content_type, row.sha256, row.data = item.content_type, item.sha256, item.data
        db.session.add(row)
    for row in existing.values():
        db.session.delete(row)


def _complete_finished_enrollments(course: Course) -> None:
    """After lessons were retired, enrollments that now have every lesson done are complete."""
    total = len(_active_lessons(course.id))
    finished = db.session.execute(
        sa.select(Enrollment).join(LessonCompletion, LessonCompletion.enrollment_id == Enrollment.id)
        .join(Lesson, Lesson.id == LessonCompletion.lesson_id)
        .where(Enrollment.course_id == course.id, Enrollment.completed_at.is_(None),
               Lesson.retired_at.is_(None))
        .group_by(Enrollment.id).having(sa.func.count(sa.distinct(Lesson.id)) == total)
    ).scalars()
    for enrollment in list(finished):
        _mark_completed(course, enrollment)


# ---------------------------------------------------------------------- course packs

def import_packs(path: Path, *, publish_new: bool = True, dry_run: bool = False) -> list[dict]:
    """Check every pack under `path`; import them all, or none when anything is wrong
    (raises packs.PackInvalid listing every problem with its file and line)."""
    loaded, problems = packs.load_packs(Path(path))
    batch = {pack.slug: pack.payload["requires"]["courses"] for pack in loaded}
    for pack in loaded:
        for where, message in _reference_problems(pack.payload, known_media=None, batch=batch):
            file, line = pack.locator.find(where)
            problems.append(packs.Problem(file, line, f"{'.'.join(str(p) for p in where)}: {message}"))
    if problems:
        raise packs.PackInvalid(problems)
    return [_import_pack(pack, publish_new=publish_new, dry_run=dry_run) for pack in loaded]


def _import_pack(pack: packs.Pack, *, publish_new: bool, dry_run: bool) -> dict:
    course = _find(pack.slug)
    content_hash = _content_hash(pack.payload, pack.media)
    if course is None:
        status = "created"
    else:
        status = "unchanged" if course.content_hash == content_hash else "updated"
    warnings = [str(problem) for problem in pack.warnings]
    version = pack.payload["version"]
    if status == "updated" and version <= course.version:
        warnings.append(f"{pack.locator.find(('version',))[0]}: the content changed but the version is still "
                        f"{version}; bump it so readers can tell")
    if not dry_run and status != "unchanged":
        if course is None:
            course = Course(slug=pack.slug, published=False)
        course.source, course.version = "pack", version
        _save_content(course, pack.payload, pack.media)
        if status == "created":
            _set_published(course, publish_new)
    lessons = [lesson for module in pack.payload["modules"] for lesson in module["lessons"]]
    examples = sum(block["kind"] == "example" for lesson in lessons for block in lesson["blocks"])
    return {"slug": pack.slug, "status": status, "version": version, "lessons": len(lessons),
            "examples": examples, "media": len(pack.media), "warnings": warnings}


def import_demo_packs() -> list[dict]:
    """The starter packs shipped in courses/packs (the demo seed)."""
    return import_packs(PACKS_DIR)
