"""LiveKit SIP provisioning without a server: the requests a number's trunk and rule are made of,
clean-up when LiveKit fails half-way, passwords read from the named env var, dial outcomes.

:class:`FakeSip` and :class:`FakeRooms` (LiveKit's SIP and room services, recording requests) are
used by tests/unit/api/test_phone_numbers.py too."""

from __future__ import annotations

from typing import Any

import pytest
from livekit import api
from livekit.api.room_service import RoomService
from livekit.api.sip_service import SipService

from auralink.core import MissingCredential, ProviderError
from auralink.telephony.sip import (
    NumberRoute,
    OutboundTrunk,
    SipAuth,
    SipProvisioner,
    dial_status,
)

ROUTE = NumberRoute(
    worker_agent_name="auralink-test",
    dispatch_metadata='{"agent":"assistant","org":"org_1"}',
    room_metadata='{"org":"org_1","source":"sip","agent":"assistant"}',
)


class FakeSip(SipService):
    """LiveKit's SIP service in memory: keeps trunks and rules, can fail on a chosen method."""

    def __init__(self) -> None:  # no HTTP session: nothing here reaches a server
        self.inbound: dict[str, api.SIPInboundTrunkInfo] = {}
        self.outbound: dict[str, api.SIPOutboundTrunkInfo] = {}
        self.rules: dict[str, api.SIPDispatchRuleInfo] = {}
        self.dials: list[api.CreateSIPParticipantRequest] = []
        self.fail: dict[str, Exception] = {}
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n:04d}"

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    async def create_inbound_trunk(self, create: api.CreateSIPInboundTrunkRequest) -> api.SIPInboundTrunkInfo:
        self._maybe_fail("create_inbound_trunk")
        trunk = api.SIPInboundTrunkInfo()
        trunk.CopyFrom(create.trunk)
        trunk.sip_trunk_id = self._id("ST")
        self.inbound[trunk.sip_trunk_id] = trunk
        return trunk

    async def create_outbound_trunk(
        self, create: api.CreateSIPOutboundTrunkRequest
    ) -> api.SIPOutboundTrunkInfo:
        self._maybe_fail("create_outbound_trunk")
        trunk = api.SIPOutboundTrunkInfo()
        trunk.CopyFrom(create.trunk)
        trunk.sip_trunk_id = self._id("ST")
        self.outbound[trunk.sip_trunk_id] = trunk
        return trunk

    async def create_dispatch_rule(self, create: api.CreateSIPDispatchRuleRequest) -> api.SIPDispatchRuleInfo:
        self._maybe_fail("create_dispatch_rule")
        rule = api.SIPDispatchRuleInfo()
        rule.CopyFrom(create.dispatch_rule)
        rule.sip_dispatch_rule_id = self._id("SDR")
        self.rules[rule.sip_dispatch_rule_id] = rule
        return rule

    async def update_inbound_trunk(
        self, trunk_id: str, trunk: api.SIPInboundTrunkInfo
    ) -> api.SIPInboundTrunkInfo:
        self._maybe_fail("update_inbound_trunk")
        if trunk_id not in self.inbound:
            raise api.TwirpError("not_found", "trunk not found", status=404)
        self.inbound[trunk_id] = api.SIPInboundTrunkInfo()
        self.inbound[trunk_id].CopyFrom(trunk)
        self.inbound[trunk_id].sip_trunk_id = trunk_id
        return self.inbound[trunk_id]

    async def update_outbound_trunk(
        self, trunk_id: str, trunk: api.SIPOutboundTrunkInfo
    ) -> api.SIPOutboundTrunkInfo:
        self._maybe_fail("update_outbound_trunk")
        if trunk_id not in self.outbound:
            raise api.TwirpError("not_found", "trunk not found", status=404)
        self.outbound[trunk_id] = api.SIPOutboundTrunkInfo()
        self.outbound[trunk_id].CopyFrom(trunk)
        self.outbound[trunk_id].sip_trunk_id = trunk_id
        return self.outbound[trunk_id]

    async def update_dispatch_rule(
        self, rule_id: str, rule: api.SIPDispatchRuleInfo
    ) -> api.SIPDispatchRuleInfo:
        self._maybe_fail("update_dispatch_rule")
        if rule_id not in self.rules:
            raise api.TwirpError("not_found", "rule not found", status=404)
        self.rules[rule_id] = api.SIPDispatchRuleInfo()
        self.rules[rule_id].CopyFrom(rule)
        self.rules[rule_id].sip_dispatch_rule_id = rule_id
        return self.rules[rule_id]

    async def delete_trunk(self, delete: api.DeleteSIPTrunkRequest) -> api.SIPTrunkInfo:
        self._maybe_fail("delete_trunk")
        found = self.inbound.pop(delete.sip_trunk_id, None) or self.outbound.pop(delete.sip_trunk_id, None)
        if found is None:
            raise api.TwirpError("not_found", "trunk not found", status=404)
        return api.SIPTrunkInfo(sip_trunk_id=delete.sip_trunk_id)

    async def delete_dispatch_rule(self, delete: api.DeleteSIPDispatchRuleRequest) -> api.SIPDispatchRuleInfo:
        self._maybe_fail("delete_dispatch_rule")
        if self.rules.pop(delete.sip_dispatch_rule_id, None) is None:
            raise api.TwirpError("not_found", "rule not found", status=404)
        return api.SIPDispatchRuleInfo(sip_dispatch_rule_id=delete.sip_dispatch_rule_id)

    async def list_inbound_trunk(
        self, list: api.ListSIPInboundTrunkRequest
    ) -> api.ListSIPInboundTrunkResponse:
        return api.ListSIPInboundTrunkResponse(items=self.inbound.values())

    async def list_dispatch_rule(
        self, list: api.ListSIPDispatchRuleRequest
    ) -> api.ListSIPDispatchRuleResponse:
        return api.ListSIPDispatchRuleResponse(items=self.rules.values())

    async def create_sip_participant(
        self, create: api.CreateSIPParticipantRequest, **_: Any
    ) -> api.SIPParticipantInfo:
        self.dials.append(create)
        self._maybe_fail("create_sip_participant")
        return api.SIPParticipantInfo(
            participant_identity=create.participant_identity, room_name=create.room_name, sip_call_id="SCL_1"
        )


class FakeRooms(RoomService):
    """LiveKit's room service in memory: the rooms made and deleted."""

    def __init__(self) -> None:
        self.created: list[api.CreateRoomRequest] = []
        self.deleted: list[str] = []

    async def create_room(self, create: api.CreateRoomRequest) -> api.Room:
        self.created.append(create)
        return api.Room(name=create.name, metadata=create.metadata)

    async def delete_room(self, delete: api.DeleteRoomRequest) -> api.DeleteRoomResponse:
        self.deleted.append(delete.room)
        return api.DeleteRoomResponse()


def sip_error(code: int, status: str) -> api.SipCallError:
    return api.SipCallError(
        "unavailable",
        f"sip status: {code}: {status}",
        status=503,
        metadata={"sip_status_code": str(code), "sip_status": status},
    )


async def test_attaching_a_number_makes_a_trunk_for_it_and_a_rule_dispatching_the_agent() -> None:
    fake = FakeSip()
    made = await SipProvisioner(sip=fake).attach_number(
        number="+15551234567", name="auralink org_1 phn_1", route=ROUTE, allowed_addresses=("54.172.60.0/30",)
    )
    trunk = fake.inbound[made.trunk_id]
    assert list(trunk.numbers) == ["+15551234567"]
    assert list(trunk.allowed_addresses) == ["54.172.60.0/30"]
    assert trunk.auth_username == "" and trunk.auth_password == ""
    rule = fake.rules[made.dispatch_rule_id]
    assert list(rule.trunk_ids) == [made.trunk_id]
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"  # a room per call
    (dispatch,) = rule.room_config.agents
    assert dispatch.agent_name == "auralink-test"
    assert dispatch.metadata == ROUTE.dispatch_metadata
    assert rule.room_config.metadata == ROUTE.room_metadata


async def test_inbound_credentials_come_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSip()
    auth = SipAuth(username="twilio", password_env="AURALINK_TEST_SIP_PASSWORD")
    monkeypatch.delenv("AURALINK_TEST_SIP_PASSWORD", raising=False)
    with pytest.raises(MissingCredential, match="AURALINK_TEST_SIP_PASSWORD"):
        await SipProvisioner(sip=fake).attach_number(number="+15551234567", name="n", route=ROUTE, auth=auth)
    assert fake.inbound == {}  # nothing made

    monkeypatch.setenv("AURALINK_TEST_SIP_PASSWORD", "s3cret-value")
    made = await SipProvisioner(sip=fake).attach_number(
        number="+15551234567", name="n", route=ROUTE, auth=auth
    )
    trunk = fake.inbound[made.trunk_id]
    assert (trunk.auth_username, trunk.auth_password) == ("twilio", "s3cret-value")


async def test_a_failed_dispatch_rule_leaves_no_trunk_behind() -> None:
    fake = FakeSip()
    fake.fail["create_dispatch_rule"] = api.TwirpError("invalid_argument", "bad rule", status=400)
    with pytest.raises(ProviderError, match="dispatch rule"):
        await SipProvisioner(sip=fake).attach_number(number="+15551234567", name="n", route=ROUTE)
    assert fake.inbound == {} and fake.rules == {}


async def test_detach_removes_rule_and_trunk_and_tolerates_ones_already_gone() -> None:
    fake = FakeSip()
    sip = SipProvisioner(sip=fake)
    made = await sip.attach_number(number="+15551234567", name="n", route=ROUTE)
    await sip.detach_number(made)
    assert fake.inbound == {} and fake.rules == {}
    await sip.detach_number(made)  # again: LiveKit says not found, which is what we want
    assert await sip.list_inbound_trunk_ids() == [] and await sip.list_dispatch_rule_ids() == []


async def test_updates_change_the_number_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSip()
    sip = SipProvisioner(sip=fake)
    made = await sip.attach_number(number="+15551234567", name="n", route=ROUTE)
    other = NumberRoute(
        worker_agent_name="auralink-test", dispatch_metadata='{"agent":"x"}', room_metadata="{}"
    )
    await sip.update_route(made, name="n", route=other)
    await sip.update_inbound(made, number="+15551234567", name="n", allowed_addresses=("10.0.0.0/8",))
    assert list(fake.rules) == [made.dispatch_rule_id] and list(fake.inbound) == [made.trunk_id]
    assert fake.rules[made.dispatch_rule_id].room_config.agents[0].metadata == '{"agent":"x"}'
    assert list(fake.rules[made.dispatch_rule_id].trunk_ids) == [made.trunk_id]
    assert list(fake.inbound[made.trunk_id].allowed_addresses) == ["10.0.0.0/8"]

    monkeypatch.setenv("AURALINK_TEST_TWILIO_SIP", "pw-2")
    trunk = OutboundTrunk(address="a.pstn.twilio.com", numbers=("+15551234567",))
    trunk_id = await sip.create_outbound_trunk(name="n", trunk=trunk)
    auth = SipAuth(username="u", password_env="AURALINK_TEST_TWILIO_SIP")
    moved = OutboundTrunk(address="b.pstn.twilio.com", numbers=("+15551234567",), auth=auth)
    await sip.update_outbound_trunk(trunk_id, name="n", trunk=moved)
    assert (fake.outbound[trunk_id].address, fake.outbound[trunk_id].auth_password) == (
        "b.pstn.twilio.com",
        "pw-2",
    )


async def test_an_unreachable_livekit_is_a_retryable_provider_error() -> None:
    fake = FakeSip()
    fake.fail["create_inbound_trunk"] = OSError("connection refused")
    with pytest.raises(ProviderError, match="not reachable") as info:
        await SipProvisioner(sip=fake).attach_number(number="+15551234567", name="n", route=ROUTE)
    assert info.value.retryable


async def test_the_outbound_trunk_carries_twilio_termination_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AURALINK_TEST_TWILIO_SIP", "pw-from-env")
    fake = FakeSip()
    trunk_id = await SipProvisioner(sip=fake).create_outbound_trunk(
        name="n",
        trunk=OutboundTrunk(
            address="acme.pstn.twilio.com",
            numbers=("+15551234567",),
            transport="tcp",
            auth=SipAuth(username="auralink", password_env="AURALINK_TEST_TWILIO_SIP"),
        ),
    )
    info = fake.outbound[trunk_id]
    assert info.address == "acme.pstn.twilio.com"
    assert list(info.numbers) == ["+15551234567"]
    assert info.transport == api.SIPTransport.SIP_TRANSPORT_TCP
    assert (info.auth_username, info.auth_password) == ("auralink", "pw-from-env")


async def test_dial_waits_for_the_answer_and_reports_who_joined() -> None:
    fake = FakeSip()
    result = await SipProvisioner(sip=fake).dial(
        trunk_id="ST_1", to="+15557654321", from_number="+15551234567", room="call-1", identity="phone-1"
    )
    assert result.status == "answered" and result.participant_identity == "phone-1"
    (request,) = fake.dials
    assert request.wait_until_answered
    assert (request.sip_call_to, request.sip_number, request.room_name) == (
        "+15557654321",
        "+15551234567",
        "call-1",
    )
    assert request.ringing_timeout.seconds == 30


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (486, "Busy Here", "busy"),
        (480, "Temporarily Unavailable", "no_answer"),
        (603, "Decline", "rejected"),
        (500, "Server Internal Error", "failed"),
    ],
)
async def test_an_unanswered_dial_is_a_result_not_an_error(code: int, status: str, expected: str) -> None:
    fake = FakeSip()
    fake.fail["create_sip_participant"] = sip_error(code, status)
    result = await SipProvisioner(sip=fake).dial(
        trunk_id="ST_1", to="+15557654321", from_number="+15551234567", room="call-1", identity="phone-1"
    )
    assert (result.status, result.sip_status_code) == (expected, code)
    assert status in result.reason


def test_sip_codes_map_to_what_a_caller_understands() -> None:
    assert [dial_status(c) for c in (486, 600, 408, 487, 403, None)] == [
        "busy",
        "busy",
        "no_answer",
        "no_answer",
        "rejected",
        "failed",
    ]


async def test_the_outbound_call_room_dispatches_the_agent() -> None:
    rooms = FakeRooms()
    sip = SipProvisioner(sip=FakeSip(), rooms=rooms)
    await sip.open_call_room(room="call-abc", route=ROUTE)
    (created,) = rooms.created
    assert created.name == "call-abc" and created.metadata == ROUTE.room_metadata
    assert [(a.agent_name, a.metadata) for a in created.agents] == [
        ("auralink-test", ROUTE.dispatch_metadata)
    ]
    await sip.close_call_room("call-abc")
    assert rooms.deleted == ["call-abc"]
