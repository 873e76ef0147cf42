"""The visitor's side of share links: ``/j/<code>`` (no account needed).

- ``GET /j/<code>`` counts an open and sends the browser to the page with the link
  preselected (``/?link=<code>``), or answers a plain page saying the link is unknown (404)
  or expired, used up or revoked (410).
- ``GET /j/<code>/info`` tells the page what to show (title, whether a passcode is needed).
- ``POST /j/<code>/session`` checks the link again and the passcode, counts a join in one
  conditional ``UPDATE`` (so concurrent joins never pass ``max_uses``), and returns a LiveKit
  token for a room with the link's agent dispatched, like ``/v1/dev/sessions``; the
  ``link.used`` webhook event is written to the outbox in the same transaction as the count.
  The agent is the organisation's (:mod:`auralink.api.agent_store`): a database agent's whole
  spec and version travel in the dispatch metadata, and the version in the room's metadata.

A *call* link (a one-to-one agent) makes a new room per visit (``link-…``). A *meeting* link (its
agent has ``meeting.transcribe``) puts every visitor in the link's one room (``meet-<link id>``):
each token carries the same room configuration, and LiveKit dispatches the agent once, when the
room is made; visitors may update their own attributes (``auralink.language`` for captions).
A meeting room outlives its meeting for a while (LiveKit's departure timeout; the agent leaves
when the last person does), and LiveKit would not dispatch into it again: a visitor arriving then
gets the room deleted when it is empty (their join makes it anew, with the agent) or, while only
the leaving agent is in it, the agent dispatched again (:func:`_revive_meeting`).

Visitors are counted as a sha256 of the link's own salt, the client address and the user
agent; neither the address nor the user agent is stored.
"""

from __future__ import annotations

__all__ = ["router"]

import asyncio
import hashlib
import html
import logging
import re
from typing import Any, Literal

import aiohttp
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from livekit import api
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.agent_store import AgentStore, AgentStoreDep
from auralink.api.auth import verify_password
from auralink.api.catalogue import CatalogueCache
from auralink.api.db import Database, LinkVisitor, ShareLink, utcnow
from auralink.api.deps import LiveKitDep, SessionDep, SettingsDep, writes
from auralink.api.errors import PermissionDenied
from auralink.api.linkcache import CachedLink, LinkCache
from auralink.api.livekit_client import livekit_credentials
from auralink.api.schemas import ErrorBody, LinkInfo, LinkJoin, LinkState
from auralink.api.schemas.links import LinkSession
from auralink.api.tokens import DispatchMetadata, RoomMetadata, new_identity, new_room_name, room_join_token
from auralink.api.usage import QUOTA_RESPONSES, check_call_quotas
from auralink.api.webhooks import LinkUsed, LinkUsedData, enqueue
from auralink.core import ConfigError

from .common import TOO_LARGE
from .links import forget_link, link_state, link_title
from .webhooks import wake_dispatcher

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/j", tags=["share links (public)"])

_CODE = re.compile(r"[A-Za-z0-9_-]{16,64}")

_GONE: dict[LinkState, tuple[str, str, str]] = {
    LinkState.EXPIRED: ("LinkExpired", "This link has expired", "it was set to stop working"),
    LinkState.USED_UP: ("LinkUsedUp", "This link has been used up", "it has started all the calls it may"),
    LinkState.REVOKED: ("LinkRevoked", "This link was turned off", "its owner revoked it"),
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; line-height: 1.5">
<h1>{title}</h1>
<p>{message}</p>
<p>Ask whoever sent it to you for a new link.</p>
</body></html>
"""

_HTML: dict[str, Any] = {"content": {"text/html": {}}}
_GONE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no link has this code"},
    410: {"model": ErrorBody, "description": "the link expired, was used up or was revoked"},
}


class PasscodeRequired(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("this link needs a passcode")


class WrongPasscode(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("the passcode is not right")


def _error(status_code: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status_code)


def _unknown_json() -> JSONResponse:
    return _error(404, "NotFound", "no link has this code; check the address")


def _gone_json(state: LinkState) -> JSONResponse:
    kind, title, reason = _GONE[state]
    return _error(410, kind, f"{title}: {reason}.")


def _page(status_code: int, title: str, message: str) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return HTMLResponse(body, status_code=status_code)


async def _find(session: AsyncSession, code: str) -> ShareLink | None:
    if not _CODE.fullmatch(code):
        return None
    return await session.scalar(select(ShareLink).where(ShareLink.code == code))


def _meeting_room(link: ShareLink) -> str:
    """The one room of a meeting link: every visitor's token names it with the same room
    configuration, so LiveKit makes it (and dispatches the agent) for the first one only."""
    return f"meet-{link.id}"


_REVIVE_TIMEOUT_S = 5.0
_LIVEKIT_ERRORS = (api.TwirpError, api.ServerError, aiohttp.ClientError, TimeoutError, OSError)


async def _revive_meeting(
    lk: api.LiveKitAPI, *, room: str, agent_name: str, dispatch: DispatchMetadata
) -> None:
    """Make sure a visitor of a meeting room that outlived its meeting meets the agent.

    No room (LiveKit says it does not know it): the join makes it and dispatches. Nobody in it:
    it is deleted, so the join makes it anew. Only agents in it (the last one leaving, its notes
    being written): the agent is dispatched again. People in it: nothing to do. LiveKit being
    unreachable is logged and the join goes on."""
    try:
        async with asyncio.timeout(_REVIVE_TIMEOUT_S):
            if not (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms:
                return  # no such room (yet): the join makes it with the agent
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
            kinds = [p.kind for p in listed.participants]
            if not kinds:
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
                logger.info("meeting room %s was empty: deleted, the join makes it anew", room)
            elif all(k == api.ParticipantInfo.Kind.AGENT for k in kinds):
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(
                        agent_name=agent_name, room=room, metadata=dispatch.dumps()
                    )
                )
                logger.info("meeting room %s had only its leaving agent: dispatched again", room)
    except _LIVEKIT_ERRORS as e:
        logger.warning("meeting room %s: cannot check it on LiveKit: %s", room, type(e).__name__)


def _visitor_hash(link: ShareLink, request: Request) -> str:
    address = request.client.host if request.client else ""
    agent = request.headers.get("user-agent", "")
    return hashlib.sha256(f"{link.visitor_salt}\0{address}\0{agent}".encode()).hexdigest()


async def _count_visitor(session: AsyncSession, link: ShareLink, request: Request) -> None:
    """Remember this visitor once per link (insert, or nothing if already there)."""
    values = {"link_id": link.id, "visitor_hash": _visitor_hash(link, request), "first_seen_at": utcnow()}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(LinkVisitor).values(**values).on_conflict_do_nothing())


@router.get(
    "/{code}",
    status_code=status.HTTP_303_SEE_OTHER,
    dependencies=[Depends(writes)],  # a GET that writes: its session holds the write lock
    response_class=RedirectResponse,
    responses={
        303: {"description": "the link works: on to the join page, `/?link=<code>`"},
        404: {"description": "a page saying no link has this code", **_HTML},
        410: {"description": "a page saying the link expired, was used up or was revoked", **_HTML},
    },
)
async def open_link(code: str, request: Request, session: SessionDep) -> Response:
    """The link a visitor opens: on to the join page, or a page saying why the link does not work."""
    link = await _find(session, code)
    if link is None:
        return _page(404, "No such link", "This address does not lead to a call. Check it for typos.")
    state = link_state(link, utcnow())
    if state is not LinkState.ACTIVE:
        _, title, reason = _GONE[state]
        return _page(410, title, f"This link no longer starts a call: {reason}.")
    now = utcnow()
    await session.execute(
        update(ShareLink)
        .where(ShareLink.id == link.id)
        .values(opens=ShareLink.opens + 1, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    await _count_visitor(session, link, request)
    await session.commit()
    return RedirectResponse(f"/?link={link.code}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/{code}/info", response_model=LinkInfo, responses=_GONE_RESPONSES)
async def link_info(code: str, request: Request) -> LinkInfo | Response:
    """What the join page shows: the title, the agent, whether a passcode is asked for.

    Answers are cached for a moment per process (``AURALINK_LINK_CACHE_TTL_S``)."""
    cache: LinkCache = request.app.state.link_cache
    database: Database = request.app.state.database

    catalogue: CatalogueCache = request.app.state.catalogue

    async def load() -> CachedLink:  # its own session: a background refresh outlives the request
        async with database.read_session() as own:
            return await _resolve_info(own, code, cache, AgentStore(session=own, catalogue=catalogue))

    cached = await cache.resolve(code, load)
    if cached.info is not None:
        return cached.info
    return _unknown_json() if cached.state is None else _gone_json(cached.state)


async def _is_meeting(store: AgentStore, link: ShareLink) -> bool:
    """Whether the link's agent holds meetings (``meeting.transcribe``): one shared room."""
    try:
        agent = await store.resolve(link.org_id, link.agent)
    except ConfigError:  # the join answers 503 for it; the page shows a call meanwhile
        return False
    return agent is not None and agent.spec.meeting.transcribe


async def _resolve_info(session: AsyncSession, code: str, cache: LinkCache, store: AgentStore) -> CachedLink:
    now = utcnow()
    link = await _find(session, code)
    if link is None:
        cached = CachedLink(info=None, state=None)
        cache.put(code, cached, expires_at=None, now=now)
        return cached
    state = link_state(link, now)
    info = None
    if state is LinkState.ACTIVE:
        info = LinkInfo(
            code=link.code,
            title=link_title(link),
            agent=link.agent,
            passcode_required=link.passcode_hash is not None,
            meeting=await _is_meeting(store, link),
        )
    cached = CachedLink(info=info, state=state)
    cache.put(code, cached, expires_at=link.expires_at, now=now)
    return cached


@router.post(
    "/{code}/session",
    response_model=LinkSession,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_GONE_RESPONSES,
        **TOO_LARGE,
        **QUOTA_RESPONSES,
        403: {"model": ErrorBody, "description": "PasscodeRequired or WrongPasscode"},
        503: {"model": ErrorBody, "description": "the link's agent is not available now"},
    },
)
async def join(
    code: str,
    *,
    body: LinkJoin,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: AgentStoreDep,
    lk: LiveKitDep,
) -> LinkSession | Response:
    """Join through the link: one use is counted and a token is returned, for a new room (a call)
    or for the link's shared room (a meeting: the agent has ``meeting.transcribe``)."""
    link = await _find(session, code)
    if link is None:
        return _unknown_json()
    now = utcnow()
    state = link_state(link, now)
    if state is not LinkState.ACTIVE:
        return _gone_json(state)
    if link.passcode_hash is not None:
        if not body.passcode:
            raise PasscodeRequired()
        if not await verify_password(link.passcode_hash, body.passcode):
            raise WrongPasscode()
    try:
        agent = await store.resolve(link.org_id, link.agent)
    except ConfigError as e:  # a broken agents.yaml or stored spec: the visitor cannot fix it
        logger.warning("link %s: agent %s cannot be resolved: %s", link.id, link.agent, type(e).__name__)
        agent = None
    if agent is None:
        return _error(503, "AgentUnavailable", "the agent of this link is not available right now")
    creds = livekit_credentials(settings)
    await check_call_quotas(session, settings=settings, org_id=link.org_id)  # 402 when used up

    # the use is counted only if the link is still good at this very moment: one UPDATE whose
    # WHERE repeats the checks, so concurrent joins serialise on the row and never pass max_uses
    counted = await session.execute(
        update(ShareLink)
        .where(
            ShareLink.id == link.id,
            ShareLink.revoked_at.is_(None),
            or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
            or_(ShareLink.max_uses.is_(None), ShareLink.uses < ShareLink.max_uses),
        )
        .values(uses=ShareLink.uses + 1, last_used_at=now)
        .returning(ShareLink.uses)
        .execution_options(synchronize_session=False)
    )
    uses = counted.scalar_one_or_none()
    if uses is None:
        await session.rollback()
        await session.refresh(link)
        state = link_state(link, utcnow())
        return _gone_json(state if state is not LinkState.ACTIVE else LinkState.USED_UP)
    await _count_visitor(session, link, request)
    meeting = agent.spec.meeting.transcribe
    room = _meeting_room(link) if meeting else new_room_name("link")
    # link.used goes to the outbox in this transaction: sent if and only if the join counted
    data = LinkUsedData(link_id=link.id, room=room, agent=link.agent, uses=uses)
    queued = await enqueue(session, LinkUsed(org_id=link.org_id, data=data))
    await session.commit()
    if link.max_uses is not None:
        forget_link(request, link.code)  # this join may have used it up
    if queued:
        wake_dispatcher(request)

    dispatch = agent.dispatch(link.org_id)
    if meeting:
        await _revive_meeting(lk, room=room, agent_name=settings.worker_agent_name, dispatch=dispatch)
    identity = new_identity("guest")
    token = room_join_token(
        api_key=creds.api_key,
        api_secret=creds.api_secret,
        room=room,
        identity=identity,
        name=body.name or "Guest",
        worker_agent_name=settings.worker_agent_name,
        dispatch=dispatch,
        room_metadata=RoomMetadata(
            org=link.org_id, source="link", agent=link.agent, agent_version=agent.version, link=link.id
        ),
        can_update_own_metadata=meeting,  # a meeting visitor picks a caption language
    )
    mode: Literal["meeting", "call"] = "meeting" if meeting else "call"
    logger.info(
        "link %s: %s in room %s with agent %s (%s)", link.id, mode, room, link.agent, agent.source.value
    )
    return LinkSession(
        url=settings.livekit_url, token=token, room=room, identity=identity, agent=link.agent, mode=mode
    )
