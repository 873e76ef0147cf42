"""A subject's footprint in calls: participations, transcript lines, summaries, room events.

The subject's transcript lines are the ones they spoke; in a call where they were the only
human (an agent call, a phone call) the agent's replies and the call's summary are about them
too and go with them. In a meeting with other people the agent's replies stay: they are
other people's conversation as much as the subject's.
"""

from __future__ import annotations

__all__ = ["CallFootprint", "erase_calls", "export_calls", "find_calls"]

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Call, CallParticipant, CallTurn, Room, RoomEvent

from .subject import Subject


@dataclass
class CallFootprint:
    participants: list[tuple[CallParticipant, Call]] = field(default_factory=list)
    calls: dict[str, Call] = field(default_factory=dict)
    sole_calls: set[str] = field(default_factory=set)
    turns: list[CallTurn] = field(default_factory=list)
    room_events: list[RoomEvent] = field(default_factory=list)


async def find_calls(session: AsyncSession, subject: Subject) -> CallFootprint:
    """Everything of ``subject`` in ``subject.org_id``'s calls."""
    forms = subject.identities()
    found = CallFootprint()
    if not forms:
        return found
    match: ColumnElement[bool] = CallParticipant.identity.in_(forms)
    if subject.kind == "phone":
        match = or_(match, CallParticipant.name.in_(forms))
    found.participants = [
        (p, c)
        for p, c in (
            await session.execute(
                select(CallParticipant, Call)
                .join(Call, Call.id == CallParticipant.call_id)
                .where(Call.org_id == subject.org_id, match)
                .order_by(Call.started_at, CallParticipant.joined_at)
            )
        )
    ]
    identities = set(forms) | {p.identity for p, _ in found.participants}
    spoken_in = await session.scalars(
        select(CallTurn.call_id)
        .join(Call, Call.id == CallTurn.call_id)
        .where(Call.org_id == subject.org_id, CallTurn.speaker.in_(identities))
        .distinct()
    )
    call_ids = {c.id for _, c in found.participants} | set(spoken_in)
    if call_ids:
        found.calls = {c.id: c for c in await session.scalars(select(Call).where(Call.id.in_(call_ids)))}
        humans = await session.execute(
            select(CallParticipant.call_id, CallParticipant.identity).where(
                CallParticipant.call_id.in_(call_ids), CallParticipant.kind != "agent"
            )
        )
        speakers = await session.execute(
            select(CallTurn.call_id, CallTurn.speaker).where(
                CallTurn.call_id.in_(call_ids), CallTurn.role == "user"
            )
        )
        shared = {cid for cid, who in [*humans, *speakers] if who not in identities}
        found.sole_calls = call_ids - shared
        theirs: ColumnElement[bool] = CallTurn.speaker.in_(identities)
        if found.sole_calls:
            replies = and_(CallTurn.role == "assistant", CallTurn.call_id.in_(found.sole_calls))
            theirs = or_(theirs, replies)
        found.turns = list(
            await session.scalars(
                select(CallTurn)
                .where(CallTurn.call_id.in_(call_ids), theirs)
                .order_by(CallTurn.call_id, CallTurn.seq)
            )
        )
    org_rooms = or_(
        RoomEvent.room_name.in_(select(Call.room_name).where(Call.org_id == subject.org_id)),
        RoomEvent.room_name.in_(select(Room.name).where(Room.org_id == subject.org_id)),
    )
    found.room_events = list(
        await session.scalars(
            select(RoomEvent)
            .where(RoomEvent.participant_identity.in_(identities), org_rooms)
            .order_by(RoomEvent.occurred_at)
        )
    )
    return found


def export_calls(found: CallFootprint) -> dict[str, list[dict[str, Any]]]:
    """The footprint as the archive's files (name -> JSON-ready list)."""
    return {
        "participations": [
            {
                "call_id": c.id,
                "room": c.room_name,
                "agent": c.agent,
                "source": c.source,
                "call_started_at": c.started_at,
                "call_ended_at": c.ended_at,
                "identity": p.identity,
                "name": p.name,
                "kind": p.kind,
                "joined_at": p.joined_at,
                "left_at": p.left_at,
            }
            for p, c in found.participants
        ],
        "transcripts": [
            {
                "call_id": t.call_id,
                "seq": t.seq,
                "role": t.role,
                "speaker": t.speaker,
                "text": t.text,
                "language": t.language,
                "spoken_at": t.spoken_at,
            }
            for t in found.turns
        ],
        "summaries": [
            {"call_id": cid, "summary": found.calls[cid].summary}
            for cid in sorted(found.sole_calls)
            if found.calls[cid].summary is not None
        ],
        "room_events": [
            {
                "event": e.event,
                "room": e.room_name,
                "identity": e.participant_identity,
                "occurred_at": e.occurred_at,
            }
            for e in found.room_events
        ],
    }


async def erase_calls(session: AsyncSession, found: CallFootprint) -> dict[str, int]:
    """Delete the footprint's rows and clear the summaries of the subject's one-to-one calls."""
    counts = {"call_participants": 0, "transcript_lines": 0, "call_summaries": 0, "room_events": 0}
    if found.turns:
        await session.execute(delete(CallTurn).where(CallTurn.id.in_([t.id for t in found.turns])))
        counts["transcript_lines"] = len(found.turns)
    if found.participants:
        ids = [p.id for p, _ in found.participants]
        await session.execute(delete(CallParticipant).where(CallParticipant.id.in_(ids)))
        counts["call_participants"] = len(ids)
    summarised = [cid for cid in found.sole_calls if found.calls[cid].summary is not None]
    if summarised:
        await session.execute(
            update(Call)
            .where(Call.id.in_(summarised))
            .values(summary=None)
            .execution_options(synchronize_session=False)
        )
        counts["call_summaries"] = len(summarised)
    if found.room_events:
        await session.execute(delete(RoomEvent).where(RoomEvent.id.in_([e.id for e in found.room_events])))
        counts["room_events"] = len(found.room_events)
    return counts
