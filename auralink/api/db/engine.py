"""The API's database handle: one async engine and its session factory, made in the lifespan.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, so
the API, the CLI and a worker can share the file. PostgreSQL is reached through asyncpg.
Every session it makes records changes of the management tables in the audit log
(:mod:`auralink.api.audit.recorder`).
A URL that SQLAlchemy cannot use raises :class:`~auralink.core.ConfigError` naming the setting.
"""

from __future__ import annotations

__all__ = ["READ_ONLY", "Database", "is_sqlite"]

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from auralink.core import ConfigError

logger = logging.getLogger("auralink.api")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    # the sqlite3 driver would open a transaction only at the first write, so a request's reads
    # would see no snapshot and a check-then-write (e.g. "is this the last owner?") could race;
    # let SQLAlchemy's "begin" event open every transaction instead (see _sqlite_begin)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


#: the execution option that marks a read session's connections (see Database.read_session)
READ_ONLY = "auralink_read_only"


def _sqlite_begin(conn: Any) -> None:
    """Take SQLite's write lock when a write transaction opens; let reads run side by side.

    Write transactions run one after another (others wait up to busy_timeout), so a request's
    check-then-write cannot interleave with another's, and none fails on a stale snapshot.
    SQLite allows one writer at a time anyway; PostgreSQL keeps its row locks (FOR UPDATE).
    A read session's transactions begin deferred: in WAL mode they read a consistent snapshot
    without waiting for writers or holding them up.
    """
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _create_engine(url: str) -> AsyncEngine:
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(parsed)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
            return engine
        return create_async_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise ConfigError(
            f"AURALINK_DATABASE_URL is not a usable async database URL ({e}); "
            "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user:password@host/db"
        ) from None


class Database:
    """An async engine and a session factory; ``await db.aclose()`` (or ``async with``) disposes it."""

    def __init__(self, *, url: str) -> None:
        self.url = url
        self.engine = _create_engine(url)
        # a Session class of this database's own, so the audit recorder's events stay on it
        from auralink.api.audit import install_recorder  # the recorder imports these models

        session_class = type("AuditedSession", (Session,), {})
        install_recorder(session_class)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        # SQLite takes one writer at a time; writers of this process queue here, in order, rather
        # than in SQLite's busy handler, which polls with sleeps of up to 100 ms (long tails)
        self.write_lock: asyncio.Lock | None = asyncio.Lock() if is_sqlite(url) else None
        # same pool, connections marked read-only: on SQLite their transactions begin deferred
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
            sync_session_class=session_class,
        )
        logger.info("database: %s", make_url(url).render_as_string(hide_password=True))

    def session(self) -> AsyncSession:
        """A session for a unit of work that may write (on SQLite it holds the write lock)."""
        return self.sessions()

    def read_session(self) -> AsyncSession:
        """A session for reads. On SQLite it takes no write lock; a write made through it still
        works, but fails (503) if another writer committed since its first read: use
        :meth:`session` for anything that writes on purpose."""
        return self.read_sessions()

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
