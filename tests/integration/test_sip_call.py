"""A phone call through the SIP trunk path, end to end: an organisation attaches a number to its
agent through the API (LiveKit inbound trunk + dispatch rule), then SIPp plays the carrier (as
Twilio's Elastic SIP trunk would) and calls the number on livekit-sip, offering G.711 μ-law audio
at an RTP endpoint this test runs. The agent is dispatched to the call's room and greets; the
caller asks a spoken question and hears a non-silent answer back over RTP; the call is hung up
with a BYE that SIPp answers; the API's call record is ended, from ``sip``, with the caller's
number as the SIP participant's identity.

Everything is real (Redis, livekit-server, livekit-sip, the worker, the models, the API); only
the phone network is SIPp plus the RTP endpoint (:mod:`auralink.testing.sip_carrier`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api as lk

from auralink.api.livekit_client import open_livekit_api
from auralink.testing.ports import free_port
from auralink.testing.rtp_phone import wav_to_mulaw_frames
from auralink.testing.sip_carrier import carrier, phone_number
from tests.integration.support import sign_in_owner

pytestmark = pytest.mark.integration

SIPP = Path(__file__).resolve().parents[1] / "fixtures" / "sipp"
CARRIER_CALLS = SIPP / "carrier_uac_pcmu.xml"  # the carrier calls in, the room hangs up
CALLEE_ANSWERS = SIPP / "callee_uas_answer.xml"
CALLEE_BUSY = SIPP / "callee_uas_busy.xml"


async def sip_owner(http: httpx.AsyncClient) -> None:
    await sign_in_owner(http, organisation="SIP Calls", domain="sip.test")


async def attach_number(
    http: httpx.AsyncClient, number: str, agent: str, *, outbound: str = ""
) -> dict[str, Any]:
    """``number`` attached to ``agent`` for inbound calls from this host, or for outbound calls
    through the carrier at ``outbound`` (host:port, UDP)."""
    route = (
        {"outbound": {"address": outbound, "transport": "udp"}}
        if outbound
        else {"inbound": {"allowed_addresses": ["127.0.0.1/32"]}}
    )
    r = await http.post("/v1/phone-numbers", json={"number": number, "agent": agent, **route})
    assert r.status_code == 201, r.text
    attached: dict[str, Any] = r.json()
    return attached


async def ended_call(http: httpx.AsyncClient, room: str, timeout: float) -> dict[str, Any]:
    """The SIP call record of ``room`` once it is no longer active."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = await http.get("/v1/calls", params={"source": "sip"})
        assert r.status_code == 200, r.text
        seen = [c for c in r.json()["items"] if c["room"] == room]
        if seen and seen[0]["status"] != "active":
            return seen[0]
        await asyncio.sleep(1.0)
    raise AssertionError(f"the call in {room} did not end within {timeout:.0f}s: {seen}")


async def call_room(livekit: lk.LiveKitAPI, caller: str, timeout: float) -> str:
    """The room livekit-sip made for ``caller``'s inbound call."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rooms = (await livekit.room.list_rooms(lk.ListRoomsRequest())).rooms
        names = [r.name for r in rooms if r.name.startswith("call-") and caller in r.name]
        if names:
            return names[0]
        await asyncio.sleep(0.5)
    raise AssertionError("no call- room for the caller")


# -- the tests -------------------------------------------------------------------------------------


async def test_a_phone_call_through_the_sip_trunk_reaches_the_agent_and_is_recorded(
    stack: Any, question_wav: Path, tmp_path: Path
) -> None:
    assert "sip" in stack.names, "livekit-sip is not built (scripts/setup.sh step 5), so the stack lacks it"
    s = stack.settings
    number, caller = phone_number("+1555"), phone_number("+1444")
    async with (
        httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http,
        contextlib.aclosing(open_livekit_api(s)) as livekit,
    ):
        await sip_owner(http)
        attached = await attach_number(http, number, "assistant")
        assert attached["inbound_trunk_id"] and attached["dispatch_rule_id"]

        async with carrier(tmp_path, logs=stack.log_tail) as line:
            phone = line.phone
            await line.call(CARRIER_CALLS, sip_port=s.sip_port, number=number, caller=caller)
            # livekit-sip answers once the agent is in the room and listening
            await line.connected(timeout=120)
            room = await call_room(livekit, caller, timeout=30)

            await phone.wait_for_speech(after=0, seconds=0.5, timeout=90)  # the greeting
            await phone.wait_until_quiet(quiet_for=0.8, timeout=60)
            frames = wav_to_mulaw_frames(question_wav)
            phone.queue.extend(frames)
            asked = time.monotonic() + len(frames) * 0.02
            await phone.wait_for_speech(after=asked, seconds=0.5, timeout=90)  # the answer
            await phone.wait_until_quiet(quiet_for=1.0, timeout=60)
            answered_for = phone.loud_since(asked)

            # the far end hangs up: livekit-sip sends the BYE, the carrier answers 200 and is done
            await livekit.room.delete_room(lk.DeleteRoomRequest(room=room))
            assert await line.finished(timeout=60) == 0, line.diagnostics(stack.log_tail)

        assert answered_for >= 0.5
        call = await ended_call(http, room, timeout=120)
        assert (call["status"], call["source"], call["agent"]) == ("ended", "sip", "assistant")
        detail = (await http.get(f"/v1/calls/{call['id']}")).json()
        kinds = {p["identity"]: p["kind"] for p in detail["participants"]}
        assert kinds.get(f"sip_{caller}") == "sip", kinds  # the caller's number keys the call
        assert "agent" in kinds.values(), kinds
        turns = (await http.get(f"/v1/calls/{call['id']}/transcript")).json()["turns"]
        said = [(t["role"], t["speaker"], t["text"].lower()) for t in turns]
        assert any(r == "user" and who == f"sip_{caller}" and "capital" in text for r, who, text in said), (
            said
        )
        assert any(r == "assistant" for r, _, _ in said), said

        assert (await http.delete(f"/v1/phone-numbers/{attached['id']}")).status_code == 204


async def test_an_outbound_call_is_answered_by_the_callee_with_the_agent_and_a_busy_one_is_reported(
    stack: Any, question_wav: Path, tmp_path: Path
) -> None:
    assert "sip" in stack.names, "livekit-sip is not built (scripts/setup.sh step 5), so the stack lacks it"
    s = stack.settings
    number, callee = phone_number("+1555"), phone_number("+1333")
    carrier_port = free_port()  # the "carrier" is SIPp itself: livekit-sip sends the INVITE there
    async with (
        httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=90) as http,
        contextlib.aclosing(open_livekit_api(s)) as livekit,
    ):
        await sip_owner(http)
        attached = await attach_number(http, number, "assistant", outbound=f"127.0.0.1:{carrier_port}")
        assert attached["outbound_trunk_id"]

        async with carrier(tmp_path, logs=stack.log_tail) as line:
            phone = line.phone
            # busy: a result and a call.failed webhook, not an error
            await line.answer(CALLEE_BUSY, port=carrier_port)
            r = await http.post("/v1/calls", json={"to": callee, "from_number_id": attached["id"]})
            assert r.status_code == 201, r.text
            busy = r.json()
            assert (busy["status"], busy["sip_status_code"]) == ("busy", 486), busy
            assert await line.finished(timeout=30) == 0, line.diagnostics(stack.log_tail)

            # answered: the agent is in the call and answers the callee's question
            await line.answer(CALLEE_ANSWERS, port=carrier_port)
            r = await http.post("/v1/calls", json={"to": callee, "from": number, "ringing_timeout_s": 20})
            assert r.status_code == 201, r.text
            call = r.json()
            assert call["status"] == "answered" and call["room"].startswith("call-"), call
            await line.connected(timeout=30)

            if await phone.heard_speech(after=0, seconds=0.5, timeout=60):  # a greeting, if it gives one
                await phone.wait_until_quiet(quiet_for=0.8, timeout=60)
            frames = wav_to_mulaw_frames(question_wav)
            phone.queue.extend(frames)
            asked = time.monotonic() + len(frames) * 0.02
            await phone.wait_for_speech(after=asked, seconds=0.5, timeout=90)  # the answer
            await phone.wait_until_quiet(quiet_for=1.0, timeout=60)

            await livekit.room.delete_room(lk.DeleteRoomRequest(room=call["room"]))
            assert await line.finished(timeout=60) == 0, line.diagnostics(stack.log_tail)

        record = await ended_call(http, call["room"], timeout=120)
        assert (record["status"], record["source"], record["agent"]) == ("ended", "sip", "assistant")
        kinds = {
            p["identity"]: p["kind"]
            for p in (await http.get(f"/v1/calls/{record['id']}")).json()["participants"]
        }
        assert kinds.get(call["participant_identity"]) == "sip", kinds
        assert (await http.delete(f"/v1/phone-numbers/{attached['id']}")).status_code == 204
