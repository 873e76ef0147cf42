"""LiveKit's webhooks in: ``POST /v1/livekit/webhook``, verified, recorded, filed under calls.

LiveKit signs each webhook with a JWT in ``Authorization`` (made with the server's API key and
secret) whose ``sha256`` claim is the hash of the body. The route checks both with
``livekit.api.WebhookReceiver`` on the raw body, before parsing anything; a request that fails
is answered 401 and logged as a warning without any of its content. ``room_started``,
``room_finished``, ``participant_joined`` and ``participant_left`` are kept in ``room_events``
(participants by identity only) and drive the call records (:mod:`auralink.api.calls`):
the room's call is made, participants join and leave it, and it ends, in the same transaction
as the room event, with ``call.started`` / ``call.ended`` queued for the organisation's webhook
endpoints. Other events are acknowledged and dropped.
"""

from __future__ import annotations

__all__ = ["RECORDED", "router"]

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from livekit import api
from pydantic import BaseModel
from sqlalchemy import select

from auralink.api.calls import apply_room_event
from auralink.api.db import RoomEvent, new_id, utcnow
from auralink.api.deps import SessionDep, SettingsDep
from auralink.api.errors import NotAuthenticated
from auralink.api.livekit_client import livekit_credentials
from auralink.api.schemas import ErrorBody

from .webhooks import wake_dispatcher

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/livekit", tags=["webhooks in"])

RECORDED = frozenset({"room_started", "room_finished", "participant_joined", "participant_left"})


class WebhookReceived(BaseModel):
    event: str
    recorded: bool


class LiveKitWebhookRefused(NotAuthenticated):
    def __init__(self) -> None:
        super().__init__("the webhook's signature does not verify with this server's LiveKit key")


@router.post(
    "/webhook",
    responses={401: {"model": ErrorBody, "description": "the signature does not verify"}},
)
async def receive(request: Request, session: SessionDep, settings: SettingsDep) -> WebhookReceived:
    """Where livekit-server posts its webhooks (``webhook.urls`` in its config)."""
    creds = livekit_credentials(settings)
    raw = await request.body()
    auth = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    receiver = api.WebhookReceiver(api.TokenVerifier(creds.api_key, creds.api_secret))
    try:
        event = receiver.receive(raw.decode("utf-8"), auth)
    except Exception as e:  # livekit raises bare Exception / jwt errors; all mean "not verified"
        logger.warning("LiveKit webhook refused: %s", type(e).__name__)
        raise LiveKitWebhookRefused() from None

    kind = event.event
    if kind not in RECORDED:
        return WebhookReceived(event=kind, recorded=False)
    if await session.scalar(select(RoomEvent.id).where(RoomEvent.event_id == event.id)) is not None:
        return WebhookReceived(event=kind, recorded=True)  # LiveKit sent it again
    identity = event.participant.identity if event.HasField("participant") else None
    occurred = datetime.fromtimestamp(event.created_at, UTC) if event.created_at else utcnow()
    session.add(
        RoomEvent(
            id=new_id("rev"),
            event_id=event.id or new_id("lkw"),
            event=kind,
            room_name=event.room.name,
            room_sid=event.room.sid,
            participant_identity=identity,
            occurred_at=occurred,
            received_at=utcnow(),
        )
    )
    queued = await apply_room_event(session, event, at=occurred)
    await session.commit()
    if queued:
        wake_dispatcher(request)
    logger.info("LiveKit %s for room %s", kind, event.room.name)
    return WebhookReceived(event=kind, recorded=True)
