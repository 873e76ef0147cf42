"""A phone call through the SIP trunk path, end to end: an organisation attaches a number to its
agent through the API (LiveKit inbound trunk + dispatch rule), then SIPp plays the carrier (as
Twilio's Elastic SIP trunk would) and calls the number on livekit-sip, offering G.711 μ-law audio
at an RTP endpoint this test runs. The agent is dispatched to the call's room and greets; the
caller asks a spoken question and hears a non-silent answer back over RTP; the call is hung up
with a BYE that SIPp answers; the API's call record is ended, from ``sip``, with the caller's
number as the SIP participant's identity.

Everything is real (Redis, livekit-server, livekit-sip, the worker, the models, the API); only
the phone network is SIPp plus this file's RTP endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api as lk

from auralink.testing.ports import free_port
from auralink.testing.rtp_phone import RtpPhone, wav_to_mulaw_frames

pytestmark = pytest.mark.integration

SIPP = Path(__file__).resolve().parents[1] / "fixtures" / "sipp"
SCENARIO = SIPP / "carrier_uac_pcmu.xml"
PASSWORD = "correct horse battery staple"


# -- helpers ---------------------------------------------------------------------------------------


async def _owner(http: httpx.AsyncClient) -> None:
    email = f"owner-{secrets.token_hex(4)}@sip.test"
    body = {"name": "SIP Calls", "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
    r = await http.post("/v1/organisations", json=body)
    assert r.status_code == 201, r.text
    r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text


async def _media_address(path: Path, sipp: asyncio.subprocess.Process, timeout: float) -> tuple[str, int]:
    """livekit-sip's RTP address from its 200 OK, as the scenario wrote it (once the agent joined)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert sipp.returncode is None, f"sipp exited ({sipp.returncode}) before the call was answered"
        assert time.monotonic() < deadline, f"livekit-sip did not answer within {timeout:.0f}s"
        await asyncio.sleep(0.2)
    *_, host, port = path.read_text().split()
    return host, int(port)


async def _ended_call(http: httpx.AsyncClient, room: str, timeout: float) -> dict[str, Any]:
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


async def _call_room(livekit: lk.LiveKitAPI, caller: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rooms = (await livekit.room.list_rooms(lk.ListRoomsRequest())).rooms
        names = [r.name for r in rooms if r.name.startswith("call-") and caller in r.name]
        if names:
            return names[0]
        await asyncio.sleep(0.5)
    raise AssertionError("no call- room for the caller")


async def _sipp_callee(scenario: str, *, port: int, rtp_port: int, run: Path) -> asyncio.subprocess.Process:
    """SIPp as the callee behind the carrier (UAS), listening on ``port``, answering one call."""
    return await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(SIPP / scenario), "-m", "1", "-i", "127.0.0.1", "-p", str(port),
        "-key", "rtp_host", "127.0.0.1", "-key", "rtp_port", str(rtp_port),
        "-key", "media_file", str(run / "callee_media.txt"),
        "-nostdin", "-timeout", "400s", "-trace_err", "-error_file", str(run / "sipp_errors.log"),
        "-trace_msg", "-message_file", str(run / "sipp_messages.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=run,
    )  # fmt: skip


def _diagnostics(stack: Any, run: Path) -> str:
    parts = [
        f"--- {name}.log\n" + "\n".join(line[:300] for line in stack.log_tail(name, 30))
        for name in ("sip", "worker")
    ]
    for name in ("sipp_errors.log", "sipp_messages.log"):
        path = run / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text()[-3000:]}")
    return "\n".join(parts)


# -- the test --------------------------------------------------------------------------------------


async def test_a_phone_call_through_the_sip_trunk_reaches_the_agent_and_is_recorded(
    stack: Any, question_wav: Path, tmp_path: Path
) -> None:
    assert "sip" in stack.names, "livekit-sip is not built (scripts/setup.sh step 5), so the stack lacks it"
    s = stack.settings
    number = "+1555" + str(secrets.randbelow(10**7)).zfill(7)
    caller = "+1444" + str(secrets.randbelow(10**7)).zfill(7)
    livekit = lk.LiveKitAPI(
        s.livekit_url.replace("ws://", "http://"), s.livekit_api_key, s.livekit_api_secret.get_secret_value()
    )
    loop = asyncio.get_running_loop()
    transport, phone = await loop.create_datagram_endpoint(RtpPhone, local_addr=("127.0.0.1", 0))
    sender = asyncio.create_task(phone.send_forever())
    sipp: asyncio.subprocess.Process | None = None
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        try:
            await _owner(http)
            r = await http.post(
                "/v1/phone-numbers",
                json={
                    "number": number,
                    "agent": "assistant",
                    "inbound": {"allowed_addresses": ["127.0.0.1/32"]},
                },
            )
            assert r.status_code == 201, r.text
            attached = r.json()
            assert attached["inbound_trunk_id"] and attached["dispatch_rule_id"]

            media_file = tmp_path / "media.txt"
            sipp = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{s.sip_port}", "-sf", str(SCENARIO), "-m", "1",
                "-i", "127.0.0.1", "-p", str(free_port()), "-s", number,
                "-key", "caller", caller, "-key", "rtp_host", "127.0.0.1",
                "-key", "rtp_port", str(transport.get_extra_info("sockname")[1]),
                "-key", "media_file", str(media_file),
                "-nostdin", "-timeout", "400s", "-trace_err", "-error_file", str(tmp_path / "sipp_errors.log"),
                "-trace_msg", "-message_file", str(tmp_path / "sipp_messages.log"),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=tmp_path,
            )  # fmt: skip
            # livekit-sip answers once the agent is in the room and listening
            phone.peer = await _media_address(media_file, sipp, timeout=120)
            room = await _call_room(livekit, caller, timeout=30)

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
            assert await asyncio.wait_for(sipp.wait(), timeout=60) == 0, _diagnostics(stack, tmp_path)
            sipp = None
        except BaseException:
            print(_diagnostics(stack, tmp_path))
            raise
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            transport.close()
            if sipp is not None and sipp.returncode is None:
                sipp.kill()
                await sipp.wait()
            await livekit.aclose()

        assert answered_for >= 0.5
        call = await _ended_call(http, room, timeout=120)
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
    number = "+1555" + str(secrets.randbelow(10**7)).zfill(7)
    callee = "+1333" + str(secrets.randbelow(10**7)).zfill(7)
    carrier_port = free_port()  # the "carrier" is SIPp itself: livekit-sip sends the INVITE there
    livekit = lk.LiveKitAPI(
        s.livekit_url.replace("ws://", "http://"), s.livekit_api_key, s.livekit_api_secret.get_secret_value()
    )
    loop = asyncio.get_running_loop()
    transport, phone = await loop.create_datagram_endpoint(RtpPhone, local_addr=("127.0.0.1", 0))
    rtp_port = transport.get_extra_info("sockname")[1]
    sender = asyncio.create_task(phone.send_forever())
    sipp: asyncio.subprocess.Process | None = None
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=90) as http:
        try:
            await _owner(http)
            r = await http.post(
                "/v1/phone-numbers",
                json={
                    "number": number,
                    "agent": "assistant",
                    "outbound": {"address": f"127.0.0.1:{carrier_port}", "transport": "udp"},
                },
            )
            assert r.status_code == 201, r.text
            attached = r.json()
            assert attached["outbound_trunk_id"]

            # busy: a result and a call.failed webhook, not an error
            sipp = await _sipp_callee(
                "callee_uas_busy.xml", port=carrier_port, rtp_port=rtp_port, run=tmp_path
            )
            await asyncio.sleep(0.5)  # SIPp binds its port
            r = await http.post("/v1/calls", json={"to": callee, "from_number_id": attached["id"]})
            assert r.status_code == 201, r.text
            busy = r.json()
            assert (busy["status"], busy["sip_status_code"]) == ("busy", 486), busy
            assert await asyncio.wait_for(sipp.wait(), timeout=30) == 0, _diagnostics(stack, tmp_path)

            # answered: the agent is in the call and answers the callee's question
            sipp = await _sipp_callee(
                "callee_uas_answer.xml", port=carrier_port, rtp_port=rtp_port, run=tmp_path
            )
            await asyncio.sleep(0.5)
            r = await http.post("/v1/calls", json={"to": callee, "from": number, "ringing_timeout_s": 20})
            assert r.status_code == 201, r.text
            call = r.json()
            assert call["status"] == "answered" and call["room"].startswith("call-"), call
            phone.peer = await _media_address(tmp_path / "callee_media.txt", sipp, timeout=30)

            await phone.heard_speech(after=0, seconds=0.5, timeout=60)  # a greeting, if the agent gives one
            await phone.wait_until_quiet(quiet_for=0.8, timeout=60)
            frames = wav_to_mulaw_frames(question_wav)
            phone.queue.extend(frames)
            asked = time.monotonic() + len(frames) * 0.02
            await phone.wait_for_speech(after=asked, seconds=0.5, timeout=90)  # the answer
            await phone.wait_until_quiet(quiet_for=1.0, timeout=60)

            await livekit.room.delete_room(lk.DeleteRoomRequest(room=call["room"]))
            assert await asyncio.wait_for(sipp.wait(), timeout=60) == 0, _diagnostics(stack, tmp_path)
            sipp = None
        except BaseException:
            print(_diagnostics(stack, tmp_path))
            raise
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            transport.close()
            if sipp is not None and sipp.returncode is None:
                sipp.kill()
                await sipp.wait()
            await livekit.aclose()

        record = await _ended_call(http, call["room"], timeout=120)
        assert (record["status"], record["source"], record["agent"]) == ("ended", "sip", "assistant")
        kinds = {
            p["identity"]: p["kind"]
            for p in (await http.get(f"/v1/calls/{record['id']}")).json()["participants"]
        }
        assert kinds.get(call["participant_identity"]) == "sip", kinds
        assert (await http.delete(f"/v1/phone-numbers/{attached['id']}")).status_code == 204
