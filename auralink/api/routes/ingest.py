"""What the agents worker reports about its calls: transcript turns, per-turn latency, usage, errors.

``POST /v1/ingest/calls/{room_sid}/events`` takes a batch from ``auralink.agents.reporting``,
authenticated with a worker token signed with the LiveKit key (not an API key; see
:mod:`auralink.api.calls.ingest`). ``transcript.final`` events are queued in the same
transaction as the lines they announce, and the dispatcher is woken after the commit.
"""

from __future__ import annotations

__all__ = ["WorkerRoom", "router"]

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from auralink.api.calls import apply_batch, verify_worker_token
from auralink.api.deps import SessionDep, SettingsDep
from auralink.api.livekit_client import livekit_credentials
from auralink.api.schemas import ErrorBody, IngestBatch, IngestResult

from .common import TOO_LARGE
from .webhooks import wake_dispatcher

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])

RoomSid = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


async def _worker(room_sid: RoomSid, request: Request, settings: SettingsDep) -> str:
    """The room the worker's token is for; checked before the body is read (else 401)."""
    creds = livekit_credentials(settings)
    verify_worker_token(
        request.headers.get("authorization"),
        api_key=creds.api_key,
        api_secret=creds.api_secret,
        room_sid=room_sid,
    )
    return room_sid


#: the room a worker token was checked for (401 before the body is read otherwise)
WorkerRoom = Annotated[str, Depends(_worker)]


@router.post(
    "/calls/{room_sid}/events",
    responses={
        **TOO_LARGE,
        401: {
            "model": ErrorBody,
            "description": "not a worker token for this room, signed with the LiveKit key",
        },
    },
)
async def ingest_events(
    room_sid: Annotated[str, Depends(_worker)], body: IngestBatch, request: Request, session: SessionDep
) -> IngestResult:
    """A batch of the worker's reports about the call in room ``room_sid`` (idempotent per line)."""
    outcome = await apply_batch(session, room_sid=room_sid, batch=body)
    await session.commit()
    if outcome.queued:
        wake_dispatcher(request)
    if outcome.archive:  # indexed for search after the commit, off this request's path
        await request.app.state.archive.submit(outcome.archive)
    logger.info(
        "ingest for call %s: %d line(s), %d resent, %d usage, %d error(s)",
        outcome.call.id,
        outcome.turns,
        outcome.duplicates,
        outcome.usage,
        outcome.errors,
    )
    return IngestResult(
        call_id=outcome.call.id,
        turns=outcome.turns,
        duplicates=outcome.duplicates,
        usage=outcome.usage,
        errors=outcome.errors,
        moderation=outcome.moderation,
        notes=outcome.notes,
    )
