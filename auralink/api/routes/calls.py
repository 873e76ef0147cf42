"""Calls of the caller's organisation: list, filter, search, one call with participants and transcript.

Listing and one call need ``calls:read``; the transcript, and searching the list by what was
said (``q``), need ``transcripts:read`` as well, and are written to the audit log (ids only). A call of another organisation, or of a room
no organisation made, answers 404 like one that does not exist.
"""

from __future__ import annotations

__all__ = ["router"]

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.audit import audit_read
from auralink.api.auth import Principal
from auralink.api.calls import CallFilter, counts, latency_summary, list_calls, usage_totals
from auralink.api.db import Call, CallNotes, CallParticipant, CallTurn, is_id
from auralink.api.deps import SessionDep, require, writes
from auralink.api.errors import NotFound, PermissionDenied
from auralink.api.permissions import Action
from auralink.api.schemas import (
    CallDetail,
    CallPage,
    CallParticipantPublic,
    CallPublic,
    CallStatus,
    LatencySummary,
    TranscriptPublic,
    TurnPublic,
)

from .common import AUTH, MISSING

router = APIRouter(prefix="/v1/calls", tags=["calls"], responses=AUTH)

Reader = Annotated[Principal, Depends(require(Action.CALLS_READ))]


def _public(call: Call, *, participants: int, turns: int) -> CallPublic:
    return CallPublic(
        id=call.id,
        room=call.room_name,
        room_sid=call.room_sid,
        agent=call.agent,
        agent_version=call.agent_version,
        source=call.source,
        link_id=call.link_id,
        status=CallStatus(call.status),
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_s=call.duration_s,
        end_reason=call.end_reason,
        errors=call.errors,
        participant_count=participants,
        turn_count=turns,
    )


async def _own(session: AsyncSession, principal: Principal, call_id: str) -> Call:
    call = await session.get(Call, call_id) if is_id(call_id, "cal") else None
    if call is None or call.org_id is None or call.org_id != principal.org_id:
        raise NotFound("call", call_id)
    return call


@router.get("", dependencies=[Depends(writes)])  # a search with q is audited (a write)
async def list_all(
    *,
    session: SessionDep,
    principal: Reader,
    agent: Annotated[str | None, Query(max_length=63, description="only calls with this agent")] = None,
    status: Annotated[CallStatus | None, Query(description="active, ended or failed")] = None,
    source: Annotated[str | None, Query(max_length=16, description="api, link, dev, sip, twilio")] = None,
    since: Annotated[AwareDatetime | None, Query(description="started at or after this time")] = None,
    until: Annotated[AwareDatetime | None, Query(description="started before this time")] = None,
    participant: Annotated[
        str | None, Query(max_length=255, description="only calls this participant identity joined")
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="text said in the call (needs transcripts:read)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the page before")
    ] = None,
) -> CallPage:
    """The organisation's calls, newest first, filtered and paged (``next_cursor`` leads on)."""
    if q is not None and not principal.can(Action.TRANSCRIPTS_READ):
        raise PermissionDenied("searching what was said needs transcripts:read")
    where = CallFilter(
        agent=agent,
        status=status.value if status else None,
        source=source,
        since=since,
        until=until,
        participant=participant,
        q=q,
    )
    calls, next_cursor = await list_calls(
        session, org_id=principal.org_id, where=where, limit=limit, cursor=cursor
    )
    people, lines = await counts(session, [c.id for c in calls])
    if q is not None:  # a search of what was said is a transcript read (the words are not logged)
        await audit_read(session, "transcripts.search", detail={"calls": len(calls)})
    items = [_public(c, participants=people.get(c.id, 0), turns=lines.get(c.id, 0)) for c in calls]
    return CallPage(items=items, next_cursor=next_cursor)


@router.get("/{call_id}", responses=MISSING)
async def get_call(call_id: str, session: SessionDep, principal: Reader) -> CallDetail:
    """One call: participants, times, agent, per-turn latency percentiles and usage totals."""
    call = await _own(session, principal, call_id)
    participants = list(
        await session.scalars(
            select(CallParticipant)
            .where(CallParticipant.call_id == call.id)
            .order_by(CallParticipant.joined_at, CallParticipant.id)
        )
    )
    metrics = list(await session.scalars(select(CallTurn.metrics).where(CallTurn.call_id == call.id)))
    people, lines = await counts(session, [call.id])
    summary = {
        name: LatencySummary(turns=n, p50_ms=p50, p95_ms=p95, max_ms=top)
        for name, (n, p50, p95, top) in latency_summary(metrics).items()
    }
    return CallDetail(
        **_public(call, participants=people.get(call.id, 0), turns=lines.get(call.id, 0)).model_dump(),
        participants=[
            CallParticipantPublic(
                identity=p.identity, name=p.name, kind=p.kind, joined_at=p.joined_at, left_at=p.left_at
            )
            for p in participants
        ],
        latency=summary,
        usage=await usage_totals(session, call.id),
        has_notes=await session.get(CallNotes, call.id) is not None,
    )


@router.get("/{call_id}/transcript", responses=MISSING, dependencies=[Depends(writes)])  # audited read
async def get_transcript(
    call_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.TRANSCRIPTS_READ))],
) -> TranscriptPublic:
    """The call's final transcript lines in order, with who said each and its latency figures."""
    call = await _own(session, principal, call_id)
    turns = list(
        await session.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq))
    )
    await audit_read(session, "transcripts.read", call.id)
    return TranscriptPublic(
        call_id=call.id,
        room=call.room_name,
        turns=[
            TurnPublic(
                seq=t.seq,
                role="assistant" if t.role == "assistant" else "user",
                speaker=t.speaker,
                text=t.text,
                language=t.language,
                metrics=t.metrics,
                spoken_at=t.spoken_at,
            )
            for t in turns
        ],
    )
