"""A realistic workforce and task pool, written in bulk.

Defaults (the issue's workload): 10,000 workers with levels 1–5 in one to three of the four starter
skills, 200,000 tasks × overlap 3 spread over 20 classification projects (every skill × difficulty
1–5), 5 % gold. `fill_analytics` adds 100,000 workers with 1,000,000 submissions for the workforce
queries. PostgreSQL is written with COPY; SQLite with executemany. Tests use the same functions at
tiny sizes.

Every worker shares ONE password hash, made once with cheap argon2 parameters (argon2 is slow by
design; verification reads the parameters from the hash, so logging in 128 phones stays cheap).

The database is created and migrated like a real deployment (`flask_migrate.upgrade`), then
`db.create_all()` adds the tables whose migration isn't written yet.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

SKILLS = ("bbox", "ocr", "audio_transcription", "llm_eval")
LABELS = ["positive", "negative", "neutral", "unsure"]
PASSWORD = "bench password 1"
EMAIL_DOMAIN = "bench.labelpath.test"
LEVEL_WEIGHTS = (30, 25, 20, 15, 10)  # levels 1..5: fewer experts than beginners
CHUNK = 5000

_password_hash: str | None = None


def password_hash() -> str:
    """One argon2id hash of PASSWORD, cheap parameters, made once per process."""
    global _password_hash
    if _password_hash is None:
        from argon2 import PasswordHasher

        _password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    return _password_hash


def label_of(task_id: int) -> str:
    """The label a careful worker gives the task (the gold answer when the task is gold)."""
    return LABELS[task_id % len(LABELS)]


def email_of(user_id: int) -> str:
    return f"w{user_id}@{EMAIL_DOMAIN}"


# --- databases ---------------------------------------------------------------------------------

def pg_url(server_url: str, database: str) -> str:
    url = sa.engine.make_url(server_url).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def create_database(server_url: str, name: str) -> str:
    """A fresh PostgreSQL database (dropped first if it exists); returns its SQLAlchemy URL."""
    admin = sa.create_engine(pg_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return pg_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    admin = sa.create_engine(pg_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def set_database_option(server_url: str, name: str, option: str, value: str) -> None:
    """ALTER DATABASE … SET: applies to this database's new connections only (never the server's)."""
    admin = sa.create_engine(pg_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET {option} = {value}')
    finally:
        admin.dispose()


def commit_latency(url: str, count: int = 100) -> str:
    """p50/p90 of a one-row INSERT + COMMIT: the disk's fsync, which every lease and submit pays."""
    import time

    engine = engine_for(url)
    times = []
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_commit_probe (x int)")
            conn.commit()
            for _ in range(count):
                started = time.perf_counter()
                conn.exec_driver_sql("INSERT INTO bench_commit_probe VALUES (1)")
                conn.commit()
                times.append(time.perf_counter() - started)
            conn.exec_driver_sql("DROP TABLE bench_commit_probe")
            conn.commit()
    finally:
        engine.dispose()
    times.sort()
    return f"{times[len(times) // 2] * 1000:.1f}/{times[len(times) * 9 // 10] * 1000:.1f} ms"


def migrate(url: str) -> None:
    """Migrations to head, then the tables that have no migration yet (as tests/conftest.py does)."""
    import flask_migrate

    from backend import create_app
    from backend.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-migrate", "TESTING": False})
    with app.app_context():
        flask_migrate.upgrade()
        db.create_all()
        db.engine.dispose()


def engine_for(url: str) -> sa.engine.Engine:
    if url.startswith("sqlite"):
        return sa.create_engine(url)
    return sa.create_engine(url, pool_size=2, max_overflow=0)


# --- bulk writing ------------------------------------------------------------------------------

def _table(name: str) -> sa.Table:
    from backend import _import_models
    from backend.extensions import db

    _import_models()
    return db.metadata.tables[name]


def _model_defaults(table_name: str, row: dict) -> dict:
    """Python-side scalar defaults of the model's NOT NULL columns that `row` leaves out."""
    out = {}
    for column in _table(table_name).columns:
        if column.name in row or column.nullable or column.server_default is not None or column.primary_key:
            continue
        default = column.default
        if default is not None and default.is_scalar:
            out[column.name] = default.arg
        elif default is not None and default.is_callable:
            try:
                out[column.name] = default.arg(None)
            except TypeError:
                continue
    return out


def _pg_value(value):
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def bulk_insert(engine: sa.engine.Engine, table_name: str, rows: Iterable[dict]) -> int:
    """Insert dict rows (all with the same keys): COPY on PostgreSQL, executemany on SQLite."""
    iterator = iter(rows)
    try:
        first = next(iterator)
    except StopIteration:
        return 0
    extra = _model_defaults(table_name, first)
    if extra:  # a column added to the model since this generator was written: its default
        first = {**first, **extra}
        iterator = ({**row, **extra} for row in iterator)
    columns = list(first)
    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.driver_connection.cursor() as cur:
                sql = f'COPY {table_name} ({", ".join(columns)}) FROM STDIN'
                with cur.copy(sql) as copy:
                    for row in _chain(first, iterator):
                        copy.write_row([_pg_value(row[c]) for c in columns])
                        count += 1
            raw.driver_connection.commit()
        finally:
            raw.close()
        return count
    table = _table(table_name)
    with engine.begin() as conn:
        chunk: list[dict] = []
        for row in _chain(first, iterator):
            chunk.append(row)
            if len(chunk) >= CHUNK:
                conn.execute(table.insert(), chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            conn.execute(table.insert(), chunk)
            count += len(chunk)
    return count


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _max_id(engine: sa.engine.Engine, table_name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table_name}")).scalar()


def _sync_sequence(engine: sa.engine.Engine, table_name: str) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                             f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table_name}), false)"))


def analyze(engine: sa.engine.Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def checkpoint(url: str) -> None:
    """CHECKPOINT after a bulk load, so its dirty pages are not flushed while latency is measured."""
    if not url.startswith("postgresql"):
        return
    engine = engine_for(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("CHECKPOINT")
    finally:
        engine.dispose()


def has_table(engine: sa.engine.Engine, name: str) -> bool:
    return sa.inspect(engine).has_table(name)


# --- the workload ------------------------------------------------------------------------------

@dataclass
class Pool:
    """What fill() made: worker ids (phones log in as them), project ids, task count."""

    worker_ids: list[int] = field(default_factory=list)
    project_ids: list[int] = field(default_factory=list)
    projects: list[dict] = field(default_factory=list)
    tasks: int = 0
    overlap: int = 3
    lease_seconds: int = 600
    seconds: float = 0.0

    def phone_workers(self, count: int, taken: set[int] | None = None, seed: int = 7) -> list[int]:
        """`count` distinct workers not used yet (each phone its own worker, never reused across runs)."""
        taken = taken if taken is not None else set()
        rng = random.Random(seed + len(taken))
        free = [w for w in self.worker_ids if w not in taken]
        if len(free) < count:
            raise ValueError(f"only {len(free)} unused workers left for {count} phones")
        chosen = rng.sample(free, count)
        taken.update(chosen)
        return chosen


def add_workers(engine: sa.engine.Engine, count: int, rng: random.Random, *, created_days: int = 0) -> list[int]:
    """`count` workers, each with one to three skills at levels 1–5 (certified for a year)."""
    start = _max_id(engine, "users") + 1
    ids = list(range(start, start + count))
    now = dt.datetime.now(dt.UTC)
    hashed = password_hash()

    def created(i: int) -> dt.datetime:
        return now - dt.timedelta(seconds=rng.randrange(created_days * 86400)) if created_days else now

    bulk_insert(engine, "users", ({
        "id": i, "email": email_of(i), "password_hash": hashed, "display_name": f"작업자 {i}",
        "role": "worker", "locale": "ko", "timezone": "Asia/Seoul", "created_at": created(i),
        "last_active_at": None, "deleted_at": None,
    } for i in ids))
    _sync_sequence(engine, "users")

    def skills() -> Iterator[dict]:
        for i in ids:
            for code in rng.sample(SKILLS, rng.choice((1, 1, 2, 2, 3))):
                yield {"user_id": i, "skill_code": code, "level": rng.choices((1, 2, 3, 4, 5), LEVEL_WEIGHTS)[0],
                       "certified_until": now + dt.timedelta(days=365), "updated_at": now}

    bulk_insert(engine, "worker_skills", skills())
    if has_table(engine, "work_preferences"):
        bulk_insert(engine, "work_preferences", ({
            "user_id": i, "sensitive_content": False, "last_claim_at": None, "updated_at": now,
        } for i in ids))
    return ids


def add_projects(engine: sa.engine.Engine, *, overlap: int, lease_seconds: int, gold_ratio: float,
                 prefix: str = "bench") -> list[dict]:
    """One classification project per skill × difficulty 1–5 (20 projects)."""
    now = dt.datetime.now(dt.UTC)
    start = _max_id(engine, "projects") + 1
    rows = []
    for n, (skill, difficulty) in enumerate((s, d) for s in SKILLS for d in range(1, 6)):
        rows.append({
            "id": start + n, "key": f"{prefix}-{skill}-{difficulty}-{start}",
            "title": {"ko": f"벤치 {skill} {difficulty}", "en": f"Bench {skill} level {difficulty}"},
            "skill_code": skill, "task_type": "classification", "config": {"labels": LABELS},
            "difficulty": difficulty, "reward_amount": 100 * difficulty, "currency": "KRW",
            "overlap": overlap, "lease_seconds": lease_seconds, "gold_ratio": gold_ratio, "priority": 0,
            "instructions": {"ko": "문장의 감정을 고르세요.", "en": "Pick the sentiment of the sentence."},
            "status": "active", "sensitive_content": False, "created_by": None,
            "created_at": now, "updated_at": now,
        })
    bulk_insert(engine, "projects", rows)
    _sync_sequence(engine, "projects")
    return rows


def add_tasks(engine: sa.engine.Engine, projects: list[dict], count: int, rng: random.Random,
              gold_ratio: float) -> int:
    """`count` tasks spread evenly over `projects`; `gold_ratio` of them gold (not slot-counted)."""
    now = dt.datetime.now(dt.UTC)
    start = _max_id(engine, "tasks") + 1

    def rows() -> Iterator[dict]:
        for n in range(count):
            project = projects[n % len(projects)]
            task_id = start + n
            gold = rng.random() < gold_ratio
            label = label_of(task_id)
            difficulty = project["difficulty"]
            if difficulty < 5 and rng.random() < 0.2:
                difficulty += 1
            yield {
                "id": task_id, "project_id": project["id"], "external_id": f"t{task_id}",
                "payload": {"text": f"벤치마크 문장 {task_id}: 오늘 배송이 {'빨랐' if task_id % 2 else '늦었'}어요."},
                "difficulty": difficulty, "is_gold": gold,
                "gold_answer": {"label": label} if gold else None,
                "explanation": {"ko": "정답 설명", "en": "Why"} if gold else None,
                "open_slots": 0 if gold else project["overlap"], "answer_count": 0,
                "shuffle": rng.getrandbits(31), "created_at": now,
            }

    written = bulk_insert(engine, "tasks", rows())
    _sync_sequence(engine, "tasks")
    return written


def fill(url: str, *, workers: int = 10_000, tasks: int = 200_000, overlap: int = 3, gold_ratio: float = 0.05,
         lease_seconds: int = 600, seed: int = 1) -> Pool:
    """Workers and a task pool in an already migrated database."""
    import time

    started = time.monotonic()
    rng = random.Random(seed)
    engine = engine_for(url)
    try:
        worker_ids = add_workers(engine, workers, rng)
        projects = add_projects(engine, overlap=overlap, lease_seconds=lease_seconds, gold_ratio=gold_ratio)
        written = add_tasks(engine, projects, tasks, rng, gold_ratio)
        analyze(engine)
    finally:
        engine.dispose()
    return Pool(worker_ids=worker_ids, project_ids=[p["id"] for p in projects], projects=projects,
                tasks=written, overlap=overlap, lease_seconds=lease_seconds,
                seconds=time.monotonic() - started)


def grow(url: str, pool: Pool, total_tasks: int, seed: int = 2) -> Pool:
    """Add tasks until the pool holds `total_tasks` (the scaling rows)."""
    if total_tasks <= pool.tasks:
        return pool
    engine = engine_for(url)
    try:
        pool.tasks += add_tasks(engine, pool.projects, total_tasks - pool.tasks, random.Random(seed + total_tasks),
                                gold_ratio=0.05)
        analyze(engine)
    finally:
        engine.dispose()
    return pool


def add_enrollments(engine: sa.engine.Engine, worker_ids: list[int], rng: random.Random, days: int) -> int:
    """One published course per skill; 85 % of the workers enrolled in one or two, 60 % of those
    enrollments completed (the first stages of the workforce funnel)."""
    now = dt.datetime.now(dt.UTC)
    start = _max_id(engine, "courses") + 1
    courses = [{
        "id": start + n, "slug": f"bench-{code}-{start}", "title": {"ko": f"{code} 기초", "en": f"{code} basics"},
        "description": None, "skill_code": code, "level": 1, "sequential": False, "required_courses": [],
        "required_skill_level": 0, "published": True, "version": 1, "source": "api", "content_hash": "",
        "created_at": now, "updated_at": now, "published_at": now,
    } for n, code in enumerate(SKILLS)]
    bulk_insert(engine, "courses", courses)
    _sync_sequence(engine, "courses")

    def rows() -> Iterator[dict]:
        for uid in worker_ids:
            if rng.random() >= 0.85:
                continue
            for course in rng.sample(courses, rng.choice((1, 1, 2))):
                enrolled = now - dt.timedelta(seconds=rng.randrange(days * 86400))
                done = enrolled + dt.timedelta(hours=rng.randrange(1, 72)) if rng.random() < 0.6 else None
                yield {"user_id": uid, "course_id": course["id"], "enrolled_at": enrolled,
                       "completed_at": done if done is None or done < now else now}

    return bulk_insert(engine, "course_enrollments", rows())


def add_certificates(engine: sa.engine.Engine, worker_ids: list[int], rng: random.Random) -> int:
    """An exam per skill and level, and for every worker's level a passed attempt with its
    certificate (valid a year; about 8 % expiring within 30 days)."""
    now = dt.datetime.now(dt.UTC)
    exam_start = _max_id(engine, "exams") + 1
    exams = {}
    rows = []
    for n, (code, level) in enumerate((c, lv) for c in SKILLS for lv in range(1, 6)):
        exams[(code, level)] = exam_start + n
        rows.append({"id": exam_start + n, "key": f"bench-{code}-{level}-{exam_start}", "version": 1,
                     "title": {"ko": f"{code} {level}급", "en": f"{code} level {level}"}, "description": None,
                     "skill_code": code, "grants_level": level, "required_course": None, "required_level": 0,
                     "time_limit_s": 1800, "pass_percent": 70, "attempts_allowed": 3, "retake_cooldown_s": 0,
                     "validity_days": 365, "draw": None, "published": True, "source": "api", "content_hash": None,
                     "created_by": None, "created_at": now, "updated_at": now})
    bulk_insert(engine, "exams", rows)
    _sync_sequence(engine, "exams")
    with engine.connect() as conn:
        levels = conn.execute(sa.text("SELECT user_id, skill_code, level FROM worker_skills WHERE user_id >= :first "
                                      "AND level >= 1 ORDER BY id"), {"first": min(worker_ids)}).all()
    attempt_start = _max_id(engine, "exam_attempts") + 1
    plan = []
    for n, (uid, code, level) in enumerate(levels):
        age = rng.randrange(335, 365) if rng.random() < 0.08 else rng.randrange(1, 335)
        issued = now - dt.timedelta(days=age, seconds=rng.randrange(86400))
        plan.append((attempt_start + n, uid, exams[(code, level)], code, level, issued))
    bulk_insert(engine, "exam_attempts", ({
        "id": aid, "exam_id": exam_id, "user_id": uid, "seed": aid, "status": "graded",
        "started_at": issued - dt.timedelta(minutes=20), "deadline": issued + dt.timedelta(minutes=10),
        "closed_at": issued, "closed_reason": "submitted", "graded_at": issued, "score": 9.0, "max_score": 10,
        "percent": 90.0, "passed": True, "retake_at": None,
    } for aid, uid, exam_id, _code, _level, issued in plan))
    _sync_sequence(engine, "exam_attempts")
    written = bulk_insert(engine, "certificates", ({
        "code": f"B{aid:011d}", "user_id": uid, "exam_id": exam_id, "attempt_id": aid, "skill_code": code,
        "level": level, "issued_at": issued, "expires_at": issued + dt.timedelta(days=365), "revoked_at": None,
        "revoked_by": None, "revoke_reason": None, "lapsed_at": None,
    } for aid, uid, exam_id, code, level, issued in plan))
    _sync_sequence(engine, "certificates")
    return written


def fill_analytics(url: str, *, workers: int = 100_000, submissions: int = 1_000_000, days: int = 90,
                   seed: int = 3) -> dict:
    """A workforce with history for the analytics queries: workers registered over `days` with
    levels, course enrollments, passed exams with certificates, and `submissions` accepted answers
    (each with its submitted assignment) spread over the same days."""
    import time

    started = time.monotonic()
    rng = random.Random(seed)
    engine = engine_for(url)
    try:
        worker_ids = add_workers(engine, workers, rng, created_days=days)
        add_enrollments(engine, worker_ids, rng, days)
        add_certificates(engine, worker_ids, rng)
        projects = add_projects(engine, overlap=3, lease_seconds=600, gold_ratio=0.05, prefix="analytics")
        task_count = max(1, -(-submissions // 3))  # three answers per task, the last one may have fewer
        first_task = _max_id(engine, "tasks") + 1
        add_tasks(engine, projects, task_count, rng, gold_ratio=0.0)
        now = dt.datetime.now(dt.UTC)
        first_assignment = _max_id(engine, "assignments") + 1
        active = worker_ids[: max(1, len(worker_ids) * 6 // 10)]  # 60 % ever worked
        plan = []
        # Ids grow with time, as they do in production (the rollups' watermark is an id).
        moments = sorted(now - dt.timedelta(seconds=rng.randrange(days * 86400)) for _ in range(submissions))
        for n in range(submissions):
            task_id = first_task + n // 3
            project = projects[(task_id - first_task) % len(projects)]
            # three different workers per task (a third of the active workforce apart)
            user_id = active[(n // 3 + (n % 3) * max(1, len(active) // 3)) % len(active)]
            plan.append((first_assignment + n, task_id, project, user_id, moments[n]))
        bulk_insert(engine, "assignments", ({
            "id": aid, "task_id": task_id, "project_id": project["id"], "user_id": user_id, "is_gold": False,
            "sensitive": False, "status": "submitted", "reward_amount": project["reward_amount"],
            "currency": "KRW", "leased_at": when - dt.timedelta(seconds=30),
            "lease_expires_at": when + dt.timedelta(seconds=570), "ended_at": when,
        } for aid, task_id, project, user_id, when in plan))
        _sync_sequence(engine, "assignments")
        bulk_insert(engine, "submissions", ({
            "id": aid, "assignment_id": aid, "task_id": task_id, "project_id": project["id"], "user_id": user_id,
            "answer": {"label": LABELS[aid % 4]}, "duration_ms": 5000 + aid % 20000, "late": False,
            "is_gold": False, "correct": None, "credit": None, "reward_amount": project["reward_amount"],
            "currency": "KRW", "status": "accepted", "created_at": when,
        } for aid, task_id, project, user_id, when in plan))
        _sync_sequence(engine, "submissions")
        with engine.begin() as conn:  # the answered slots are taken
            conn.execute(sa.text(
                "UPDATE tasks SET open_slots = tasks.open_slots - s.n, answer_count = s.n FROM "
                "(SELECT task_id, COUNT(*) AS n FROM submissions WHERE task_id >= :first GROUP BY task_id) AS s "
                "WHERE tasks.id = s.task_id"), {"first": first_task})
        analyze(engine)
    finally:
        engine.dispose()
    return {"workers": workers, "submissions": submissions, "seconds": time.monotonic() - started}
