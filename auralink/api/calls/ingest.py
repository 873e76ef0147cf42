"""The worker's reports about a call: who may send them, and filing them under the call.

**Who.** The agents worker holds the LiveKit API key and secret, so it proves itself with a
short-lived LiveKit JWT signed with them (``livekit.api.AccessToken``): identity
:data:`WORKER_IDENTITY`, attribute ``auralink.grant`` = :data:`INGEST_GRANT` and
``auralink.room_sid`` = the room the report is about, a few minutes' TTL. The API checks it
with ``livekit.api.TokenVerifier``; a participant's join token, another key's token, an expired
one or one for another room is refused (401). ``auralink.agents.reporting`` makes these tokens.

**What.** A batch of events (:class:`~auralink.api.schemas.IngestBatch`): final transcript
lines (``call_turns``, one per ``seq``: a resend lands once), usage since the previous report
(added to the call's ``usage_records`` row per metric), and agent errors (``calls.errors``;
an unrecoverable one marks the call failed), moderation decisions and meeting notes
(:mod:`.meetings`). A report for a room LiveKit's webhooks have not
announced yet makes the call from the room name and metadata the batch carries.
"""

from __future__ import annotations

__all__ = ["INGEST_GRANT", "WORKER_IDENTITY", "IngestOutcome", "apply_batch", "verify_worker_token"]

import logging
from dataclasses import dataclass

from livekit import api
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Call, CallTurn, UsageRecord, new_id, utcnow
from auralink.api.errors import NotAuthenticated
from auralink.api.schemas.calls import IngestBatch, IngestError, IngestTurn, IngestUsage
from auralink.api.schemas.meetings import IngestModeration, IngestNotes
from auralink.api.webhooks import TranscriptFinal, enqueue
from auralink.api.webhooks.events import TranscriptFinalData
from auralink.memory import ArchiveEntry

from .lifecycle import CallOrigin, announce_start, ensure_call
from .meetings import store_moderation, store_notes

logger = logging.getLogger("auralink.api")

WORKER_IDENTITY = "auralink-worker"
INGEST_GRANT = "calls.ingest"
_USAGE_METRICS = ("stt_seconds", "tts_characters", "llm_prompt_tokens", "llm_completion_tokens")


class WorkerTokenRefused(NotAuthenticated):
    def __init__(self) -> None:
        super().__init__("send a worker token signed with this server's LiveKit key (see docs/api-calls.md)")


def verify_worker_token(authorization: str | None, *, api_key: str, api_secret: str, room_sid: str) -> None:
    """Accept the request only with a worker ingest token for ``room_sid`` (else 401, logged)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        logger.warning("ingest refused: no bearer token")
        raise WorkerTokenRefused()
    try:
        claims = api.TokenVerifier(api_key, api_secret).verify(token.strip())
    except Exception as e:  # pyjwt's and livekit's errors alike mean "not verified"
        logger.warning("ingest refused: %s", type(e).__name__)
        raise WorkerTokenRefused() from None
    attributes = claims.attributes or {}
    if (
        claims.identity != WORKER_IDENTITY
        or attributes.get("auralink.grant") != INGEST_GRANT
        or attributes.get("auralink.room_sid") != room_sid
    ):
        logger.warning("ingest refused: the token is not a worker ingest token for this room")
        raise WorkerTokenRefused()


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    call: Call
    turns: int
    duplicates: int
    usage: int
    errors: int
    queued: int
    moderation: int = 0
    notes: int = 0
    #: what the archive's search index should learn (new lines, the notes); indexed after commit
    archive: tuple[ArchiveEntry, ...] = ()


async def _add_turn(session: AsyncSession, call: Call, turn: IngestTurn) -> str | None:
    """The new line's id, or None when this ``seq`` is stored already."""
    values = {
        "id": new_id("trn"),
        "call_id": call.id,
        "seq": turn.seq,
        "role": turn.role,
        "speaker": turn.speaker,
        "text": turn.text,
        "language": turn.language,
        "metrics": turn.metrics,
        "spoken_at": turn.spoken_at or utcnow(),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = await session.execute(
        insert(CallTurn)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["call_id", "seq"])
        .returning(CallTurn.id)
    )
    added_id: str | None = added.scalar_one_or_none()
    return added_id


async def _add_usage(session: AsyncSession, call: Call, usage: IngestUsage) -> None:
    """Add each quantity to the call's one row for that metric (made on first use)."""
    if call.org_id is None:
        return
    for metric in _USAGE_METRICS:
        quantity = float(getattr(usage, metric))
        if quantity <= 0:
            continue
        row = await session.scalar(
            select(UsageRecord).where(UsageRecord.call_id == call.id, UsageRecord.metric == metric)
        )
        if row is None:
            session.add(
                UsageRecord(
                    id=new_id("use"),
                    org_id=call.org_id,
                    agent=call.agent,
                    call_id=call.id,
                    metric=metric,
                    quantity=quantity,
                    occurred_at=utcnow(),
                )
            )
        else:
            row.quantity += quantity
            row.occurred_at = utcnow()
        await session.flush()


async def apply_batch(session: AsyncSession, *, room_sid: str, batch: IngestBatch) -> IngestOutcome:
    """File ``batch`` under the call of ``room_sid`` (made now if unknown); never commits."""
    origin = CallOrigin(
        room_sid=room_sid,
        room_name=batch.room,
        metadata=batch.metadata,
        agent=batch.agent,
        agent_version=batch.agent_version,
    )
    call, org_now_known = await ensure_call(session, origin)
    queued = await announce_start(session, call) if org_now_known else 0
    turns = duplicates = usage = errors = moderation = notes = 0
    archive: list[ArchiveEntry] = []
    for event in batch.events:
        if isinstance(event, IngestTurn):
            line_id = await _add_turn(session, call, event)
            if line_id is not None:
                turns += 1
                queued += await _transcript_final(session, call)
                if call.org_id is not None:
                    archive.append(_line_entry(call, line_id, event))
            else:
                duplicates += 1
        elif isinstance(event, IngestModeration):
            stored, sent = await store_moderation(session, call, event)
            moderation += int(stored)
            queued += sent
        elif isinstance(event, IngestNotes):
            row, sent = await store_notes(session, call, event)
            if row is not None:
                notes += 1
                queued += sent
                archive.append(_notes_entry(call, row.search_text, row.updated_at.timestamp()))
        elif isinstance(event, IngestUsage):
            await _add_usage(session, call, event)
            usage += 1
        elif isinstance(event, IngestError):
            errors += 1
            if not event.recoverable and call.status == "active":
                call.status = "failed"
    if errors:
        call.errors += errors
    return IngestOutcome(
        call=call,
        turns=turns,
        duplicates=duplicates,
        usage=usage,
        errors=errors,
        queued=queued,
        moderation=moderation,
        notes=notes,
        archive=tuple(archive),
    )


def _line_entry(call: Call, line_id: str, turn: IngestTurn) -> ArchiveEntry:
    return ArchiveEntry(
        id=line_id,
        org_id=call.org_id or "",
        call_id=call.id,
        kind="line",
        text=turn.text,
        at=(turn.spoken_at or utcnow()).timestamp(),
        speaker=turn.speaker,
        agent=call.agent or "",
    )


def _notes_entry(call: Call, text: str, at: float) -> ArchiveEntry:
    return ArchiveEntry(
        id=f"notes:{call.id}",
        org_id=call.org_id or "",
        call_id=call.id,
        kind="notes",
        text=text,
        at=at,
        agent=call.agent or "",
    )


async def _transcript_final(session: AsyncSession, call: Call) -> int:
    if call.org_id is None:
        return 0
    count = await session.scalar(select(func.count()).where(CallTurn.call_id == call.id))
    data = TranscriptFinalData(room=call.room_name, turns=int(count or 0))
    return len(await enqueue(session, TranscriptFinal(org_id=call.org_id, data=data)))
