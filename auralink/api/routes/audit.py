"""The audit log of the caller's organisation: filter, and check its hash chain.

Entries are written by :mod:`auralink.api.audit` (every change of a management table and every
sensitive read); here they are only read. Nothing in the API updates or deletes an entry.
"""

from __future__ import annotations

__all__ = ["router"]

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlalchemy import select

from auralink.api.audit import verify_chain
from auralink.api.auth import Principal
from auralink.api.db import AuditEntry
from auralink.api.deps import SessionDep, require
from auralink.api.permissions import Action
from auralink.api.schemas import AuditEntryPublic, AuditPage, AuditVerifyPublic

from .common import AUTH

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=AUTH)

_Text = Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")]


@router.get("")
async def list_entries(
    *,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_READ))],
    actor: Annotated[_Text, Query(description="e.g. `member:mem_…`, `key:key_…`, `system`")] = None,
    action: Annotated[
        _Text, Query(description="exact (`api_key.created`), or a prefix ending in `.` (`api_key.`)")
    ] = None,
    target: Annotated[_Text, Query(description="the id acted on")] = None,
    since: Annotated[AwareDatetime | None, Query(description="entries at or after this time")] = None,
    until: Annotated[AwareDatetime | None, Query(description="entries before this time")] = None,
    before: Annotated[int | None, Query(ge=1, description="entries with a seq below this (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """The organisation's entries, newest first, filtered; page with ``before=<next_before>``."""
    query = select(AuditEntry).where(AuditEntry.org_id == principal.org_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        if action.endswith("."):
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEntry.occurred_at < until)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = (await session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit + 1))).all()
    items = [AuditEntryPublic.model_validate(e, from_attributes=True) for e in rows[:limit]]
    return AuditPage(items=items, next_before=items[-1].seq if len(rows) > limit else None)


@router.get("/verify")
async def verify(
    session: SessionDep, _: Annotated[Principal, Depends(require(Action.AUDIT_READ))]
) -> AuditVerifyPublic:
    """Walk the whole hash chain (every organisation's entries: they share one chain).

    ``ok`` is false with ``broken_at`` and ``reason`` if any entry was altered, inserted or
    removed; only the seq is named, never another organisation's entry.
    """
    report = await verify_chain(session)
    return AuditVerifyPublic(
        ok=report.ok,
        entries=report.entries,
        head_hash=report.head_hash,
        broken_at=report.broken_at,
        reason=report.reason,
    )
