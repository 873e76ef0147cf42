"""Export and erase a subject everywhere: the API's tables, then every registered store.

The database part of an erase runs in the caller's transaction (the route commits it with its
audit entry); registered stores are erased after that commit, each on its own. Both
operations are idempotent, so an erase that failed half-way is finished by running it again.
"""

from __future__ import annotations

__all__ = ["erase_database", "erase_stores", "export_subject"]

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.permissions import Role

from .archive import count_records
from .calls import erase_calls, export_calls, find_calls
from .erasable import ErasableRegistry
from .meetings import erase_meetings, export_meetings, find_meetings
from .members import erase_member, export_member, find_member
from .subject import Subject


async def export_subject(
    session: AsyncSession, subject: Subject, stores: ErasableRegistry
) -> tuple[dict[str, Any], dict[str, int]]:
    """The archive's files (name -> data) and the record count of each."""
    files: dict[str, Any] = {}
    if subject.kind == "member":
        files.update(await export_member(session, await find_member(session, subject)))
    else:
        calls = await find_calls(session, subject)
        files.update(export_calls(calls))
        files.update(export_meetings(await find_meetings(session, subject, calls)))
    for name, store in stores:
        files[name] = await store.export(subject)
    return files, {name: count_records(data) for name, data in files.items()}


async def erase_database(
    session: AsyncSession, subject: Subject, *, by: Role, data_dir: Path | None = None
) -> dict[str, int]:
    """Remove the subject from the API's tables (not committed) and the bytes of files they
    shared under ``data_dir``; counts per place."""
    if subject.kind == "member":
        return await erase_member(session, await find_member(session, subject), by=by)
    calls = await find_calls(session, subject)
    meetings = await find_meetings(session, subject, calls)  # before the rows it reads through go
    counts = await erase_meetings(session, meetings, data_dir=data_dir)
    return await erase_calls(session, calls) | counts


async def erase_stores(subject: Subject, stores: ErasableRegistry) -> dict[str, int]:
    return {name: await store.erase(subject) for name, store in stores}
