"""A phone call through Twilio Media Streams, end to end on the real stack.

The test plays Twilio: it posts the signed voice webhook, opens the Stream URL from the TwiML
over a real WebSocket, sends ``connected`` and ``start``, streams the spoken question as μ-law
20 ms frames in real time (silence around it, as Twilio streams a quiet line), and hears the
agent's greeting and answer as ``media`` frames; then it sends a DTMF digit and a mark and hangs
up with ``stop``. A hidden observer in the room checks what agents see: the caller's attributes,
the DTMF digit as ``sip_dtmf_received``, and the caller leaving when the socket stops.

A second test puts a human in the call's room (as a share link would) and checks that the phone
caller hears that human, not only the agent: the bridge mixes every other participant. Its agent is
the note-taker, which has no greeting and, with two people in the room, speaks only when addressed:
everything loud the caller hears is the guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from livekit import api, rtc

from auralink.telephony import mulaw
from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.twilio_client import LOUD_RMS, TwilioStreamClient, answer_call
from tests.integration.test_call_records import _ended_call

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
CALLER = "+14155550123"


async def _org(http: httpx.AsyncClient, email: str) -> str:
    body = {"name": "Phone Line", "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
    r = await http.post("/v1/organisations", json=body)
    assert r.status_code == 201, r.text
    org: str = r.json()["organisation"]["id"]
    return org


def _observer_token(settings: Any, room: str) -> str:
    grants = api.VideoGrants(room_join=True, room=room, hidden=True, can_publish=False, can_subscribe=True)
    secret = settings.livekit_api_secret.get_secret_value()
    return (
        api.AccessToken(settings.livekit_api_key, secret)
        .with_identity("observer")
        .with_grants(grants)
        .to_jwt()
    )


async def _until(predicate: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {timeout:.0f} s")


async def test_a_twilio_media_stream_call_talks_with_the_agent(stack: Any, question_wav: Path) -> None:
    s = stack.settings
    api_url = f"http://{s.api_host}:{s.api_port}"
    call_sid = "CA" + secrets.token_hex(16)
    owner = f"owner-{int(time.time() * 1000)}@twilio.test"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        org = await _org(http, owner)
    twiml = await answer_call(
        api_url=api_url,
        path=f"/v1/telephony/twilio/voice?agent=assistant&org={org}",
        auth_token=os.environ["TWILIO_AUTH_TOKEN"],
        call_sid=call_sid,
        caller=CALLER,
    )
    assert twiml.url == f"ws://{s.api_host}:{s.api_port}/v1/telephony/twilio/media"
    assert twiml.parameters["agent"] == "assistant" and twiml.parameters["caller"] == CALLER

    observer = rtc.Room()
    digits: list[tuple[int, str, str]] = []
    left: list[str] = []
    observer.on(
        "sip_dtmf_received",
        lambda d: digits.append((d.code, d.digit, d.participant.identity if d.participant else "")),
    )
    observer.on("participant_disconnected", lambda p: left.append(p.identity))
    room = f"twilio-{call_sid}"

    opened = time.monotonic()
    async with TwilioStreamClient(url=twiml.url, call_sid=call_sid, parameters=twiml.parameters) as call:
        quiet_line = asyncio.create_task(call.silence(600))
        try:
            greeting = await call.wait_for_audio(after=0, timeout=120)
            await call.wait_until_quiet(quiet_for=0.8, timeout=60)

            await observer.connect(
                s.livekit_url, _observer_token(s, room), rtc.RoomOptions(auto_subscribe=False)
            )
            caller = observer.remote_participants.get(room)
            assert caller is not None, list(observer.remote_participants)
            assert caller.attributes["sip.phoneNumber"] == CALLER
            assert caller.attributes["auralink.source"] == "twilio-media-streams"
            assert caller.attributes["twilio.callSid"] == call_sid

            quiet_line.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await quiet_line
            asked = await call.play(read_wav_16k(question_wav), rate=16000)
            quiet_line = asyncio.create_task(call.silence(600))
            answered = await call.wait_for_audio(after=asked, timeout=120)
            await call.wait_until_quiet(quiet_for=1.0, timeout=90)
        finally:
            quiet_line.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await quiet_line

        # the answer is real speech at telephone level, paced like a call (not dumped at once)
        reply = [r for r in call.media() if r.at >= answered]
        loud = [r for r in reply if r.loud]
        assert len(loud) >= 25, f"{len(loud)} audible 20 ms frames in the answer"  # >= 0.5 s of speech
        assert mulaw.rms(b"".join(r.pcm for r in loud)) > 1000
        span = reply[-1].at - reply[0].at
        assert span >= 0.6 * len(reply) * 0.020, f"{len(reply)} frames arrived in {span:.2f} s"
        assert greeting < asked < answered
        logging.getLogger(__name__).info(
            "greeting heard %.2f s after the socket opened; answer %.2f s after the question ended",
            greeting - opened,
            answered - asked,
        )

        # each agent turn is followed by a mark; echo them as Twilio does once played
        await _until(lambda: len(call.marks()) >= 2, timeout=10, what="a mark after each agent turn")
        for name in call.marks():
            await call.mark(name)

        await call.dtmf("5")
        await _until(lambda: bool(digits), timeout=15, what="the DTMF digit reaching the room")
        assert digits[0] == (5, "5", room)

        await call.stop()
        await asyncio.wait_for(call.closed.wait(), timeout=30)
        assert call.close_code == 1000
    await _until(lambda: room in left, timeout=30, what="the caller leaving the room")
    await observer.disconnect()

    # the hang-up ends the call record: source twilio, the caller's number keyed, both sides' lines
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        r = await http.post("/v1/auth/login", json={"email": owner, "password": PASSWORD})
        assert r.status_code == 200, r.text
        record = await _ended_call(http, room, timeout=180)
        assert record["source"] == "twilio" and record["agent"] == "assistant", record
        detail = (await http.get(f"/v1/calls/{record['id']}")).json()
        assert room in {p["identity"] for p in detail["participants"]}, detail["participants"]
        turns = (await http.get(f"/v1/calls/{record['id']}/transcript")).json()["turns"]
        said = [(t["role"], t["text"].lower()) for t in turns]
        assert any(role == "user" and "capital" in text for role, text in said), said
        assert any(role == "assistant" for role, _ in said), said


def _guest_token(settings: Any, room: str) -> str:
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    secret = settings.livekit_api_secret.get_secret_value()
    return (
        api.AccessToken(settings.livekit_api_key, secret)
        .with_identity("guest")
        .with_name("Guest")
        .with_grants(grants)
        .to_jwt()
    )


def _loud_frames(speech: np.ndarray) -> int:
    """How many 20 ms frames of 16 kHz speech a caller would count as audible."""
    frames = speech[: speech.size - speech.size % 320].reshape(-1, 320).astype(np.float64)
    return int((np.sqrt((frames**2).mean(axis=1)) > LOUD_RMS).sum())


async def test_a_media_streams_caller_hears_a_human_in_the_room(
    stack: Any, second_question_wav: Path
) -> None:
    s = stack.settings
    api_url = f"http://{s.api_host}:{s.api_port}"
    call_sid = "CA" + secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        org = await _org(http, f"owner-{int(time.time() * 1000)}@mixing.twilio.test")
    twiml = await answer_call(
        api_url=api_url,
        path=f"/v1/telephony/twilio/voice?agent=notetaker&org={org}",
        auth_token=os.environ["TWILIO_AUTH_TOKEN"],
        call_sid=call_sid,
        caller=CALLER,
    )
    room = f"twilio-{call_sid}"
    speech = read_wav_16k(second_question_wav)

    async with TwilioStreamClient(url=twiml.url, call_sid=call_sid, parameters=twiml.parameters) as call:
        quiet_line = asyncio.create_task(call.silence(600))
        try:
            async with VoiceClient(url=s.livekit_url, token=_guest_token(s, room), listen=False) as guest:
                await asyncio.sleep(2.0)  # the bridge subscribes to the guest's microphone
                await guest.say(speech)
                started, ended = guest.first_speech_sent_at, guest.last_speech_sent_at
                await asyncio.sleep(1.5)  # the tail of the utterance reaches the phone
                agent_states = list(guest.agent_states)
            await call.stop()
            await asyncio.wait_for(call.closed.wait(), timeout=30)
        finally:
            quiet_line.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await quiet_line

    # what the caller heard was the guest: the agent never spoke, the line was silent until the
    # guest did, and then it carried the guest's words
    assert not [state for _, state in agent_states if state == "speaking"], agent_states
    assert not [r for r in call.media() if r.at < started and r.loud], "the caller heard something else"
    window = (started, ended + 1.5)
    loud = [r for r in call.media() if window[0] <= r.at <= window[1] and r.loud]
    assert loud, "the caller heard nothing while the guest spoke"
    delay = loud[0].at - started
    # 0.07 s when the machine is idle; the bound is generous for a loaded CI machine
    assert delay < 2.0, f"the guest's first words reached the caller {delay:.2f} s after they were said"
    # most of the utterance, at its own pace (not a burst, not a fragment)
    expected = _loud_frames(speech)
    assert len(loud) >= 0.6 * expected, f"{len(loud)} audible frames of {expected} spoken"
    span = loud[-1].at - loud[0].at
    assert span >= 0.7 * (ended - started), f"audible for {span:.2f} s of a {ended - started:.2f} s utterance"
    logging.getLogger(__name__).info(
        "guest heard by the caller after %.2f s; %d of %d audible frames over %.2f s",
        delay,
        len(loud),
        expected,
        span,
    )
