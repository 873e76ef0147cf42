"""Rooms of the caller's organisation: create with agents dispatched, tokens, participants, end.

Rooms live in LiveKit; the API keeps which organisation made each one (name, agents, time),
so another organisation's room answers 404 like one that does not exist. LiveKit is reached
through the one server API client made in the app's lifespan; its failures answer 502
(:class:`~auralink.core.ProviderError`) with a message saying what LiveKit was asked to do.
"""

from __future__ import annotations

__all__ = ["router"]

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, status
from livekit import api
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.agent_store import AgentStoreDep, ResolvedAgent
from auralink.api.auth import Principal
from auralink.api.db import Room, utcnow
from auralink.api.deps import LiveKitDep, SessionDep, SettingsDep, reads, require
from auralink.api.errors import Conflict, InvalidField, NotFound
from auralink.api.livekit_client import livekit_credentials
from auralink.api.permissions import Action
from auralink.api.schemas import (
    ErrorBody,
    ParticipantPublic,
    RoomCreate,
    RoomPublic,
    TokenCreate,
    TokenPublic,
)
from auralink.api.tokens import RoomMetadata, new_room_name
from auralink.api.usage import QUOTA_RESPONSES, check_call_quotas
from auralink.core import ProviderError
from auralink.telephony.livekit_errors import livekit_call, not_found

from .common import AUTH, CLASH, MISSING, TOO_LARGE, Responses

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/rooms", tags=["rooms"], responses=AUTH)

UPSTREAM: Responses = {502: {"model": ErrorBody, "description": "LiveKit failed or is not reachable"}}


async def _forget(livekit: api.LiveKitAPI, name: str) -> None:
    """Best effort: remove a half-made room (made, but a dispatch failed) from LiveKit."""
    try:
        async with livekit_call(f"remove the half-made room {name!r}"):
            await livekit.room.delete_room(api.DeleteRoomRequest(room=name))
    except ProviderError as e:
        logger.warning("%s", e)


def _public(room: Room) -> RoomPublic:
    return RoomPublic.model_validate(room, from_attributes=True)


async def _own(session: AsyncSession, principal: Principal, name: str) -> Room:
    room = await session.scalar(select(Room).where(Room.name == name))
    if room is None or room.org_id != principal.org_id:
        raise NotFound("room", name)
    return room


@router.get("")
async def list_rooms(
    session: SessionDep, principal: Annotated[Principal, Depends(require(Action.ROOMS_READ))]
) -> list[RoomPublic]:
    """Rooms the organisation made and has not ended, newest first."""
    rows = await session.scalars(
        select(Room).where(Room.org_id == principal.org_id).order_by(Room.created_at.desc(), Room.id)
    )
    return [_public(r) for r in rows]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={**CLASH, **TOO_LARGE, **UPSTREAM, **QUOTA_RESPONSES},
)
async def create(
    *,
    body: RoomCreate,
    session: SessionDep,
    store: AgentStoreDep,
    livekit: LiveKitDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.ROOMS_CREATE))],
) -> RoomPublic:
    """Create a LiveKit room and dispatch each agent to it (the organisation's database agent,
    whose spec and version travel in the dispatch metadata, else the agents.yaml one)."""
    await check_call_quotas(session, settings=settings, org_id=principal.org_id)  # 402 when used up
    agents: list[ResolvedAgent] = []
    for i, name in enumerate(body.agents):
        agent = await store.resolve(principal.org_id, name)
        if agent is None:
            known = ", ".join(await store.known_names(principal.org_id)) or "none"
            raise InvalidField(
                f"agents.{i}", f"your organisation has no agent named {name!r} (known: {known})"
            )
        agents.append(agent)
    if len(set(body.agents)) != len(body.agents):
        raise InvalidField("agents", "each agent can be dispatched once")
    room = Room(
        org_id=principal.org_id,
        name=body.name or new_room_name("room"),
        agents=list(body.agents),
        empty_timeout=body.empty_timeout,
        created_by=principal.member_id,
        created_at=utcnow(),
    )
    session.add(room)
    try:  # claim the name first: LiveKit room names are shared by everyone on the server
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a room named {room.name!r} already exists; pick another name") from None
    try:
        async with livekit_call(f"create the room {room.name!r}"):
            await livekit.room.create_room(
                api.CreateRoomRequest(
                    name=room.name,
                    empty_timeout=body.empty_timeout or 0,
                    metadata=RoomMetadata(
                        org=room.org_id,
                        source="api",
                        agent=agents[0].name if agents else None,
                        agent_version=agents[0].version if agents else None,
                    ).dumps(),
                )
            )
            for agent in agents:
                await livekit.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(
                        room=room.name,
                        agent_name=settings.worker_agent_name,
                        metadata=agent.dispatch(room.org_id).dumps(),
                    )
                )
    except ProviderError:
        await session.delete(room)
        await session.commit()
        await _forget(livekit, room.name)
        raise
    logger.info("room %s created in %s with %d agent(s)", room.name, room.org_id, len(room.agents))
    return _public(room)


@router.get("/{room}", responses=MISSING)
async def read(
    room: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.ROOMS_READ))],
) -> RoomPublic:
    return _public(await _own(session, principal, room))


@router.post(
    "/{room}/tokens",
    status_code=status.HTTP_201_CREATED,
    responses={**MISSING, **TOO_LARGE, **QUOTA_RESPONSES},
    dependencies=[Depends(reads)],  # minting reads the room and the quotas; it stores nothing
)
async def mint_token(
    room: str,
    body: TokenCreate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.TOKENS_CREATE))],
) -> TokenPublic:
    """A token that joins ``room`` as ``identity``; ``can_publish: false`` makes a listener."""
    owned = await _own(session, principal, room)
    await check_call_quotas(session, settings=settings, org_id=principal.org_id)  # 402 when used up
    creds = livekit_credentials(settings)
    grants = api.VideoGrants(
        room_join=True,
        room=owned.name,
        can_subscribe=True,
        can_publish=body.can_publish,
        can_publish_data=body.can_publish,
    )
    ttl = timedelta(seconds=body.ttl)
    token = (
        api.AccessToken(creds.api_key, creds.api_secret)
        .with_identity(body.identity)
        .with_name(body.name or body.identity)
        .with_grants(grants)
        .with_ttl(ttl)
        .to_jwt()
    )
    return TokenPublic(
        url=settings.livekit_url,
        token=token,
        room=owned.name,
        identity=body.identity,
        expires_at=utcnow() + ttl,
    )


def _participant(p: api.ParticipantInfo) -> ParticipantPublic:
    return ParticipantPublic(
        sid=p.sid,
        identity=p.identity,
        name=p.name,
        kind=api.ParticipantInfo.Kind.Name(p.kind),
        state=api.ParticipantInfo.State.Name(p.state),
        joined_at=datetime.fromtimestamp(p.joined_at, UTC) if p.joined_at else None,
        publishing=p.is_publisher,
    )


@router.get("/{room}/participants", responses={**MISSING, **UPSTREAM})
async def list_participants(
    room: str,
    session: SessionDep,
    livekit: LiveKitDep,
    principal: Annotated[Principal, Depends(require(Action.ROOMS_READ))],
) -> list[ParticipantPublic]:
    """Who is in the room now (agents included); empty once LiveKit has closed the room."""
    owned = await _own(session, principal, room)
    try:
        async with livekit_call(f"list the participants of {owned.name!r}"):
            listed = await livekit.room.list_participants(api.ListParticipantsRequest(room=owned.name))
    except ProviderError as e:
        if not_found(e):
            return []
        raise
    return [_participant(p) for p in listed.participants]


@router.delete("/{room}", status_code=status.HTTP_204_NO_CONTENT, responses={**MISSING, **UPSTREAM})
async def end(
    room: str,
    session: SessionDep,
    livekit: LiveKitDep,
    principal: Annotated[Principal, Depends(require(Action.ROOMS_DELETE))],
) -> None:
    """End the room: everyone in it is disconnected and the name is free again."""
    owned = await _own(session, principal, room)
    try:
        async with livekit_call(f"end the room {owned.name!r}"):
            await livekit.room.delete_room(api.DeleteRoomRequest(room=owned.name))
    except ProviderError as e:
        if not not_found(e):
            raise
    await session.delete(owned)
    await session.commit()
    logger.info("room %s ended by %s", owned.name, principal.org_id)
