"""Phone numbers and outbound calls through the API, with LiveKit's SIP service faked at the boundary:
validation, the agent a number reaches, LiveKit objects made and removed, roles, other
organisations, audit, and unanswered calls as results with a ``call.failed`` webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from livekit import api as lk
from sqlalchemy import select

from auralink.api.db import WebhookDelivery
from auralink.api.routes.phone_numbers import get_sip_provisioner
from auralink.telephony.sip import SipProvisioner
from tests.unit.api.test_auth import Api
from tests.unit.api.test_links import CATALOGUE
from tests.unit.telephony.test_sip import FakeRooms, FakeSip, sip_error

NUMBER = "+15551234567"
CALLEE = "+15557654321"


@pytest.fixture
def fake_sip(api: Api) -> FakeSip:
    return FakeSip()


@pytest.fixture
def fake_rooms(api: Api) -> FakeRooms:
    return FakeRooms()


@pytest.fixture
async def owner(api: Api, fake_sip: FakeSip, fake_rooms: FakeRooms) -> AsyncIterator[httpx.AsyncClient]:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    api.app.dependency_overrides[get_sip_provisioner] = lambda: SipProvisioner(sip=fake_sip, rooms=fake_rooms)
    org = await api.signup()
    yield await api.login(org.email)
    api.app.dependency_overrides.pop(get_sip_provisioner, None)


async def _attach(owner: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await owner.post("/v1/phone-numbers", json={"number": NUMBER, "agent": "assistant", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_attaching_a_number_routes_its_calls_to_the_agent(
    owner: httpx.AsyncClient, fake_sip: FakeSip, api: Api
) -> None:
    made = await _attach(owner, inbound={"allowed_addresses": ["54.172.60.0/30", "54.244.51.1"]})
    assert made["id"].startswith("phn_") and made["number"] == NUMBER and made["agent"] == "assistant"
    assert made["inbound"]["allowed_addresses"] == ["54.172.60.0/30", "54.244.51.1/32"]
    trunk = fake_sip.inbound[made["inbound_trunk_id"]]
    assert list(trunk.numbers) == [NUMBER]
    rule = fake_sip.rules[made["dispatch_rule_id"]]
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    (dispatch,) = rule.room_config.agents
    assert dispatch.agent_name == api.settings.worker_agent_name
    assert '"agent":"assistant"' in dispatch.metadata
    assert '"source":"sip"' in rule.room_config.metadata
    assert NUMBER not in trunk.name and NUMBER not in rule.name  # labels carry ids only
    assert made["outbound"] is None and made["outbound_trunk_id"] is None

    assert (await owner.get(f"/v1/phone-numbers/{made['id']}")).json() == made
    assert [n["id"] for n in (await owner.get("/v1/phone-numbers")).json()] == [made["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": "5551234567"}, "number"),
        ({"number": "+1 555 123"}, "number"),
        ({"agent": "nobody"}, "agent"),
        ({"inbound": {"allowed_addresses": ["not-an-ip"]}}, "inbound.allowed_addresses.0"),
        ({"outbound": {"address": "acme.pstn.twilio.com", "password": "x"}}, "outbound.password"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_bodies_are_refused_field_by_field(
    owner: httpx.AsyncClient, fake_sip: FakeSip, body: dict[str, Any], field: str
) -> None:
    r = await owner.post("/v1/phone-numbers", json={"number": NUMBER, "agent": "assistant", **body})
    assert r.status_code == 422, r.text
    assert field in r.text
    assert fake_sip.inbound == {}


async def test_a_number_is_attached_once_on_the_server(owner: httpx.AsyncClient, api: Api) -> None:
    await _attach(owner)
    r = await owner.post("/v1/phone-numbers", json={"number": NUMBER, "agent": "barista"})
    assert r.status_code == 409
    other_org = await api.signup("Other")
    other = await api.login(other_org.email)
    assert (
        await other.post("/v1/phone-numbers", json={"number": NUMBER, "agent": "assistant"})
    ).status_code == 409


async def test_outbound_passwords_are_read_from_the_named_env_var_and_never_stored(
    owner: httpx.AsyncClient, fake_sip: FakeSip, monkeypatch: pytest.MonkeyPatch, api: Api
) -> None:
    outbound = {"address": "acme.pstn.twilio.com", "username": "auralink", "password_env": "AL_TEST_SIP_PW"}
    monkeypatch.delenv("AL_TEST_SIP_PW", raising=False)
    r = await owner.post(
        "/v1/phone-numbers", json={"number": NUMBER, "agent": "assistant", "outbound": outbound}
    )
    assert r.status_code == 422 and "AL_TEST_SIP_PW" in r.text
    assert fake_sip.inbound == {} and fake_sip.rules == {}  # nothing half-made is left
    assert (await owner.get("/v1/phone-numbers")).json() == []

    monkeypatch.setenv("AL_TEST_SIP_PW", "pw-7f3a-secret")
    made = await _attach(owner, outbound=outbound)
    trunk = fake_sip.outbound[made["outbound_trunk_id"]]
    assert (trunk.address, trunk.auth_username, trunk.auth_password) == (
        "acme.pstn.twilio.com",
        "auralink",
        "pw-7f3a-secret",
    )
    assert made["outbound"] == {**outbound, "transport": "auto"}
    assert "pw-7f3a-secret" not in (await owner.get(f"/v1/phone-numbers/{made['id']}")).text
    async with api.db.session() as s:
        dump = " ".join(str(v) for row in await s.execute(select(*_columns())) for v in row)
    assert "pw-7f3a-secret" not in dump


def _columns() -> list[Any]:
    from auralink.api.db.models import PhoneNumber

    return list(PhoneNumber.__table__.columns)


async def test_a_livekit_failure_answers_502_and_keeps_nothing(
    owner: httpx.AsyncClient, fake_sip: FakeSip
) -> None:
    fake_sip.fail["create_dispatch_rule"] = lk.TwirpError("internal", "boom", status=500)
    r = await owner.post("/v1/phone-numbers", json={"number": NUMBER, "agent": "assistant"})
    assert r.status_code == 502 and "dispatch rule" in r.text
    assert fake_sip.inbound == {} and (await owner.get("/v1/phone-numbers")).json() == []
    del fake_sip.fail["create_dispatch_rule"]
    await _attach(owner)  # the number was freed


async def test_patch_moves_the_number_to_another_agent_and_changes_its_trunks_in_place(
    owner: httpx.AsyncClient, fake_sip: FakeSip, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _attach(owner)
    url = f"/v1/phone-numbers/{made['id']}"
    r = await owner.patch(url, json={"agent": "barista"})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["agent"] == "barista"
    assert (moved["inbound_trunk_id"], moved["dispatch_rule_id"]) == (
        made["inbound_trunk_id"],
        made["dispatch_rule_id"],
    )
    assert '"agent":"barista"' in fake_sip.rules[made["dispatch_rule_id"]].room_config.agents[0].metadata

    r = await owner.patch(url, json={"inbound": {"allowed_addresses": ["10.0.0.0/8"]}})
    assert r.status_code == 200, r.text
    assert r.json()["inbound"]["allowed_addresses"] == ["10.0.0.0/8"]
    assert list(fake_sip.inbound) == [made["inbound_trunk_id"]] and list(fake_sip.rules) == [
        made["dispatch_rule_id"]
    ]
    assert list(fake_sip.inbound[made["inbound_trunk_id"]].allowed_addresses) == ["10.0.0.0/8"]

    # an unset password variable changes nothing
    monkeypatch.delenv("AL_TEST_UNSET_PW", raising=False)
    body = {
        "agent": "assistant",
        "outbound": {"address": "a.pstn.twilio.com", "username": "u", "password_env": "AL_TEST_UNSET_PW"},
    }
    r = await owner.patch(url, json=body)
    assert r.status_code == 422 and "AL_TEST_UNSET_PW" in r.text
    assert (await owner.get(url)).json()["agent"] == "barista" and fake_sip.outbound == {}

    r = await owner.patch(url, json={"outbound": {"address": "acme.pstn.twilio.com"}})
    trunk_id = r.json()["outbound_trunk_id"]
    assert r.status_code == 200 and fake_sip.outbound[trunk_id].address == "acme.pstn.twilio.com"
    r = await owner.patch(url, json={"outbound": {"address": "other.pstn.twilio.com", "transport": "tls"}})
    assert r.status_code == 200 and r.json()["outbound_trunk_id"] == trunk_id
    assert fake_sip.outbound[trunk_id].address == "other.pstn.twilio.com"
    r = await owner.patch(url, json={"outbound": None})
    assert r.status_code == 200 and r.json()["outbound"] is None and fake_sip.outbound == {}
    assert (await owner.patch(url, json={"agent": "nobody"})).status_code == 422


async def test_delete_detaches_the_number_in_livekit(owner: httpx.AsyncClient, fake_sip: FakeSip) -> None:
    made = await _attach(owner, outbound={"address": "acme.pstn.twilio.com"})
    assert (await owner.delete(f"/v1/phone-numbers/{made['id']}")).status_code == 204
    assert fake_sip.inbound == {} and fake_sip.rules == {} and fake_sip.outbound == {}
    assert (await owner.get(f"/v1/phone-numbers/{made['id']}")).status_code == 404
    assert (await owner.delete(f"/v1/phone-numbers/{made['id']}")).status_code == 404


async def test_roles_and_other_organisations(owner: httpx.AsyncClient, api: Api) -> None:
    made = await _attach(owner)
    viewer = await api.member(owner, "viewer", "viewer@acme.test")
    assert (await viewer.get(f"/v1/phone-numbers/{made['id']}")).status_code == 200
    assert (
        await viewer.post("/v1/phone-numbers", json={"number": CALLEE, "agent": "assistant"})
    ).status_code == 403
    assert (await viewer.delete(f"/v1/phone-numbers/{made['id']}")).status_code == 403
    body = {"to": CALLEE, "from_number_id": made["id"]}
    assert (await viewer.post("/v1/calls", json=body)).status_code == 403

    other = await api.login((await api.signup("Other")).email)
    for r in (
        await other.get(f"/v1/phone-numbers/{made['id']}"),
        await other.patch(f"/v1/phone-numbers/{made['id']}", json={"agent": "barista"}),
        await other.delete(f"/v1/phone-numbers/{made['id']}"),
    ):
        assert r.status_code == 404
    assert (await other.get("/v1/phone-numbers")).json() == []
    r = await other.post("/v1/calls", json=body)
    assert r.status_code == 422 and "from_number_id" in r.text


async def test_changes_to_numbers_are_audited_without_the_number(owner: httpx.AsyncClient) -> None:
    made = await _attach(owner)
    await owner.patch(f"/v1/phone-numbers/{made['id']}", json={"agent": "barista"})
    await owner.delete(f"/v1/phone-numbers/{made['id']}")
    r = await owner.get("/v1/audit", params={"limit": 50})
    entries = [e for e in r.json()["items"] if e["target"] == made["id"]]
    assert {e["action"] for e in entries} == {
        "phone_number.created",
        "phone_number.updated",
        "phone_number.deleted",
    }
    assert NUMBER not in r.text


async def test_an_answered_call_has_the_agent_in_its_room(
    owner: httpx.AsyncClient, fake_sip: FakeSip, fake_rooms: FakeRooms
) -> None:
    made = await _attach(owner, outbound={"address": "acme.pstn.twilio.com"})
    r = await owner.post("/v1/calls", json={"to": CALLEE, "from": NUMBER, "agent": "barista"})
    assert r.status_code == 201, r.text
    call = r.json()
    assert (
        call["status"] == "answered" and call["phone_number_id"] == made["id"] and call["agent"] == "barista"
    )
    assert call["room"].startswith("call-")
    (room,) = fake_rooms.created
    assert room.name == call["room"] and '"source":"sip"' in room.metadata
    assert '"agent":"barista"' in room.agents[0].metadata
    (dial,) = fake_sip.dials
    assert (dial.sip_call_to, dial.sip_number, dial.sip_trunk_id) == (
        CALLEE,
        NUMBER,
        made["outbound_trunk_id"],
    )
    assert dial.wait_until_answered and dial.participant_identity == call["participant_identity"]
    assert fake_rooms.deleted == []


async def test_a_busy_callee_is_a_result_and_a_call_failed_webhook(
    owner: httpx.AsyncClient, fake_sip: FakeSip, fake_rooms: FakeRooms, api: Api
) -> None:
    made = await _attach(owner, outbound={"address": "acme.pstn.twilio.com"})
    hook = await owner.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["call.failed"]}
    )
    assert hook.status_code == 201, hook.text
    fake_sip.fail["create_sip_participant"] = sip_error(486, "Busy Here")
    r = await owner.post("/v1/calls", json={"to": CALLEE, "from_number_id": made["id"]})
    assert r.status_code == 201, r.text
    call = r.json()
    assert (call["status"], call["sip_status_code"]) == ("busy", 486)
    assert fake_rooms.deleted == [call["room"]]  # the empty room is removed
    async with api.db.session() as s:
        (delivery,) = await s.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "call.failed")
        )
    assert '"status":"busy"' in delivery.body and call["room"] in delivery.body
    assert CALLEE not in delivery.body


async def test_calls_need_a_number_with_outbound_settings(owner: httpx.AsyncClient) -> None:
    await _attach(owner)
    r = await owner.post("/v1/calls", json={"to": CALLEE, "from": NUMBER})
    assert r.status_code == 422 and "outbound" in r.text
    r = await owner.post("/v1/calls", json={"to": CALLEE, "from": "+15550000000"})
    assert r.status_code == 422 and "from" in r.text
    r = await owner.post("/v1/calls", json={"to": CALLEE})
    assert r.status_code == 422
    r = await owner.post("/v1/calls", json={"to": "12345", "from": NUMBER})
    assert r.status_code == 422 and "to" in r.text
