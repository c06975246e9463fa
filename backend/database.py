"""Database building blocks shared by every domain's models.

SQLite is the embedded default and PostgreSQL the production database; the helpers here hide
the differences that matter: timezone-aware UTC datetimes, constraint names Alembic can diff,
and SQLite transactions that take the write lock up front (``BEGIN IMMEDIATE``) so that two
writers queue on the busy timeout instead of failing with "database is locked" half-way.
"""

from __future__ import annotations

import contextvars
import datetime as dt

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The one clock of the application (tests move it with time-machine)."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every database (SQLite stores naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Read-only requests begin deferred transactions; everything else takes the write lock first.
_sqlite_deferred = contextvars.ContextVar("sqlite_deferred", default=False)


def read_only_transactions(enabled: bool) -> None:
    """Mark what runs in this context as read-only (GET requests), so SQLite readers don't queue."""
    _sqlite_deferred.set(enabled)


def configure_engine(engine: sa.engine.Engine) -> None:
    """Install the per-dialect connection settings on a freshly created engine."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if _sqlite_deferred.get() else "BEGIN IMMEDIATE")


def frozen_statement(stmt, dialect_name: str) -> sa.TextClause:
    """`stmt` compiled once for one dialect, kept as a typed text() statement (parameters keep
    their names and types; RETURNING columns are typed). For INSERT … ON CONFLICT on the hot path:
    SQLAlchemy 2.0 never caches the compiled form of the dialects' upsert constructs, so each
    execution would compile them again."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = (postgresql if dialect_name == "postgresql" else sqlite).dialect(paramstyle="named")
    compiled = stmt.compile(dialect=dialect)
    text = sa.text(str(compiled)).bindparams(
        *(sa.bindparam(bind.key, type_=bind.type) for bind in compiled.binds.values()))
    returning = list(stmt.exported_columns)  # the RETURNING columns of an INSERT/UPDATE
    return text.columns(*returning) if returning else text


def is_postgresql(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if hasattr(session_or_engine, "get_bind") else session_or_engine
    return bind.dialect.name == "postgresql"


def keyset_page(session, stmt, id_column, after_id: int | None, limit: int, descending: bool = True):
    """One page of `stmt` ordered by id, starting after `after_id`; returns (rows, last_id or None)."""
    if after_id is not None:
        stmt = stmt.where(id_column < after_id if descending else id_column > after_id)
    stmt = stmt.order_by(id_column.desc() if descending else id_column.asc()).limit(limit + 1)
    rows = list(session.execute(stmt).scalars())
    has_more = len(rows) > limit
    rows = rows[:limit]
    last_id = getattr(rows[-1], id_column.key) if has_more and rows else None
    return rows, last_id


def backup(engine: sa.engine.Engine, path: str) -> int:
    """Online copy of a SQLite database (consistent while writers run); returns the file size."""
    import os
    import sqlite3

    if engine.dialect.name != "sqlite":
        raise ValueError("db backup copies the SQLite database; back up PostgreSQL with pg_dump (README).")
    raw = engine.raw_connection()
    try:
        with sqlite3.connect(path) as target:
            raw.driver_connection.backup(target)
    finally:
        raw.close()
    return os.path.getsize(path)
