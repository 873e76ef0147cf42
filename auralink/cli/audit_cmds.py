"""``auralink audit verify``: walk the audit log's hash chain in AURALINK_DATABASE_URL's database.

Prints ``OK`` with the number of entries and the head hash (note it somewhere else: an entry
removed from the very end is only noticed against a head hash seen before), or the first
broken entry and why. Exit status 0 when the chain holds, 1 when it does not (2 when the database cannot be read).
"""

from __future__ import annotations

__all__ = ["verify"]

import asyncio

from sqlalchemy.exc import SQLAlchemyError

from auralink.api.audit import ChainReport, verify_chain
from auralink.api.db import Database, current_revision
from auralink.core import ServiceFailed, Settings


async def _walk(url: str) -> ChainReport:
    async with Database(url=url) as db:
        try:
            if await current_revision(db) is None:
                raise ServiceFailed("database", "it has no AuraLink schema yet; run `auralink db upgrade`")
            async with db.session() as session:
                return await verify_chain(session)
        except SQLAlchemyError as e:
            raise ServiceFailed("database", f"cannot read the audit log: {type(e).__name__}") from None


def verify(settings: Settings) -> int:
    report = asyncio.run(_walk(settings.database_url))
    if report.ok:
        head = report.head_hash or "(empty log)"
        print(f"OK: {report.entries} audit entries, the chain holds; head {head}")
        return 0
    print(f"BROKEN at seq {report.broken_at}: {report.reason} ({report.entries} entries before it verify)")
    return 1
