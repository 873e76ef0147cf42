"""Entries written on purpose: sensitive reads, and events that are not a row change.

Routes that show personal data (transcripts, a GDPR export) call :func:`audit_read` after the
read; it appends one entry naming the caller and commits it, so the read is on record even if
the response never reaches the client. :func:`record` appends without committing, for entries
that must share the transaction of what they describe (a GDPR erase).
"""

from __future__ import annotations

__all__ = ["audit_read", "record"]

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .chain import PendingEntry, append_entries
from .context import context_of


async def record(
    session: AsyncSession, action: str, target: str = "", *, detail: dict[str, Any] | None = None
) -> None:
    """Append an entry by the session's actor; the caller commits it with the rest."""
    context = context_of(session)
    entry = PendingEntry(
        actor=context.actor,
        action=action,
        target=target,
        org_id=context.org_id,
        ip=context.ip,
        detail=detail or {},
    )

    def write(sync: Session) -> None:
        append_entries(sync.connection(), [entry])

    await session.run_sync(write)


async def audit_read(
    session: AsyncSession, what: str, target: str = "", *, detail: dict[str, Any] | None = None
) -> None:
    """Record that the session's caller read ``what`` (e.g. ``transcripts.read``) of ``target``.

    ``target`` is an id (``cal_…``, ``mem_…``), never personal data. Commits.
    """
    await record(session, what, target, detail=detail)
    await session.commit()
