"""LiveKit SIP provisioning: phone numbers attached to agents through livekit-sip.

A number attached to an agent is two LiveKit SIP objects (:meth:`SipProvisioner.attach_number`):

- an **inbound trunk** that accepts calls to the number, from the carrier's addresses (Twilio's
  signalling ranges) and, optionally, with digest credentials;
- a **dispatch rule** on that trunk that puts every call in a room of its own (``call-…``) whose
  configuration dispatches the worker with the agent's dispatch metadata, and whose metadata says
  whose call it is (so LiveKit's webhooks file it as the organisation's call).

Outbound calls go through an **outbound trunk** (Twilio's termination URI and credentials,
:meth:`SipProvisioner.create_outbound_trunk`) and :meth:`SipProvisioner.dial`, which waits until
the callee answers and reports busy / no answer / rejected / failed as a :class:`DialResult`.

Passwords are never passed in clear: callers name the environment variable that holds each one
(``password_env``), read here when LiveKit needs it. LiveKit's failures become
:class:`~auralink.core.ProviderError` (``retryable`` when LiveKit could not be reached).
"""

from __future__ import annotations

__all__ = [
    "DialResult",
    "DialStatus",
    "InboundNumber",
    "NumberRoute",
    "OutboundTrunk",
    "SipAuth",
    "SipProvisioner",
    "read_password",
]

import logging
import os
from dataclasses import dataclass
from typing import Literal

from livekit import api
from livekit.api.room_service import RoomService
from livekit.api.sip_service import SipService

from auralink.core import MissingCredential, ProviderError
from auralink.telephony.livekit_errors import livekit_call, not_found

logger = logging.getLogger("auralink.telephony")

CALL_ROOM_PREFIX = "call-"
"""Rooms of inbound SIP calls are ``call-_<caller>_<random>`` (livekit-sip's individual rule)."""

DialStatus = Literal["answered", "busy", "no_answer", "rejected", "failed"]

_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({408, 480, 487})
_REJECTED = frozenset({403, 603})


@dataclass(frozen=True, slots=True, kw_only=True)
class SipAuth:
    """Digest credentials: the user name, and the env var that holds the password."""

    username: str
    password_env: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberRoute:
    """Where calls to a number go: the worker's agent name and the dispatch and room metadata."""

    worker_agent_name: str
    dispatch_metadata: str
    """JSON the worker reads to pick the AgentSpec (the API's ``DispatchMetadata``)."""
    room_metadata: str
    """JSON naming the organisation, ``source=sip`` and the agent (the API's ``RoomMetadata``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundNumber:
    """The LiveKit objects of an attached number."""

    trunk_id: str
    dispatch_rule_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundTrunk:
    """A carrier's termination settings (Twilio: ``<name>.pstn.twilio.com`` and credentials)."""

    address: str
    numbers: tuple[str, ...]
    transport: Literal["udp", "tcp", "tls", "auto"] = "auto"
    auth: SipAuth | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialResult:
    """How an outbound call went: answered, or why not (the SIP status when there is one)."""

    status: DialStatus
    sip_status_code: int | None = None
    reason: str = ""
    participant_identity: str | None = None
    sip_call_id: str | None = None


_TRANSPORTS = {
    "udp": api.SIPTransport.SIP_TRANSPORT_UDP,
    "tcp": api.SIPTransport.SIP_TRANSPORT_TCP,
    "tls": api.SIPTransport.SIP_TRANSPORT_TLS,
    "auto": api.SIPTransport.SIP_TRANSPORT_AUTO,
}


def read_password(auth: SipAuth, *, what: str) -> str:
    """The password in ``auth.password_env``; :class:`MissingCredential` naming it when unset."""
    value = os.environ.get(auth.password_env, "")
    if not value:
        raise MissingCredential(auth.password_env, what=what)
    return value


def dial_status(code: int | None) -> DialStatus:
    """What a final SIP status code means for the caller of :meth:`SipProvisioner.dial`."""
    if code in _BUSY:
        return "busy"
    if code in _NO_ANSWER:
        return "no_answer"
    if code in _REJECTED:
        return "rejected"
    return "failed"


class SipProvisioner:
    """Creates and removes LiveKit SIP trunks and dispatch rules; places outbound calls.

    ``sip`` and ``rooms`` are the server API's clients (``LiveKitAPI(...).sip`` and ``.room``);
    their owner closes them. ``rooms`` is only needed to place outbound calls.
    """

    def __init__(self, *, sip: SipService, rooms: RoomService | None = None) -> None:
        self._sip = sip
        self._rooms = rooms

    # -- inbound ------------------------------------------------------------------------------

    def inbound_trunk_request(
        self,
        *,
        number: str,
        name: str,
        allowed_addresses: tuple[str, ...] = (),
        auth: SipAuth | None = None,
    ) -> api.CreateSIPInboundTrunkRequest:
        """The request that accepts calls to ``number`` from ``allowed_addresses`` (all if empty)."""
        trunk = api.SIPInboundTrunkInfo(
            name=name, numbers=[number], allowed_addresses=list(allowed_addresses)
        )
        if auth is not None:
            trunk.auth_username = auth.username
            trunk.auth_password = read_password(auth, what="the SIP trunk's inbound authentication")
        return api.CreateSIPInboundTrunkRequest(trunk=trunk)

    @staticmethod
    def dispatch_rule_request(
        *, trunk_id: str, name: str, route: NumberRoute
    ) -> api.CreateSIPDispatchRuleRequest:
        """The request that puts each call on ``trunk_id`` in a ``call-…`` room with the agent."""
        rule = api.SIPDispatchRuleInfo(
            name=name,
            trunk_ids=[trunk_id],
            rule=api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix=CALL_ROOM_PREFIX)
            ),
            room_config=api.RoomConfiguration(
                agents=[
                    api.RoomAgentDispatch(
                        agent_name=route.worker_agent_name, metadata=route.dispatch_metadata
                    )
                ],
                metadata=route.room_metadata,
            ),
        )
        return api.CreateSIPDispatchRuleRequest(dispatch_rule=rule)

    async def attach_number(
        self,
        *,
        number: str,
        name: str,
        route: NumberRoute,
        allowed_addresses: tuple[str, ...] = (),
        auth: SipAuth | None = None,
    ) -> InboundNumber:
        """Make calls to ``number`` reach the agent; on failure nothing is left behind in LiveKit."""
        request = self.inbound_trunk_request(
            number=number, name=name, allowed_addresses=allowed_addresses, auth=auth
        )
        async with livekit_call("create the inbound SIP trunk"):
            trunk = await self._sip.create_inbound_trunk(request)
        try:
            async with livekit_call("create the SIP dispatch rule"):
                rule = await self._sip.create_dispatch_rule(
                    self.dispatch_rule_request(trunk_id=trunk.sip_trunk_id, name=name, route=route)
                )
        except ProviderError:
            await self._forget_trunk(trunk.sip_trunk_id)
            raise
        logger.info("attached a number: trunk %s, rule %s", trunk.sip_trunk_id, rule.sip_dispatch_rule_id)
        return InboundNumber(trunk_id=trunk.sip_trunk_id, dispatch_rule_id=rule.sip_dispatch_rule_id)

    async def update_inbound(
        self,
        inbound: InboundNumber,
        *,
        number: str,
        name: str,
        allowed_addresses: tuple[str, ...] = (),
        auth: SipAuth | None = None,
    ) -> None:
        """Change who may call the number, in place (the trunk keeps its id)."""
        trunk = self.inbound_trunk_request(
            number=number, name=name, allowed_addresses=allowed_addresses, auth=auth
        ).trunk
        async with livekit_call("update the inbound SIP trunk"):
            await self._sip.update_inbound_trunk(inbound.trunk_id, trunk)

    async def update_route(self, inbound: InboundNumber, *, name: str, route: NumberRoute) -> None:
        """Point the number's calls at another agent (or a new spec), in place."""
        rule = self.dispatch_rule_request(trunk_id=inbound.trunk_id, name=name, route=route).dispatch_rule
        async with livekit_call("update the SIP dispatch rule"):
            await self._sip.update_dispatch_rule(inbound.dispatch_rule_id, rule)

    async def detach_number(self, inbound: InboundNumber) -> None:
        """Remove the number's dispatch rule and inbound trunk (those already gone are fine)."""
        await self.delete_dispatch_rule(inbound.dispatch_rule_id)
        await self.delete_trunk(inbound.trunk_id)

    async def delete_dispatch_rule(self, rule_id: str) -> None:
        try:
            async with livekit_call("delete the SIP dispatch rule"):
                await self._sip.delete_dispatch_rule(
                    api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id)
                )
        except ProviderError as e:
            if not not_found(e):
                raise

    async def delete_trunk(self, trunk_id: str) -> None:
        try:
            async with livekit_call("delete the SIP trunk"):
                await self._sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))
        except ProviderError as e:
            if not not_found(e):
                raise

    async def _forget_trunk(self, trunk_id: str) -> None:
        try:
            await self.delete_trunk(trunk_id)
        except ProviderError as e:  # best effort: the caller reports the first failure
            logger.warning("could not remove a half-made SIP trunk %s: %s", trunk_id, e)

    async def list_inbound_trunk_ids(self) -> list[str]:
        async with livekit_call("list the inbound SIP trunks"):
            found = await self._sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        return [t.sip_trunk_id for t in found.items]

    async def list_dispatch_rule_ids(self) -> list[str]:
        async with livekit_call("list the SIP dispatch rules"):
            found = await self._sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
        return [r.sip_dispatch_rule_id for r in found.items]

    # -- outbound -----------------------------------------------------------------------------

    @staticmethod
    def outbound_trunk_request(*, name: str, trunk: OutboundTrunk) -> api.CreateSIPOutboundTrunkRequest:
        info = api.SIPOutboundTrunkInfo(
            name=name,
            address=trunk.address,
            numbers=list(trunk.numbers),
            transport=_TRANSPORTS[trunk.transport],
        )
        if trunk.auth is not None:
            info.auth_username = trunk.auth.username
            info.auth_password = read_password(trunk.auth, what="the SIP trunk's outbound calls")
        return api.CreateSIPOutboundTrunkRequest(trunk=info)

    async def update_outbound_trunk(self, trunk_id: str, *, name: str, trunk: OutboundTrunk) -> None:
        """Replace the outbound trunk's settings in place."""
        info = self.outbound_trunk_request(name=name, trunk=trunk).trunk
        async with livekit_call("update the outbound SIP trunk"):
            await self._sip.update_outbound_trunk(trunk_id, info)

    async def create_outbound_trunk(self, *, name: str, trunk: OutboundTrunk) -> str:
        """Make the outbound trunk; returns its id."""
        request = self.outbound_trunk_request(name=name, trunk=trunk)
        async with livekit_call("create the outbound SIP trunk"):
            made = await self._sip.create_outbound_trunk(request)
        return str(made.sip_trunk_id)

    @staticmethod
    def call_room_request(
        *, room: str, route: NumberRoute, empty_timeout_s: int = 60
    ) -> api.CreateRoomRequest:
        """The room of an outbound call: the agent dispatched to it, the call's owner in its metadata."""
        return api.CreateRoomRequest(
            name=room,
            empty_timeout=empty_timeout_s,
            metadata=route.room_metadata,
            agents=[
                api.RoomAgentDispatch(agent_name=route.worker_agent_name, metadata=route.dispatch_metadata)
            ],
        )

    async def open_call_room(self, *, room: str, route: NumberRoute) -> None:
        """Make the room an outbound call is placed into, with the agent dispatched."""
        if self._rooms is None:
            raise ValueError("SipProvisioner needs rooms= (LiveKitAPI.room) to place calls")
        async with livekit_call("create the call's room"):
            await self._rooms.create_room(self.call_room_request(room=room, route=route))

    async def close_call_room(self, room: str) -> None:
        """Best effort: remove the room of a call that was not answered."""
        if self._rooms is None:
            return
        try:
            async with livekit_call("remove the unanswered call's room"):
                await self._rooms.delete_room(api.DeleteRoomRequest(room=room))
        except ProviderError as e:
            logger.warning("%s", e)

    @staticmethod
    def dial_request(
        *,
        trunk_id: str,
        to: str,
        from_number: str,
        room: str,
        identity: str,
        ringing_timeout_s: int = 30,
    ) -> api.CreateSIPParticipantRequest:
        request = api.CreateSIPParticipantRequest(
            sip_trunk_id=trunk_id,
            sip_call_to=to,
            sip_number=from_number,
            room_name=room,
            participant_identity=identity,
            participant_name="phone",
            wait_until_answered=True,
        )
        request.ringing_timeout.seconds = ringing_timeout_s
        return request

    async def dial(
        self,
        *,
        trunk_id: str,
        to: str,
        from_number: str,
        room: str,
        identity: str,
        ringing_timeout_s: int = 30,
    ) -> DialResult:
        """Call ``to`` from ``from_number`` into ``room`` and wait until it is answered or not.

        Busy, no answer and the callee's refusal are results, not errors; only LiveKit being
        unreachable raises (:class:`ProviderError`, retryable).
        """
        request = self.dial_request(
            trunk_id=trunk_id,
            to=to,
            from_number=from_number,
            room=room,
            identity=identity,
            ringing_timeout_s=ringing_timeout_s,
        )
        try:
            async with livekit_call("place the SIP call"):
                info = await self._sip.create_sip_participant(request)
        except ProviderError as e:
            cause = e.__cause__
            if isinstance(cause, api.SipCallError):
                code = cause.sip_status_code
                status = dial_status(code)
                logger.info("outbound SIP call not answered: %s (SIP %s)", status, code)
                return DialResult(
                    status=status, sip_status_code=code, reason=cause.sip_status or cause.message
                )
            if isinstance(cause, api.TwirpError):
                logger.info("outbound SIP call failed: %s", cause.code)
                return DialResult(status="failed", reason=f"{cause.message} ({cause.code})")
            raise
        return DialResult(
            status="answered",
            participant_identity=info.participant_identity,
            sip_call_id=info.sip_call_id,
        )
