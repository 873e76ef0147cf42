"""Phone calls through Twilio Media Streams: the voice webhook, status callbacks, the media socket.

- ``POST /v1/telephony/twilio/voice?agent=<name>&org=<org id>``: the number's "A call comes in"
  webhook. The ``X-Twilio-Signature`` is checked (401 without one, 403 when wrong or replayed);
  the organisation's agent must exist (404) and its call quotas allow a call (402). The answer is
  TwiML connecting the call to the media socket, with the agent, organisation, caller, call sid
  and a short-lived stream token as ``<Parameter>``\\ s.
- ``POST /v1/telephony/twilio/status``: the Stream's (or the number's) status callbacks, signed
  the same way; each is logged and, when the call has a record, kept with its room events as
  ``twilio.<status>``.
- ``WebSocket /v1/telephony/twilio/media``: Twilio's socket. The stream token is checked at
  ``start`` against Twilio's call sid; then a token for room ``twilio-<CallSid>`` is minted with
  the agent dispatched (room metadata ``source: twilio``, the dispatch metadata of the
  organisation's agent, as for share links) and the caller's attributes, and
  :class:`~auralink.telephony.bridge.MediaStreamBridge` runs until the call ends.

Signatures are checked against ``AURALINK_PUBLIC_URL`` + path when set, else the request URL;
the auth token comes from the variable ``AURALINK_TWILIO_AUTH_TOKEN_ENV`` names (503 if unset).
"""

from __future__ import annotations

__all__ = ["MEDIA_PATH", "STATUS_PATH", "VOICE_PATH", "router"]

import asyncio
import hashlib
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.websockets import WebSocketState

from auralink.api.agent_store import AgentStore, AgentStoreDep, ResolvedAgent
from auralink.api.catalogue import CatalogueCache
from auralink.api.db import Call, Database, Organisation, RoomEvent, is_id, new_id, utcnow
from auralink.api.deps import SessionDep, SettingsDep
from auralink.api.errors import ApiError, NotAuthenticated, NotFound, PermissionDenied
from auralink.api.livekit_client import livekit_credentials
from auralink.api.schemas import ErrorBody
from auralink.api.schemas.telephony import TwilioStatusRecorded
from auralink.api.tokens import RoomMetadata, room_join_token
from auralink.api.usage import QUOTA_RESPONSES, check_call_quotas
from auralink.core import AuraLinkError, ConfigError, MissingCredential, Settings
from auralink.telephony.bridge import MediaStreamBridge, caller_attributes, read_start
from auralink.telephony.mediastreams import MediaStreamError, StreamParser
from auralink.telephony.signature import (
    InvalidSignature,
    TwilioAuthError,
    WebhookVerifier,
    sign_stream_token,
    signed_url,
    twilio_auth_token,
    verify_stream_token,
)
from auralink.telephony.twiml import connect_stream, stream_url

from .common import Responses

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/telephony/twilio", tags=["telephony"])

VOICE_PATH = "/v1/telephony/twilio/voice"
STATUS_PATH = "/v1/telephony/twilio/status"
MEDIA_PATH = "/v1/telephony/twilio/media"
ROOM_PREFIX = "twilio-"

_SIGNED: Responses = {
    401: {"model": ErrorBody, "description": "no X-Twilio-Signature: only Twilio may call this"},
    403: {"model": ErrorBody, "description": "the signature is wrong, or the same webhook came again"},
    503: {"model": ErrorBody, "description": "no Twilio auth token is configured on this server"},
}
_TWIML: dict[str, Any] = {"content": {"application/xml": {}}, "description": "TwiML connecting the call"}


class NoTwilioSignature(NotAuthenticated):
    pass


class TwilioRequestRefused(PermissionDenied):
    pass


class UnknownCallTarget(NotFound):
    """The webhook URL names an organisation or agent that does not exist (answered 404)."""

    def __init__(self, message: str) -> None:
        ApiError.__init__(self, message)


def room_for(call_sid: str) -> str:
    """The room a Twilio call is bridged into."""
    return f"{ROOM_PREFIX}{call_sid}"


def _verifier(request: Request | WebSocket, settings: Settings, auth_token: str) -> WebhookVerifier:
    """This process's verifier (its replay memory lives as long as the app)."""
    state = request.app.state
    key = hashlib.sha256(auth_token.encode()).hexdigest()
    cached = getattr(state, "twilio_verifier", None)
    if cached is None or cached[0] != key:
        cached = (
            key,
            WebhookVerifier(auth_token=auth_token, replay_window_s=settings.twilio_replay_window_s),
        )
        state.twilio_verifier = cached
    verifier: WebhookVerifier = cached[1]
    return verifier


def _unconfigured(e: MissingCredential) -> JSONResponse:
    logger.warning("Twilio webhook refused: %s is not set", e.env_var)
    return JSONResponse({"error": {"type": "TwilioNotConfigured", "message": str(e)}}, status_code=503)


async def _signed_form(request: Request, settings: Settings) -> dict[str, str]:
    """The webhook's form parameters once its signature checks out (else 401/403)."""
    auth_token = twilio_auth_token(settings)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    query = request.url.query
    url = signed_url(
        settings,
        path_and_query=request.url.path + (f"?{query}" if query else ""),
        request_url=str(request.url),
    )
    try:
        _verifier(request, settings, auth_token).verify(
            url=url, params=form, signature=request.headers.get("x-twilio-signature")
        )
    except InvalidSignature as e:
        logger.warning("Twilio webhook %s refused: %s", request.url.path, type(e).__name__)
        if not request.headers.get("x-twilio-signature"):
            raise NoTwilioSignature(str(e)) from None
        raise TwilioRequestRefused(str(e)) from None
    except TwilioAuthError as e:
        logger.warning("Twilio webhook %s refused: %s", request.url.path, type(e).__name__)
        raise TwilioRequestRefused(str(e)) from None
    return form


def _base_url(settings: Settings, request: Request) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


@router.post(
    "/voice",
    response_class=Response,
    responses={
        200: _TWIML,
        **_SIGNED,
        **QUOTA_RESPONSES,
        404: {"model": ErrorBody, "description": "no such organisation or agent"},
    },
)
async def voice(
    *,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: AgentStoreDep,
    agent: str = Query(
        description="the agent that answers (a database or agents.yaml agent of the organisation)"
    ),
    org: str = Query(description="the organisation id (org_…) the number belongs to"),
) -> Response:
    """Twilio's voice webhook for a number: answers TwiML that bridges the call to ``agent``."""
    try:
        form = await _signed_form(request, settings)
        auth_token = twilio_auth_token(settings)
    except MissingCredential as e:
        return _unconfigured(e)
    call_sid = form.get("CallSid", "")
    if not call_sid:
        raise TwilioRequestRefused("the webhook has no CallSid; point a number's voice webhook here")
    if not is_id(org, "org") or await session.get(Organisation, org) is None:
        raise UnknownCallTarget(
            f"no organisation {org!r} on this server; check org= in the number's voice URL"
        )
    try:
        resolved = await store.resolve(org, agent)
    except ConfigError as e:
        logger.warning("Twilio call for agent %s in %s: %s", agent, org, type(e).__name__)
        resolved = None
    if resolved is None:
        known = ", ".join(await store.known_names(org)) or "none"
        raise UnknownCallTarget(f"the organisation has no agent named {agent!r} (known: {known})")
    await check_call_quotas(session, settings=settings, org_id=org)  # 402 when used up
    caller = form.get("From", "")
    token = sign_stream_token(auth_token=auth_token, org=org, agent=agent, call_sid=call_sid, caller=caller)
    base = _base_url(settings, request)
    twiml = connect_stream(
        url=stream_url(base, MEDIA_PATH),
        status_callback=base + STATUS_PATH,
        parameters={"agent": agent, "org": org, "caller": caller, "callSid": call_sid, "token": token},
    )
    logger.info("Twilio call %s for agent %s in %s: connecting a media stream", call_sid, agent, org)
    return Response(twiml, media_type="application/xml")


@router.post("/status", response_model=TwilioStatusRecorded, responses=_SIGNED)
async def status_callback(
    request: Request, session: SessionDep, settings: SettingsDep
) -> TwilioStatusRecorded | JSONResponse:
    """Twilio's status callbacks (the Stream's ``StreamEvent``, or the call's ``CallStatus``)."""
    try:
        form = await _signed_form(request, settings)
    except MissingCredential as e:
        return _unconfigured(e)
    call_sid = form.get("CallSid", "")
    status = form.get("StreamEvent") or form.get("CallStatus") or "unknown"
    event = f"twilio.{status}"[:32]
    room = room_for(call_sid)
    logger.info("Twilio status %s for call %s", status[:24], call_sid[:40])
    call = await session.scalar(select(Call).where(Call.room_name == room).order_by(Call.started_at.desc()))
    if call is None:
        return TwilioStatusRecorded(event=event, recorded=False, room=room)
    event_id = (
        "tw-" + hashlib.sha256(f"{call_sid}\0{status}\0{form.get('Timestamp', '')}".encode()).hexdigest()[:48]
    )
    if await session.scalar(select(RoomEvent.id).where(RoomEvent.event_id == event_id)) is not None:
        return TwilioStatusRecorded(event=event, recorded=False, room=room)
    session.add(
        RoomEvent(
            id=new_id("rev"),
            event_id=event_id,
            event=event,
            room_name=room,
            room_sid=call.room_sid,
            participant_identity=room,  # the caller's identity is the room's name
            occurred_at=utcnow(),
            received_at=utcnow(),
        )
    )
    await session.commit()
    return TwilioStatusRecorded(event=event, recorded=True, room=room)


class _Socket:
    """Starlette's WebSocket as the bridge's :class:`~auralink.telephony.bridge.MediaSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def receive_text(self) -> str | None:
        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            return bytes(message["bytes"]).decode("utf-8", "replace")
        return str(text or "")

    async def send_text(self, data: str) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            await self._ws.send_text(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            await self._ws.close(code=code, reason=reason)


def _caller_token(
    *, settings: Settings, agent: ResolvedAgent, org: str, room: str, attributes: dict[str, str]
) -> str:
    """A LiveKit token for the caller: joins ``room`` with the agent dispatched, attributes set
    (in the token, so the agent sees them when it first sees the caller)."""
    creds = livekit_credentials(settings)
    return room_join_token(
        api_key=creds.api_key,
        api_secret=creds.api_secret,
        room=room,
        identity=room,
        name="Phone caller",
        worker_agent_name=settings.worker_agent_name,
        dispatch=agent.dispatch(org),
        room_metadata=RoomMetadata(org=org, source="twilio", agent=agent.name, agent_version=agent.version),
        attributes=attributes,
    )


async def _resolve(websocket: WebSocket, org: str, name: str) -> ResolvedAgent | None:
    database = websocket.app.state.database
    catalogue = websocket.app.state.catalogue
    assert isinstance(database, Database) and isinstance(catalogue, CatalogueCache)
    async with database.read_session() as session:
        try:
            return await AgentStore(session=session, catalogue=catalogue).resolve(org, name)
        except ConfigError:
            return None


@router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    """Twilio's Media Streams socket: checks the stream token at ``start``, then bridges the call."""
    settings = websocket.app.state.settings
    assert isinstance(settings, Settings)
    await websocket.accept()
    socket = _Socket(websocket)
    parser = StreamParser()
    try:
        auth_token = twilio_auth_token(settings)
        start = await read_start(socket, parser)
        if start is None:
            return
        params = start.start.custom_parameters
        claims = verify_stream_token(
            params.get("token"), auth_token=auth_token, call_sid=start.start.call_sid
        )
        agent = await _resolve(websocket, claims.org, claims.agent)
        if agent is None:
            raise MediaStreamError(f"the agent {claims.agent!r} is no longer available")
        room = room_for(claims.call_sid)
        token = _caller_token(
            settings=settings,
            agent=agent,
            org=claims.org,
            room=room,
            attributes=caller_attributes(call_sid=claims.call_sid, caller=claims.caller),
        )
    except (AuraLinkError, TimeoutError) as e:
        logger.warning("Twilio media stream refused: %s: %s", type(e).__name__, e)
        await socket.close(code=1008, reason=type(e).__name__)
        return
    bridge = MediaStreamBridge(
        socket=socket, parser=parser, start=start, livekit_url=settings.livekit_url, token=token
    )
    try:
        await bridge.run()
    except (asyncio.CancelledError, Exception) as e:
        if not isinstance(e, asyncio.CancelledError):
            logger.warning("Twilio media stream for room %s failed: %s", room, type(e).__name__)
        await bridge.aclose()
        if isinstance(e, asyncio.CancelledError):
            raise
