"""The bridge without a room: reading up to ``start``, the caller's attributes, DTMF codes, and
what Twilio receives from the agent side (real-time pacing, marks, silence skipped, barge-in)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from livekit import rtc

from auralink.telephony import mulaw
from auralink.telephony.bridge import LEAD_S, MediaStreamBridge, caller_attributes, dtmf_code, read_start
from auralink.telephony.mediastreams import MediaStreamError, StreamParser, UnsupportedMediaFormat
from tests.unit.telephony.test_mediastreams import CONNECTED, MEDIA, START


class FakeSocket:
    """A Media Streams socket that plays ``messages`` then stays open (or closes)."""

    def __init__(self, messages: list[str], *, then_close: bool = True) -> None:
        self.messages = list(messages)
        self.then_close = then_close
        self.sent: list[str] = []
        self.closed = False

    async def receive_text(self) -> str | None:
        if self.messages:
            return self.messages.pop(0)
        if self.then_close:
            return None
        await asyncio.sleep(3600)
        return None

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True


async def test_read_start_skips_connected_and_bad_lines() -> None:
    socket = FakeSocket([json.dumps(CONNECTED), "{oops", json.dumps(START)])
    start = await read_start(socket, StreamParser())
    assert start is not None and start.start.call_sid.startswith("CA")


async def test_read_start_is_none_when_twilio_hangs_up_first() -> None:
    assert await read_start(FakeSocket([json.dumps(CONNECTED)]), StreamParser()) is None


async def test_media_before_start_is_a_protocol_error() -> None:
    with pytest.raises(MediaStreamError, match="expected 'start'"):
        await read_start(FakeSocket([json.dumps({**MEDIA, "sequenceNumber": "1"})]), StreamParser())


async def test_a_start_with_the_wrong_encoding_is_refused() -> None:
    start = {
        **START,
        "start": {
            **START["start"],
            "mediaFormat": {"encoding": "audio/l16", "sampleRate": 8000, "channels": 1},
        },
    }  # type: ignore[dict-item]
    with pytest.raises(UnsupportedMediaFormat):
        await read_start(FakeSocket([json.dumps(start)]), StreamParser())


async def test_no_start_in_time_times_out() -> None:
    with pytest.raises(TimeoutError):
        await read_start(FakeSocket([], then_close=False), StreamParser(), timeout=0.05)


def test_the_caller_number_is_an_attribute_only_in_e164() -> None:
    assert caller_attributes(call_sid="CA1", caller="+14155550100") == {
        "auralink.source": "twilio-media-streams",
        "twilio.callSid": "CA1",
        "sip.phoneNumber": "+14155550100",
    }
    for caller in ("anonymous", "client:alice", "4155550100", "", None):
        assert "sip.phoneNumber" not in caller_attributes(call_sid="CA1", caller=caller)


@pytest.mark.parametrize(("digit", "code"), [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("A", 12), ("d", 15)])
def test_dtmf_codes_follow_rfc_4733(digit: str, code: int) -> None:
    assert dtmf_code(digit) == code


# ---------------------------------------------------------------------------- agent -> caller
# The pacer, marks and barge-in, driven without a room: frames go in where the agent's track
# would put them, and what Twilio would receive is read off the fake socket.


AGENT = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)


@dataclass
class Sent:
    at: float
    event: str


class TimedSocket(FakeSocket):
    def __init__(self) -> None:
        super().__init__([], then_close=False)
        self.timeline: list[Sent] = []

    async def send_text(self, data: str) -> None:
        await super().send_text(data)
        self.timeline.append(Sent(asyncio.get_running_loop().time(), json.loads(data)["event"]))


def _bridge(socket: TimedSocket) -> MediaStreamBridge:
    parser = StreamParser()
    start = parser.parse(json.dumps(START))
    assert start is not None and start.event == "start"
    return MediaStreamBridge(
        socket=socket, parser=parser, start=start, livekit_url="ws://unused", token="unused"
    )  # type: ignore[arg-type]


def _speech_frame() -> bytes:
    t = np.arange(160) / 8000
    return mulaw.encode((6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2"))


async def _run_pacer(bridge: MediaStreamBridge, seconds: float) -> None:
    task = asyncio.create_task(bridge._pace())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_agent_audio_is_paced_in_real_time_and_followed_by_a_mark() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    for _ in range(25):  # 0.5 s of speech arrives at once
        bridge._enqueue(_speech_frame())
    bridge._on_attributes({"lk.agent.state": "listening"}, AGENT)  # type: ignore[arg-type]
    await _run_pacer(bridge, 0.9)
    media = [s.at for s in socket.timeline if s.event == "media"]
    assert len(media) == 25
    first = media[0]
    for i, at in enumerate(media):  # never more than the lead ahead of the wall clock
        assert at - first >= i * 0.020 - LEAD_S - 0.005
    assert media[-1] - first >= 0.4  # spread over the audio's own length, not flooded
    assert [s.event for s in socket.timeline][-1] == "mark"
    assert bridge.stats.marks_sent == 1 and bridge.stats.clears == 0


async def test_silence_between_turns_is_not_sent() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "listening"}, AGENT)  # type: ignore[arg-type]
    for _ in range(10):
        bridge._enqueue(mulaw.silence(160))
    await _run_pacer(bridge, 0.3)
    assert socket.timeline == []


async def test_the_caller_interrupting_clears_what_twilio_holds() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    for _ in range(100):  # 2 s of reply queued
        bridge._enqueue(_speech_frame())
    pacer = asyncio.create_task(bridge._pace())
    await asyncio.sleep(0.2)
    bridge._caller_voice_at = time.monotonic()  # the caller talks...
    bridge._on_attributes({"lk.agent.state": "listening"}, AGENT)  # type: ignore[arg-type]  # ...the agent stops
    await asyncio.sleep(0.3)
    bridge._enqueue(_speech_frame())  # a frame still in flight from the cut reply
    await asyncio.sleep(0.3)
    pacer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pacer
    await bridge.aclose()
    events = [s.event for s in socket.timeline]
    assert "clear" in events
    after_clear = events[events.index("clear") + 1 :]
    assert "media" not in after_clear and "mark" not in after_clear
    assert events.count("media") < 30  # most of the 2 s reply was never sent
    assert bridge.stats.clears == 1
