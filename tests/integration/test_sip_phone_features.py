"""Keypad digits, a cold transfer, keys the agent presses and an answering machine on real SIP
calls, end to end.

An organisation's agent ``desk`` (its LLM a scripted endpoint that records what it is sent, its
``phone.transfer_to`` +14155550199) is attached to a number; SIPp plays the carrier
(``carrier_uac_refer.xml``) and calls it, with this file's RTP endpoint as the carrier's media.

- The caller presses 1 2 3 4 # as RFC 4733 telephone-events (payload type 101, offered in the
  carrier's SDP): livekit-sip turns them into ``sip_dtmf_received`` in the room, and the agent
  gets one user turn, "The caller pressed 1 2 3 4 # on the phone keypad.", with the phone tools
  (``transfer_call`` among them) offered to the LLM.
- The caller presses 0; the LLM answers that turn with ``transfer_call`` (no destination: the
  model cannot give one). livekit-sip sends the carrier a REFER whose Refer-To is the agent's
  ``transfer_to``; the carrier accepts it (202, then a NOTIFY with ``SIP/2.0 200 OK``), and
  livekit-sip hangs up its leg with a BYE, so SIPp completes its scenario and exits 0.

On an inbound call (``carrier_uac_pcmu.xml``) the caller's keys make a turn that the LLM answers
with ``send_dtmf("42")``: the agent's ``publish_dtmf`` goes through the room to livekit-sip,
which sends RFC 4733 telephone-events on the carrier's RTP stream, and the RTP endpoint receives
exactly the keys 4 and 2. The agent never listens for an answering machine on an inbound call.

An outbound call (``POST /v1/calls``) is answered by SIPp as the callee (``callee_uas_answer.xml``)
whose RTP endpoint plays a voicemail greeting (``voicemail_greeting.wav``). The agent (no greeting,
``phone.voicemail: leave_message``) hears "you have reached ... not available ... leave a message
after the tone", stays quiet over it, speaks its ``voicemail_message`` once the greeting is over,
then hangs up: SIPp gets the BYE and exits 0, and the call record is ended with the message in
its transcript.

Everything is real (Redis, livekit-server, livekit-sip, the worker, the models, the API); only
the phone network is SIPp plus the RTP endpoint, and the LLM is scripted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api as lk

from auralink.api.livekit_client import open_livekit_api
from auralink.testing.ports import free_port
from auralink.testing.rtp_phone import wav_to_mulaw_frames
from auralink.testing.scripted_llm import ScriptedLLM
from auralink.testing.sip_carrier import carrier, phone_number
from tests.integration.test_sip_call import attach_number, call_room, sip_owner

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFER = FIXTURES / "sipp" / "carrier_uac_refer.xml"  # an inbound call the agent transfers
CARRIER = FIXTURES / "sipp" / "carrier_uac_pcmu.xml"  # an inbound call, hung up by the room
CALLEE = FIXTURES / "sipp" / "callee_uas_answer.xml"  # the callee of an outbound call answers
GREETING_WAV = FIXTURES / "voicemail_greeting.wav"
TRANSFER_TO = "+14155550199"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """Runs in a thread of its own (a sync fixture: its loop must not be the test's)."""
    with ScriptedLLM.serve(reply="Thank you, one moment please.") as scripted:
        yield scripted


def _agent(name: str, llm: ScriptedLLM) -> dict[str, Any]:
    return {
        "name": name,
        "instructions": "You are the front desk on the phone. Answer briefly.",
        "greeting": "Front desk, how can I help?",
        # the scripted endpoint takes any key; PATH is set in every worker's environment
        "llm": {"provider": "openai", "base_url": llm.base_url, "model": "scripted", "api_key_env": "PATH"},
        "phone": {"transfer_to": TRANSFER_TO, "dtmf_timeout_s": 2},
    }


async def _desk(http: httpx.AsyncClient, llm: ScriptedLLM, number: str) -> tuple[str, dict[str, Any]]:
    """A new front-desk agent with ``number`` attached for inbound calls."""
    agent = f"desk-{secrets.token_hex(3)}"
    r = await http.post("/v1/agents", json=_agent(agent, llm))
    assert r.status_code == 201, r.text
    return agent, await attach_number(http, number, agent)


async def _request(llm: ScriptedLLM, ok: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> Any:
    """The first request the LLM got that satisfies ``ok``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = next((r for r in list(llm.requests) if ok(r)), None)
        if found is not None:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"the LLM got no {what} within {timeout:.0f}s ({len(llm.requests)} requests)")


async def _ended_call(http: httpx.AsyncClient, timeout: float) -> dict[str, Any]:
    """The organisation's one SIP call, once its record is no longer active (it is a new org)."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = await http.get("/v1/calls", params={"source": "sip"})
        assert r.status_code == 200, r.text
        seen = r.json()["items"]
        if len(seen) == 1 and seen[0]["status"] != "active":
            return seen[0]
        await asyncio.sleep(1.0)
    raise AssertionError(f"the call did not end within {timeout:.0f}s: {seen}")


async def _logged(stack: Any, service: str, line: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(line in seen for seen in stack.log_tail(service, 400)):
        assert time.monotonic() < deadline, f"{service} did not log {line!r} within {timeout:.0f}s"
        await asyncio.sleep(0.5)


def _users(request: dict[str, Any]) -> list[str]:
    return [json.dumps(m.get("content")) for m in request.get("messages", []) if m.get("role") == "user"]


def _tool_results(request: dict[str, Any]) -> list[str]:
    return [json.dumps(m.get("content")) for m in request.get("messages", []) if m.get("role") == "tool"]


def _tools(request: dict[str, Any]) -> set[str]:
    return {t.get("function", {}).get("name", "") for t in request.get("tools", [])}


# -- keys from the caller, and a cold transfer ------------------------------------------------------


async def test_keys_pressed_on_a_sip_call_reach_the_agent_and_its_transfer_sends_a_refer(
    stack: Any, llm: ScriptedLLM, tmp_path: Path
) -> None:
    assert "sip" in stack.names, "livekit-sip is not built (scripts/setup.sh step 5), so the stack lacks it"
    s = stack.settings
    number, caller = phone_number("+1555"), phone_number("+1444")
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sip_owner(http)
        agent, attached = await _desk(http, llm, number)

        async with carrier(tmp_path, logs=stack.log_tail) as line:
            phone = line.phone
            refer_file = tmp_path / "refer_to.txt"
            await line.call(
                REFER, sip_port=s.sip_port, number=number, caller=caller, keys={"refer_file": str(refer_file)}
            )
            # livekit-sip answers once the agent is in the room and listening
            await line.connected(timeout=120)
            await phone.wait_for_speech(after=0, seconds=0.5, timeout=90)  # the greeting
            await phone.wait_until_quiet(quiet_for=0.8, timeout=60)

            # (a) keys in: one user turn with the digits, and the phone tools offered
            await phone.send_dtmf("1234#")
            keyed = await _request(
                llm, lambda r: any("1 2 3 4 #" in u for u in _users(r)), "turn with the keys", timeout=60
            )
            assert any("The caller pressed 1 2 3 4 # on the phone keypad." in u for u in _users(keyed))
            assert {"transfer_call", "send_dtmf", "end_call"} <= _tools(keyed), _tools(keyed)
            await phone.wait_for_speech(after=time.monotonic(), seconds=0.3, timeout=60)  # the reply
            await phone.wait_until_quiet(quiet_for=0.8, timeout=60)

            # (b) the next turn is a cold transfer: a REFER to the agent's transfer_to, then BYE
            # read on every request: from now on the LLM calls the tool (until a tool has answered)
            llm.tool_call = ("transfer_call", {"warm": False, "reason": "The caller asked for a person."})
            await phone.send_dtmf("0")  # an entry of its own after dtmf_timeout_s (2 s)
            await _request(
                llm, lambda r: any("pressed 0 on" in u for u in _users(r)), "second turn", timeout=60
            )
            refer_to = await line.written(refer_file, what="the REFER", timeout=90)
            assert refer_to.strip("<>") in (f"tel:{TRANSFER_TO}", f"sip:{TRANSFER_TO}"), refer_to
            assert await line.finished(timeout=90) == 0, line.diagnostics(stack.log_tail)

        # the transfer went through as far as the agent knows (livekit-sip got the NOTIFY's 200), the
        # job ended, and the call record is closed
        await _logged(stack, "worker", "phone: caller transferred (cold)", timeout=30)
        call = await _ended_call(http, timeout=120)
        assert (call["status"], call["source"], call["agent"]) == ("ended", "sip", agent), call
        assert (await http.delete(f"/v1/phone-numbers/{attached['id']}")).status_code == 204


# -- an answering machine on an outbound call -------------------------------------------------------

VOICEMAIL_MESSAGE = "Hello, this is the front desk calling about your appointment. Please call us back."


async def test_an_answering_machine_on_an_outbound_call_gets_the_message_after_its_greeting_then_a_hang_up(
    stack: Any, llm: ScriptedLLM, tmp_path: Path
) -> None:
    assert "sip" in stack.names, "livekit-sip is not built (scripts/setup.sh step 5), so the stack lacks it"
    s = stack.settings
    number, callee = phone_number("+1555"), phone_number("+1333")
    carrier_port = free_port()  # the "carrier" is SIPp itself: livekit-sip sends the INVITE there
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=90) as http:
        await sip_owner(http)
        agent = f"caller-{secrets.token_hex(3)}"
        spec = {
            "name": agent,
            "instructions": "You call patients about their appointments. Answer briefly.",
            # no greeting: the callee speaks first, and what the agent then says is the message
            "llm": {"provider": "openai", "base_url": llm.base_url, "model": "scripted", "api_key_env": "PATH"},
            "phone": {"voicemail": "leave_message", "voicemail_message": VOICEMAIL_MESSAGE},
        }  # fmt: skip
        r = await http.post("/v1/agents", json=spec)
        assert r.status_code == 201, r.text
        attached = await attach_number(http, number, agent, outbound=f"127.0.0.1:{carrier_port}")

        async with carrier(tmp_path, logs=stack.log_tail) as line:
            phone = line.phone
            await line.answer(CALLEE, port=carrier_port)
            r = await http.post("/v1/calls", json={"to": callee, "from_number_id": attached["id"]})
            assert r.status_code == 201, r.text
            placed = r.json()
            assert placed["status"] == "answered", placed
            room = placed["room"]
            await line.connected(timeout=30)
            # the agent knows the callee is an outbound SIP leg (no dispatch rule) and listens
            await _logged(stack, "worker", f"phone: outbound sip call in room {room}", timeout=60)
            await asyncio.sleep(1.0)  # the agent subscribes to the callee's audio

            # the machine's greeting (Piper, ~6 s); the agent hears it and says nothing over it
            frames = wav_to_mulaw_frames(GREETING_WAV)
            greeting_from = time.monotonic()
            greeting_over = await phone.say(frames)
            assert phone.loud_since(greeting_from) < 0.3, "the agent talked over the greeting"
            await _logged(
                stack, "worker", f"phone: outbound call in room {room} answered by a machine", timeout=60
            )

            # the message is left after the greeting, then the agent hangs up: SIPp gets the BYE
            await phone.wait_for_speech(after=greeting_over, seconds=1.5, timeout=90)
            assert await line.finished(timeout=120) == 0, line.diagnostics(stack.log_tail)
            message_for = phone.loud_since(greeting_over)

        assert message_for >= 1.5, message_for
        await _logged(stack, "worker", f"phone: hung up room {room} (answering machine)", timeout=30)
        call = await _ended_call(http, timeout=120)
        assert (call["status"], call["source"], call["agent"], call["room"]) == ("ended", "sip", agent, room)
        turns = (await http.get(f"/v1/calls/{call['id']}/transcript")).json()["turns"]
        said = [t["text"] for t in turns if t["role"] == "assistant"]
        assert any("call us back" in text for text in said), said
        # the LLM was asked to answer the greeting (a user turn), but nothing it said was spoken
        assert not any(llm.reply in text for text in said), said
        assert (await http.delete(f"/v1/phone-numbers/{attached['id']}")).status_code == 204


# -- the agent presses keys ---------------------------------------------------------------------------


async def test_the_agents_send_dtmf_tool_reaches_the_carrier_as_rfc_4733_events(
    stack: Any, llm: ScriptedLLM, tmp_path: Path
) -> None:
    assert "sip" in stack.names, "livekit-sip is not built (scripts/setup.sh step 5), so the stack lacks it"
    s = stack.settings
    number, caller = phone_number("+1555"), phone_number("+1444")
    async with (
        httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http,
        contextlib.aclosing(open_livekit_api(s)) as livekit,
    ):
        await sip_owner(http)
        _agent_name, attached = await _desk(http, llm, number)

        async with carrier(tmp_path, logs=stack.log_tail) as line:
            phone = line.phone
            await line.call(CARRIER, sip_port=s.sip_port, number=number, caller=caller)
            await line.connected(timeout=120)
            await phone.wait_for_speech(after=0, seconds=0.5, timeout=90)  # the greeting
            await phone.wait_until_quiet(quiet_for=0.8, timeout=60)
            assert phone.received_dtmf == ""

            # the caller's keys make a turn; the LLM answers it with send_dtmf("42")
            llm.tool_call = ("send_dtmf", {"digits": "42"})
            await phone.send_dtmf("9#")
            answered = await _request(llm, lambda r: bool(_tool_results(r)), "tool result", timeout=90)
            assert any("Pressed 4 2." in t for t in _tool_results(answered)), _tool_results(answered)
            # publish_dtmf -> the room -> livekit-sip -> telephone-events on the carrier's RTP stream
            await phone.wait_for_dtmf("42", timeout=30)
            await asyncio.sleep(1.0)  # no stray or repeated keys after them
            assert phone.received_dtmf == "42", phone.received_dtmf

            room = await call_room(livekit, caller, timeout=30)
            await livekit.room.delete_room(lk.DeleteRoomRequest(room=room))
            assert await line.finished(timeout=60) == 0, line.diagnostics(stack.log_tail)

        call = await _ended_call(http, timeout=120)
        assert (call["status"], call["room"]) == ("ended", room), call
        # an inbound call: the agent never listened for an answering machine
        worker = stack.log_tail("worker", 2000)
        assert any(f"phone: inbound sip call in room {room}" in line for line in worker)
        assert not any(f"in room {room} answered by a" in line for line in worker)
        assert (await http.delete(f"/v1/phone-numbers/{attached['id']}")).status_code == 204
