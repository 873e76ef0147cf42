"""The bridge without a room: reading up to ``start``, the caller's attributes, DTMF codes, and
what Twilio receives from the room side (real-time pacing, marks, silence skipped, barge-in, and
every other participant mixed into the one stream)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from livekit import rtc

from auralink.telephony import mulaw
from auralink.telephony.bridge import (
    AGENT_BUFFER_S,
    HUMAN_BUFFER_S,
    LEAD_S,
    MediaStreamBridge,
    caller_attributes,
    dtmf_code,
    mix,
    read_start,
)
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


# ---------------------------------------------------------------------------- room -> caller
# The pacer, marks, barge-in and mixing, driven without a room: frames go in where the remote
# tracks would put them, and what Twilio would receive is read off the fake socket.


AGENT = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)
HUMAN = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD)


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


def _tone(hz: float, amplitude: float = 6000) -> np.ndarray:
    """20 ms of a sine at 8 kHz (whole periods, so every frame is the same)."""
    t = np.arange(160) / 8000
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _speech_frame() -> bytes:
    return _tone(400).astype("<i2").tobytes()


AGENT_VOICE = _tone(400)
HUMAN_VOICE = _tone(1000, 5000)


def _media(socket: FakeSocket) -> list[bytes]:
    """The μ-law payload of every media message sent, in order."""
    messages = [json.loads(m) for m in socket.sent]
    return [base64.b64decode(m["media"]["payload"]) for m in messages if m["event"] == "media"]


def _heard(*voices: np.ndarray) -> bytes:
    """What the caller gets when these voices play in one 20 ms frame."""
    return mulaw.encode(mix(list(voices)))


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
    agent = bridge._add_source("TR_agent", agent=True)
    for _ in range(25):  # 0.5 s of speech arrives at once
        bridge._feed(agent, _speech_frame())
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
    agent = bridge._add_source("TR_agent", agent=True)
    human = bridge._add_source("TR_human", agent=False)
    for _ in range(10):  # the agent between turns, and a quiet human
        bridge._feed(agent, bytes(320))
        bridge._feed(human, np.ones(160, dtype="<i2").tobytes())
    await _run_pacer(bridge, 0.3)
    assert socket.timeline == []


async def test_the_caller_interrupting_clears_what_twilio_holds() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    agent = bridge._add_source("TR_agent", agent=True)
    for _ in range(100):  # 2 s of reply queued
        bridge._feed(agent, _speech_frame())
    pacer = asyncio.create_task(bridge._pace())
    await asyncio.sleep(0.2)
    bridge._caller_voice_at = time.monotonic()  # the caller talks...
    bridge._on_attributes({"lk.agent.state": "listening"}, AGENT)  # type: ignore[arg-type]  # ...the agent stops
    await asyncio.sleep(0.3)
    bridge._feed(agent, _speech_frame())  # a frame still in flight from the cut reply
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


async def test_an_agent_and_a_human_are_mixed_into_one_stream() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    agent = bridge._add_source("TR_agent", agent=True)
    human = bridge._add_source("TR_human", agent=False)
    for _ in range(10):  # both talk over each other for 0.2 s
        bridge._feed(agent, AGENT_VOICE.tobytes())
        bridge._feed(human, HUMAN_VOICE.tobytes())
    await _run_pacer(bridge, 0.5)
    # one stream at real time: each 20 ms frame carries both voices, none is sent twice as long
    assert _media(socket) == [_heard(AGENT_VOICE, HUMAN_VOICE)] * 10
    assert bridge.stats.media_out == 10


def test_voices_louder_together_than_16_bits_are_clipped_not_wrapped() -> None:
    loud = np.full(160, 30000, dtype=np.int16)
    assert mix([loud, loud]).tolist() == [32767] * 160
    assert mix([-loud, -loud]).tolist() == [-32768] * 160
    assert mix([loud, -loud]).tolist() == [0] * 160


class FakeTrack:
    """A remote audio track whose stream yields ``seconds`` of a tone in 10 ms 48 kHz frames."""

    kind = rtc.TrackKind.KIND_AUDIO

    def __init__(self, sid: str, *, hz: float, seconds: float) -> None:
        self.sid = sid
        t = np.arange(int(48000 * seconds)) / 48000
        self.pcm = (5000 * np.sin(2 * np.pi * hz * t)).astype("<i2")
        self.closed = False


class FakeStream:
    """``rtc.AudioStream`` over a :class:`FakeTrack`, at real-time pace."""

    def __init__(self, track: FakeTrack) -> None:
        self.track = track

    def __aiter__(self) -> AsyncIterator[SimpleNamespace]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[SimpleNamespace]:
        for offset in range(0, self.track.pcm.size, 480):
            chunk = self.track.pcm[offset : offset + 480]
            yield SimpleNamespace(frame=rtc.AudioFrame(chunk.tobytes(), 48000, 1, chunk.size))
            await asyncio.sleep(0.010)

    async def aclose(self) -> None:
        self.track.closed = True


@pytest.fixture
def fake_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtc.AudioStream, "from_track", lambda *, track, **_: FakeStream(track))


@pytest.mark.usefixtures("fake_streams")
async def test_a_room_with_only_a_human_is_heard_by_the_caller() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    track = FakeTrack("TR_human", hz=1000, seconds=0.6)
    bridge._on_track(track, None, HUMAN)  # type: ignore[arg-type]
    await _run_pacer(bridge, 1.0)
    media = [s.at for s in socket.timeline if s.event == "media"]
    assert len(media) >= 28  # 0.6 s of voice: 30 frames (the resampler holds back a few samples)
    assert media[-1] - media[0] >= 0.4  # at the voice's own pace
    heard = b"".join(mulaw.decode(m) for m in _media(socket))
    assert mulaw.rms(heard) > 2500  # the tone, not a whisper of it (5000 peak: RMS ~3500)
    assert [s.event for s in socket.timeline if s.event != "media"] == []  # marks follow agents only
    bridge._on_track_gone(track, None, HUMAN)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert track.closed and not bridge._sources
    await bridge.aclose()


async def test_clearing_the_agent_keeps_the_human_talking() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    agent = bridge._add_source("TR_agent", agent=True)
    human = bridge._add_source("TR_human", agent=False)

    async def talk() -> None:  # at real time: the human for 0.8 s, the agent until just after the cut
        for i in range(40):
            if i < 20:
                bridge._feed(agent, AGENT_VOICE.tobytes())
            bridge._feed(human, HUMAN_VOICE.tobytes())
            await asyncio.sleep(0.020)

    pacer = asyncio.create_task(bridge._pace())
    talking = asyncio.create_task(talk())
    for _ in range(20):  # and 0.4 s more of the agent's reply arrives at once
        bridge._feed(agent, AGENT_VOICE.tobytes())
    await asyncio.sleep(0.3)
    bridge._caller_voice_at = time.monotonic()  # the caller talks...
    bridge._on_attributes({"lk.agent.state": "listening"}, AGENT)  # type: ignore[arg-type]  # ...the agent stops
    await talking
    await asyncio.sleep(0.2)
    pacer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pacer
    await bridge.aclose()

    events = [json.loads(m)["event"] for m in socket.sent]
    assert events.count("clear") == 1 and "mark" not in events
    cut = events.index("clear")
    before = _media(SimpleNamespace(sent=socket.sent[:cut]))  # type: ignore[arg-type]
    after = _media(SimpleNamespace(sent=socket.sent[cut:]))  # type: ignore[arg-type]
    assert _heard(AGENT_VOICE, HUMAN_VOICE) in before  # (some frames carry the agent's backlog alone)
    assert set(before) <= {_heard(AGENT_VOICE, HUMAN_VOICE), _heard(AGENT_VOICE)}
    # the agent's buffered reply and the audio still in flight are gone; the human goes on
    assert len(after) >= 10 and set(after) == {_heard(HUMAN_VOICE)}


async def test_a_source_that_stops_adds_silence_to_the_mix() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    agent = bridge._add_source("TR_agent", agent=True)
    human = bridge._add_source("TR_human", agent=False)
    for i in range(15):
        bridge._feed(agent, AGENT_VOICE.tobytes())
        if i < 5:  # the human says a word and stops
            bridge._feed(human, HUMAN_VOICE.tobytes())
    await _run_pacer(bridge, 0.6)
    assert _media(socket) == [_heard(AGENT_VOICE, HUMAN_VOICE)] * 5 + [_heard(AGENT_VOICE)] * 10


async def test_buffers_stay_bounded_and_keep_the_newest_audio() -> None:
    socket = TimedSocket()
    bridge = _bridge(socket)
    human = bridge._add_source("TR_human", agent=False)
    voices = [_tone(1000, 1000 + 200 * i) for i in range(100)]  # 2 s, each frame told apart by level
    for voice in voices:  # a stalled loop hands over 2 s at once
        bridge._feed(human, voice.tobytes())
    kept = round(HUMAN_BUFFER_S / 0.020)
    assert len(human.frames) == kept and bridge.stats.overflow == 100 - kept
    agent = bridge._add_source("TR_agent", agent=True)
    bridge._on_attributes({"lk.agent.state": "speaking"}, AGENT)  # type: ignore[arg-type]
    for _ in range(100):
        bridge._feed(agent, AGENT_VOICE.tobytes())
    assert len(agent.frames) == round(AGENT_BUFFER_S / 0.020)
    agent.clear()
    await _run_pacer(bridge, 0.5)
    # the caller hears the last 200 ms the human said, not 2 s of backlog
    assert _media(socket) == [_heard(voice) for voice in voices[-kept:]]
