"""A call's life from LiveKit's webhooks: made on first sight, participants in and out, ended.

One ``calls`` row per room session, keyed by LiveKit's room sid. Whichever report arrives
first (``room_started``, a participant webhook, or the worker's first transcript line) makes
the row, with the organisation, source, agent and link read from the room's metadata
(:class:`~auralink.api.tokens.RoomMetadata`); later reports fill what is still missing.
Every step is idempotent, so LiveKit's retries and out-of-order deliveries land once:
the call row is inserted with ``ON CONFLICT DO NOTHING``, a participant is one row per
(identity, join time), and ending an ended call changes nothing.

The functions add rows and webhook events to the caller's session and never commit.
"""

from __future__ import annotations

__all__ = [
    "CallOrigin",
    "announce_start",
    "apply_room_event",
    "end_call",
    "ensure_call",
    "started_from",
]

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from livekit.protocol import models as lk_models
from livekit.protocol import webhook as lk_webhook
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import (
    Call,
    CallParticipant,
    Organisation,
    ShareLink,
    UsageRecord,
    is_id,
    new_id,
    utcnow,
)
from auralink.api.tokens import RoomMetadata
from auralink.api.webhooks import CallEnded, CallStarted, enqueue
from auralink.api.webhooks.events import CallEndedData, CallStartedData

logger = logging.getLogger("auralink.api")

_KINDS = {
    lk_models.ParticipantInfo.Kind.STANDARD: "standard",
    lk_models.ParticipantInfo.Kind.INGRESS: "ingress",
    lk_models.ParticipantInfo.Kind.EGRESS: "egress",
    lk_models.ParticipantInfo.Kind.SIP: "sip",
    lk_models.ParticipantInfo.Kind.AGENT: "agent",
}
_END_REASONS = {
    lk_models.RoomEndReason.ROOM_END_API_DELETE: "deleted",
    lk_models.RoomEndReason.ROOM_END_IDLE_TIMEOUT: "empty",
    lk_models.RoomEndReason.ROOM_END_SERVER_SHUTDOWN: "server_shutdown",
}


@dataclass(frozen=True, slots=True)
class CallOrigin:
    """What a report says about the room a call is in."""

    room_sid: str
    room_name: str
    metadata: str = ""
    started_at: datetime | None = None
    agent: str | None = None
    agent_version: int | None = None


def _seconds(ms: int, s: int) -> datetime | None:
    if ms:
        return datetime.fromtimestamp(ms / 1000, UTC)
    return datetime.fromtimestamp(s, UTC) if s else None


def started_from(room: lk_models.Room) -> datetime | None:
    """When LiveKit made the room (None when the webhook does not say)."""
    return _seconds(room.creation_time_ms, room.creation_time)


async def _valid_link(session: AsyncSession, org_id: str | None, link_id: str | None) -> str | None:
    """The link id when it names a link of ``org_id`` (the foreign key must not point nowhere)."""
    if org_id is None or link_id is None or not is_id(link_id, "lnk"):
        return None
    link = await session.get(ShareLink, link_id)
    return link_id if link is not None and link.org_id == org_id else None


async def _org_exists(session: AsyncSession, org_id: str | None) -> str | None:
    if org_id is None or not is_id(org_id, "org"):
        return None
    return org_id if await session.get(Organisation, org_id) is not None else None


async def ensure_call(session: AsyncSession, origin: CallOrigin) -> tuple[Call, bool]:
    """The call of ``origin.room_sid``, made now if no report made it before; and whether the
    organisation became known just now (then ``call.started`` is due)."""
    meta = RoomMetadata.parse(origin.metadata)
    org_id = await _org_exists(session, meta.org)
    source = meta.source[:16] or "unknown"
    link_id = await _valid_link(session, org_id, meta.link)
    agent = meta.agent or origin.agent
    agent_version = meta.agent_version or origin.agent_version
    values = {
        "id": new_id("cal"),
        "org_id": org_id,
        "room_name": origin.room_name,
        "room_sid": origin.room_sid,
        "agent": agent,
        "agent_version": agent_version,
        "source": source,
        "link_id": link_id,
        "status": "active",
        "started_at": origin.started_at or utcnow(),
        "errors": 0,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    made = await session.execute(
        insert(Call).values(**values).on_conflict_do_nothing(index_elements=["room_sid"]).returning(Call.id)
    )
    created = made.scalar_one_or_none() is not None
    call = await session.scalar(
        select(Call).where(Call.room_sid == origin.room_sid).execution_options(populate_existing=True)
    )
    assert call is not None, "inserted or already there"
    if created:
        logger.info("call %s: room %s (org %s)", call.id, origin.room_name, call.org_id or "none")
        return call, call.org_id is not None
    org_now_known = False
    if call.org_id is None and org_id is not None:  # a report without metadata came first
        call.org_id, call.source, call.link_id = org_id, source, link_id
        org_now_known = True
    call.agent = call.agent or agent
    call.agent_version = call.agent_version or agent_version
    if origin.started_at is not None and origin.started_at < call.started_at:
        call.started_at = origin.started_at
    return call, org_now_known


async def announce_start(session: AsyncSession, call: Call) -> int:
    """Queue ``call.started`` for a call whose organisation just became known."""
    if call.org_id is None:
        return 0
    data = CallStartedData(room=call.room_name, agent=call.agent)
    return len(await enqueue(session, CallStarted(org_id=call.org_id, data=data)))


async def _participant(
    session: AsyncSession, call: Call, info: lk_models.ParticipantInfo, *, joined: bool, at: datetime
) -> None:
    joined_at = _seconds(info.joined_at_ms, info.joined_at) or at
    rows = list(
        await session.scalars(
            select(CallParticipant).where(
                CallParticipant.call_id == call.id, CallParticipant.identity == info.identity
            )
        )
    )
    row = next((r for r in rows if r.joined_at == joined_at), None)
    if row is None and not joined and rows:  # a leave whose join time does not match: the open
        # row if any, else the latest (the call may have ended and closed it already)
        row = next((r for r in rows if r.left_at is None), max(rows, key=lambda r: r.joined_at))
    if row is None:
        row = CallParticipant(
            id=new_id("cpt"),
            call_id=call.id,
            identity=info.identity[:255],
            name=info.name[:255],
            kind=_KINDS.get(info.kind, "standard"),
            joined_at=joined_at,
            left_at=None,
        )
        session.add(row)
    if not joined and row.left_at is None:
        row.left_at = at


async def end_call(session: AsyncSession, call: Call, *, at: datetime, reason: str | None) -> int:
    """Close ``call`` at ``at`` (participants still in it leave then); webhook deliveries queued."""
    if call.ended_at is not None:
        return 0
    call.ended_at = max(at, call.started_at)
    call.duration_s = round((call.ended_at - call.started_at).total_seconds(), 3)
    call.end_reason = reason
    if call.status == "active":
        call.status = "ended"
    still_in = await session.scalars(
        select(CallParticipant).where(CallParticipant.call_id == call.id, CallParticipant.left_at.is_(None))
    )
    for row in still_in:
        row.left_at = call.ended_at
    if call.org_id is None:
        return 0
    session.add(
        UsageRecord(
            id=new_id("use"),
            org_id=call.org_id,
            agent=call.agent,
            call_id=call.id,
            metric="call_seconds",
            quantity=call.duration_s,
            occurred_at=call.ended_at,
        )
    )
    data = CallEndedData(room=call.room_name, agent=call.agent, duration_s=call.duration_s)
    return len(await enqueue(session, CallEnded(org_id=call.org_id, data=data)))


async def apply_room_event(session: AsyncSession, event: lk_webhook.WebhookEvent, *, at: datetime) -> int:
    """File a verified LiveKit webhook under its call; how many webhook deliveries were queued."""
    room = event.room
    if not room.sid:
        return 0
    # the room's creation time is the call's start, whichever webhook brings it first
    origin = CallOrigin(
        room_sid=room.sid, room_name=room.name, metadata=room.metadata, started_at=started_from(room) or at
    )
    call, org_now_known = await ensure_call(session, origin)
    queued = await announce_start(session, call) if org_now_known else 0
    if event.event in ("participant_joined", "participant_left") and event.HasField("participant"):
        await _participant(
            session, call, event.participant, joined=event.event == "participant_joined", at=at
        )
    elif event.event == "room_finished":
        queued += await end_call(session, call, at=at, reason=_END_REASONS.get(event.room_end_reason))
    return queued
