"""Phone numbers of the caller's organisation (SIP trunk through livekit-sip), and outbound calls.

``/v1/phone-numbers`` attaches an E.164 number to one of the organisation's agents: LiveKit gets
an inbound SIP trunk for the number and a dispatch rule that puts each call in a ``call-…`` room
with the agent (:mod:`auralink.telephony.sip`); with ``outbound`` settings (the carrier's
termination address and credentials) it also gets an outbound trunk. ``POST /v1/calls`` places a
call from such a number: the room is made with the agent dispatched, then the callee is dialled;
busy, no answer or a refusal answer ``201`` with that ``status`` and send a ``call.failed``
webhook. Passwords are never stored: bodies name the API server's environment variable holding
each one. A number of another organisation answers 404 like one that does not exist.
"""

from __future__ import annotations

__all__ = ["get_sip_provisioner", "router"]

import logging
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.agent_store import AgentStore, AgentStoreDep, ResolvedAgent
from auralink.api.auth import Principal
from auralink.api.db import is_id, new_id, utcnow
from auralink.api.db.models import PhoneNumber
from auralink.api.deps import LiveKitDep, SessionDep, SettingsDep, require
from auralink.api.errors import Conflict, InvalidField, NotFound
from auralink.api.permissions import Action
from auralink.api.schemas import ErrorBody
from auralink.api.schemas.phone_numbers import (
    DialOutcome,
    InboundSettings,
    OutboundCallCreate,
    OutboundCallPublic,
    OutboundSettings,
    PhoneNumberCreate,
    PhoneNumberPublic,
    PhoneNumberUpdate,
)
from auralink.api.tokens import RoomMetadata, new_identity, new_room_name
from auralink.api.usage import QUOTA_RESPONSES, check_call_quotas
from auralink.api.webhooks.events import CallFailed, CallFailedData
from auralink.api.webhooks.outbox import enqueue
from auralink.core import ProviderError
from auralink.telephony.sip import InboundNumber, NumberRoute, OutboundTrunk, SipAuth, SipProvisioner

from .common import AUTH, CLASH, MISSING, TOO_LARGE, Responses
from .webhooks import wake_dispatcher

logger = logging.getLogger("auralink.api")

# one router for both paths (routes.ALL includes each module's ``router``)
router = APIRouter(responses=AUTH)
_NUMBERS = "/v1/phone-numbers"
_TAGS: list[str | Enum] = ["phone numbers"]

UPSTREAM: Responses = {502: {"model": ErrorBody, "description": "LiveKit failed or is not reachable"}}
BAD: Responses = {
    422: {"model": ErrorBody, "description": "a field is wrong, or a password variable is not set"}
}

Reader = Annotated[Principal, Depends(require(Action.PHONE_NUMBERS_READ))]
Writer = Annotated[Principal, Depends(require(Action.PHONE_NUMBERS_WRITE))]


def get_sip_provisioner(livekit: LiveKitDep) -> SipProvisioner:
    """LiveKit's SIP (and room) API through the app's one server API client."""
    return SipProvisioner(sip=livekit.sip, rooms=livekit.room)


ProvisionerDep = Annotated[SipProvisioner, Depends(get_sip_provisioner)]


# -- conversions ----------------------------------------------------------------------------------


def _inbound(row: PhoneNumber) -> InboundSettings:
    return InboundSettings(
        allowed_addresses=list(row.allowed_addresses or []),
        username=row.inbound_username,
        password_env=row.inbound_password_env,
    )


def _outbound(row: PhoneNumber) -> OutboundSettings | None:
    if row.outbound_address is None:
        return None
    return OutboundSettings(
        address=row.outbound_address,
        transport=row.outbound_transport or "auto",
        username=row.outbound_username,
        password_env=row.outbound_password_env,
    )


def _public(row: PhoneNumber) -> PhoneNumberPublic:
    return PhoneNumberPublic(
        id=row.id,
        number=row.number,
        agent=row.agent,
        inbound=_inbound(row),
        outbound=_outbound(row),
        inbound_trunk_id=row.inbound_trunk_id,
        dispatch_rule_id=row.dispatch_rule_id,
        outbound_trunk_id=row.outbound_trunk_id,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _auth(username: str | None, password_env: str | None) -> SipAuth | None:
    if username is None or password_env is None:
        return None
    return SipAuth(username=username, password_env=password_env)


def _set_inbound(row: PhoneNumber, inbound: InboundSettings) -> None:
    row.allowed_addresses = list(inbound.allowed_addresses)
    row.inbound_username = inbound.username
    row.inbound_password_env = inbound.password_env


def _set_outbound(row: PhoneNumber, outbound: OutboundSettings | None) -> None:
    row.outbound_address = outbound.address if outbound else None
    row.outbound_transport = outbound.transport if outbound else None
    row.outbound_username = outbound.username if outbound else None
    row.outbound_password_env = outbound.password_env if outbound else None


def _trunk(number: str, outbound: OutboundSettings) -> OutboundTrunk:
    return OutboundTrunk(
        address=outbound.address,
        numbers=(number,),
        transport=outbound.transport,
        auth=_auth(outbound.username, outbound.password_env),
    )


def _route(agent: ResolvedAgent, org_id: str, *, worker_agent_name: str) -> NumberRoute:
    return NumberRoute(
        worker_agent_name=worker_agent_name,
        dispatch_metadata=agent.dispatch(org_id).dumps(),
        room_metadata=RoomMetadata(
            org=org_id, source="sip", agent=agent.name, agent_version=agent.version
        ).dumps(),
    )


async def _agent(store: AgentStore, org_id: str, name: str, *, field: str) -> ResolvedAgent:
    agent = await store.resolve(org_id, name)
    if agent is None:
        known = ", ".join(await store.known_names(org_id)) or "none"
        raise InvalidField(field, f"your organisation has no agent named {name!r} (known: {known})")
    return agent


async def _own(session: AsyncSession, principal: Principal, number_id: str) -> PhoneNumber:
    row = await session.get(PhoneNumber, number_id) if is_id(number_id, "phn") else None
    if row is None or row.org_id != principal.org_id:
        raise NotFound("phone number", number_id)
    return row


def _inbound_of(row: PhoneNumber) -> InboundNumber | None:
    if row.inbound_trunk_id is None or row.dispatch_rule_id is None:
        return None
    return InboundNumber(trunk_id=row.inbound_trunk_id, dispatch_rule_id=row.dispatch_rule_id)


def _label(row: PhoneNumber) -> str:
    """The name LiveKit shows for the number's trunks and rule: ids only, no phone number."""
    return f"auralink {row.org_id} {row.id}"


async def _unprovision(sip: SipProvisioner, row: PhoneNumber) -> None:
    if row.inbound_trunk_id and row.dispatch_rule_id:
        await sip.detach_number(
            InboundNumber(trunk_id=row.inbound_trunk_id, dispatch_rule_id=row.dispatch_rule_id)
        )
    elif row.inbound_trunk_id:
        await sip.delete_trunk(row.inbound_trunk_id)
    if row.outbound_trunk_id:
        await sip.delete_trunk(row.outbound_trunk_id)


# -- phone numbers --------------------------------------------------------------------------------


@router.post(
    _NUMBERS,
    tags=_TAGS,
    status_code=status.HTTP_201_CREATED,
    responses={**CLASH, **TOO_LARGE, **UPSTREAM, **BAD},
)
async def create(
    *,
    body: PhoneNumberCreate,
    session: SessionDep,
    store: AgentStoreDep,
    sip: ProvisionerDep,
    settings: SettingsDep,
    principal: Writer,
) -> PhoneNumberPublic:
    """Attach a number to an agent: calls to it reach the agent; with ``outbound``, calls can be
    placed from it (``POST /v1/calls``)."""
    agent = await _agent(store, principal.org_id, body.agent, field="agent")
    now = utcnow()
    row = PhoneNumber(
        id=new_id("phn"),
        org_id=principal.org_id,
        number=body.number,
        agent=agent.name,
        created_by=principal.member_id,
        created_at=now,
        updated_at=now,
    )
    _set_inbound(row, body.inbound)
    _set_outbound(row, body.outbound)
    session.add(row)
    try:  # claim the number first: livekit-sip routes a call by the number dialled, server-wide
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("that number is already attached to an agent; detach it first") from None
    try:
        inbound = await sip.attach_number(
            number=row.number,
            name=_label(row),
            route=_route(agent, principal.org_id, worker_agent_name=settings.worker_agent_name),
            allowed_addresses=tuple(body.inbound.allowed_addresses),
            auth=_auth(body.inbound.username, body.inbound.password_env),
        )
        row.inbound_trunk_id, row.dispatch_rule_id = inbound.trunk_id, inbound.dispatch_rule_id
        if body.outbound is not None:
            row.outbound_trunk_id = await sip.create_outbound_trunk(
                name=_label(row), trunk=_trunk(row.number, body.outbound)
            )
    except Exception:  # LiveKit failed, or a password variable is unset
        await _forget(session, sip, row)
        raise
    await session.commit()
    logger.info("phone number %s attached in %s", row.id, row.org_id)
    return _public(row)


async def _forget(session: AsyncSession, sip: SipProvisioner, row: PhoneNumber) -> None:
    """Undo a half-made number: its LiveKit objects (best effort) and its row."""
    try:
        await _unprovision(sip, row)
    except ProviderError as e:
        logger.warning("could not remove a half-made number's SIP objects: %s", e)
    await session.delete(row)
    await session.commit()


@router.get(_NUMBERS, tags=_TAGS)
async def list_numbers(session: SessionDep, principal: Reader) -> list[PhoneNumberPublic]:
    """The organisation's phone numbers, newest first."""
    rows = await session.scalars(
        select(PhoneNumber)
        .where(PhoneNumber.org_id == principal.org_id)
        .order_by(PhoneNumber.created_at.desc(), PhoneNumber.id)
    )
    return [_public(r) for r in rows]


@router.get(_NUMBERS + "/{number_id}", tags=_TAGS, responses=MISSING)
async def read(number_id: str, session: SessionDep, principal: Reader) -> PhoneNumberPublic:
    """One phone number with its agent, carrier settings and LiveKit ids."""
    return _public(await _own(session, principal, number_id))


@router.patch(_NUMBERS + "/{number_id}", tags=_TAGS, responses={**MISSING, **TOO_LARGE, **UPSTREAM, **BAD})
async def update(
    *,
    number_id: str,
    body: PhoneNumberUpdate,
    session: SessionDep,
    store: AgentStoreDep,
    sip: ProvisionerDep,
    settings: SettingsDep,
    principal: Writer,
) -> PhoneNumberPublic:
    """Point the number at another agent, change who may call it, or change its outbound trunk
    (``outbound: null`` removes it). LiveKit's trunks and rule are changed in place; a failure
    half-way leaves what was stored, and the same ``PATCH`` again completes the change."""
    row = await _own(session, principal, number_id)
    agent = await _agent(store, principal.org_id, body.agent or row.agent, field="agent")
    # passwords are read before anything changes: an unset variable answers 422 and changes nothing
    if body.inbound is not None:
        auth = _auth(body.inbound.username, body.inbound.password_env)
        sip.inbound_trunk_request(number=row.number, name=_label(row), auth=auth)
    if body.outbound is not None:
        sip.outbound_trunk_request(name=_label(row), trunk=_trunk(row.number, body.outbound))
    inbound = _inbound_of(row)
    if inbound is not None and body.inbound is not None:  # in place: the trunk keeps its id
        await sip.update_inbound(
            inbound,
            number=row.number,
            name=_label(row),
            allowed_addresses=tuple(body.inbound.allowed_addresses),
            auth=_auth(body.inbound.username, body.inbound.password_env),
        )
    if body.inbound is not None:
        _set_inbound(row, body.inbound)
    if inbound is not None and body.agent is not None:  # also refreshes a database agent's spec
        route = _route(agent, principal.org_id, worker_agent_name=settings.worker_agent_name)
        await sip.update_route(inbound, name=_label(row), route=route)
    stale: str | None = None  # an outbound trunk to remove once the change is stored
    if "outbound" in body.model_fields_set:
        if body.outbound is None:
            stale, row.outbound_trunk_id = row.outbound_trunk_id, None
        elif row.outbound_trunk_id is not None:
            trunk = _trunk(row.number, body.outbound)
            await sip.update_outbound_trunk(row.outbound_trunk_id, name=_label(row), trunk=trunk)
        else:
            trunk = _trunk(row.number, body.outbound)
            row.outbound_trunk_id = await sip.create_outbound_trunk(name=_label(row), trunk=trunk)
        _set_outbound(row, body.outbound)
    row.agent = agent.name
    row.updated_at = utcnow()
    await session.commit()
    if stale is not None:
        try:
            await sip.delete_trunk(stale)
        except ProviderError as e:  # the change is stored; an orphan outbound trunk routes nothing
            logger.warning("could not remove a replaced SIP trunk %s: %s", stale, e)
    return _public(row)


@router.delete(
    _NUMBERS + "/{number_id}",
    tags=_TAGS,
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**MISSING, **UPSTREAM},
)
async def delete(number_id: str, session: SessionDep, sip: ProvisionerDep, principal: Writer) -> Response:
    """Detach the number: its LiveKit trunks and dispatch rule are removed, calls to it stop."""
    row = await _own(session, principal, number_id)
    await _unprovision(sip, row)
    await session.delete(row)
    await session.commit()
    logger.info("phone number %s detached in %s", number_id, principal.org_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- outbound calls -------------------------------------------------------------------------------


async def _from_number(session: AsyncSession, principal: Principal, body: OutboundCallCreate) -> PhoneNumber:
    if body.from_number_id is not None:
        row = (
            await session.get(PhoneNumber, body.from_number_id) if is_id(body.from_number_id, "phn") else None
        )
        if row is None or row.org_id != principal.org_id:
            raise InvalidField("from_number_id", "your organisation has no phone number with this id")
        return row
    row = await session.scalar(
        select(PhoneNumber).where(PhoneNumber.org_id == principal.org_id, PhoneNumber.number == body.from_)
    )
    if row is None:
        raise InvalidField("from", "your organisation has no such phone number (POST /v1/phone-numbers)")
    return row


@router.post(
    "/v1/calls",
    tags=["calls"],
    status_code=status.HTTP_201_CREATED,
    responses={**TOO_LARGE, **UPSTREAM, **BAD, **QUOTA_RESPONSES},
)
async def place_call(
    *,
    body: OutboundCallCreate,
    request: Request,
    session: SessionDep,
    store: AgentStoreDep,
    sip: ProvisionerDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.CALLS_CREATE))],
) -> OutboundCallPublic:
    """Call a phone from one of the organisation's numbers, with an agent in the call.

    Answers when the callee has answered (``status: answered``) or not (``busy``, ``no_answer``,
    ``rejected``, ``failed``; a ``call.failed`` webhook goes out too). The call record appears
    under ``GET /v1/calls`` (source ``sip``) once LiveKit reports the room.
    """
    await check_call_quotas(session, settings=settings, org_id=principal.org_id)  # 402 when used up
    number = await _from_number(session, principal, body)
    field = "from_number_id" if body.from_number_id is not None else "from"
    if number.outbound_trunk_id is None:
        raise InvalidField(field, "this number has no outbound settings (PATCH it with `outbound`)")
    agent = await _agent(store, principal.org_id, body.agent or number.agent, field="agent")
    room = new_room_name("call")
    await sip.open_call_room(
        room=room, route=_route(agent, principal.org_id, worker_agent_name=settings.worker_agent_name)
    )
    try:
        result = await sip.dial(
            trunk_id=number.outbound_trunk_id,
            to=body.to,
            from_number=number.number,
            room=room,
            identity=new_identity("phone"),
            ringing_timeout_s=body.ringing_timeout_s,
        )
    except Exception:  # LiveKit is not reachable
        await sip.close_call_room(room)
        raise
    outcome = DialOutcome(result.status)
    if outcome is not DialOutcome.ANSWERED:
        await sip.close_call_room(room)
        data = CallFailedData(
            room=room,
            agent=agent.name,
            phone_number_id=number.id,
            status=outcome.value,
            sip_status_code=result.sip_status_code,
        )
        queued = await enqueue(session, CallFailed(org_id=principal.org_id, data=data))
        await session.commit()
        if queued:
            wake_dispatcher(request)
    logger.info("outbound call from %s in room %s: %s", number.id, room, outcome.value)
    return OutboundCallPublic(
        room=room,
        agent=agent.name,
        phone_number_id=number.id,
        status=outcome,
        sip_status_code=result.sip_status_code,
        reason=result.reason,
        participant_identity=result.participant_identity,
    )
