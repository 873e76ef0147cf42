"""Schema migrations: bring a database to the newest Alembic revision.

The revisions live in ``migrations/`` beside this module. :func:`upgrade` runs inside an
event loop on the API's own async engine (the app's lifespan calls it at startup), so a fresh
SQLite file and a fresh PostgreSQL database both come up ready; ``auralink db upgrade`` does
the same from the command line.
"""

from __future__ import annotations

__all__ = ["current_revision", "head_revision", "upgrade"]

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from auralink.core import ServiceFailed

from .engine import Database

logger = logging.getLogger("auralink.api")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


async def current_revision(db: Database) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate ``db`` to ``revision``; raises :class:`ServiceFailed` if the database refuses."""

    def run(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(run)
    except (SQLAlchemyError, OSError) as e:
        raise ServiceFailed("database", f"migrations did not run: {type(e).__name__}: {e}") from None
    logger.info("database schema at %s", revision)
