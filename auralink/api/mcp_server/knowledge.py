"""What the MCP tools read: transcript lines, one call with its people and words, and memories.

Plain queries on a database session (and a :class:`~auralink.memory.MemoryService`), always
confined to one organisation, each returning JSON-ready dicts. Permission checks and the audit
entry are the caller's (:mod:`.server`).
"""

from __future__ import annotations

__all__ = ["call_record", "memory_hits", "transcript_hits"]

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Call, CallParticipant, CallTurn, is_id
from auralink.memory import MemoryScope, MemoryService


def _contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _at(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


async def transcript_hits(
    session: AsyncSession, *, org_id: str, query: str, limit: int, since: datetime | None
) -> list[dict[str, Any]]:
    """The organisation's transcript lines containing ``query`` (any case), newest first."""
    statement = (
        select(CallTurn, Call.started_at)
        .join(Call, Call.id == CallTurn.call_id)
        .where(Call.org_id == org_id, CallTurn.text.ilike(_contains(query), escape="\\"))
    )
    if since is not None:
        statement = statement.where(CallTurn.spoken_at >= since)
    statement = statement.order_by(CallTurn.spoken_at.desc(), CallTurn.id.desc()).limit(limit)
    return [
        {
            "call_id": turn.call_id,
            "call_started_at": _at(started_at),
            "spoken_at": _at(turn.spoken_at),
            "seq": turn.seq,
            "role": "assistant" if turn.role == "assistant" else "user",
            "speaker": turn.speaker,
            "text": turn.text,
        }
        for turn, started_at in (await session.execute(statement)).all()
    ]


async def call_record(session: AsyncSession, *, org_id: str, call_id: str) -> dict[str, Any] | None:
    """One call of the organisation: metadata, participants, transcript and summary; None if it
    is not theirs (or does not exist)."""
    call = await session.get(Call, call_id) if is_id(call_id, "cal") else None
    if call is None or call.org_id is None or call.org_id != org_id:
        return None
    people = await session.scalars(
        select(CallParticipant)
        .where(CallParticipant.call_id == call.id)
        .order_by(CallParticipant.joined_at, CallParticipant.id)
    )
    turns = await session.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq))
    return {
        "id": call.id,
        "room": call.room_name,
        "agent": call.agent,
        "agent_version": call.agent_version,
        "source": call.source,
        "status": call.status,
        "started_at": _at(call.started_at),
        "ended_at": _at(call.ended_at),
        "duration_s": call.duration_s,
        "end_reason": call.end_reason,
        "participants": [
            {
                "identity": p.identity,
                "name": p.name,
                "kind": p.kind,
                "joined_at": _at(p.joined_at),
                "left_at": _at(p.left_at),
            }
            for p in people
        ],
        "transcript": [
            {
                "seq": t.seq,
                "role": "assistant" if t.role == "assistant" else "user",
                "speaker": t.speaker,
                "text": t.text,
                "language": t.language,
                "spoken_at": _at(t.spoken_at),
            }
            for t in turns
        ],
        "summary": call.summary,
    }


async def memory_hits(
    memory: MemoryService, *, org_id: str, subject: str, query: str, top_k: int
) -> list[dict[str, Any]]:
    """What the organisation remembers about ``subject`` that is nearest to ``query``, best first."""
    hits = await memory.recall(MemoryScope(org_id=org_id, subject=subject), query, top_k=top_k)
    return [
        {
            "id": hit.record.id,
            "kind": hit.record.kind,
            "text": hit.record.text,
            "score": round(hit.score, 4),
            "agent": hit.record.agent or None,
            "conversation": hit.record.conversation or None,
            "created_at": datetime.fromtimestamp(hit.record.created_at, UTC).isoformat(),
            "updated_at": datetime.fromtimestamp(hit.record.updated_at, UTC).isoformat(),
        }
        for hit in hits
    ]
