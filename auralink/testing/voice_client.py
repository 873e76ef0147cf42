"""``VoiceClient``: a real LiveKit participant that speaks WAV files and listens to the agent.

It joins a room with a token, publishes a microphone track fed from 16 kHz PCM at real-time pace,
records every audio frame the agent sends (with arrival times), the ``lk.transcription`` captions
of both sides, the agent state attribute, and the agent's ``auralink.metrics`` events. Integration
tests and ``bench/`` use it to measure what a caller hears.
"""

from __future__ import annotations

__all__ = ["Caption", "VoiceClient", "read_wav_16k"]

import asyncio
import contextlib
import json
import time
import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc

from auralink.core.tasks import TaskSet

from .listening import Listening

SAMPLE_RATE = 16000
FRAME_MS = 10
_FRAME = SAMPLE_RATE * FRAME_MS // 1000
SILENCE_RMS = 300.0  # int16 RMS below this counts as silence


def read_wav_16k(path: str | Path) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV as int16 samples."""
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).copy()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


@dataclass
class Caption:
    identity: str
    segment_id: str
    text: str
    final: bool
    received_at: float


@dataclass
class _Heard:
    at: float
    loud: bool


@dataclass
class VoiceClient(Listening):
    """One scripted participant. Use ``async with VoiceClient(url=..., token=...) as c``."""

    url: str
    token: str
    room: rtc.Room = field(default_factory=rtc.Room)
    captions: dict[str, Caption] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    agent_states: list[tuple[float, str]] = field(default_factory=list)
    _heard: list[_Heard] = field(default_factory=list)
    _tasks: TaskSet = field(default_factory=TaskSet)
    _source: rtc.AudioSource | None = None
    _mic: asyncio.Task[None] | None = None
    _speech: asyncio.Queue[np.ndarray] = field(default_factory=asyncio.Queue)
    listen: bool = True  # False: subscribe to nothing (a speaker only; saves decoding others' audio)
    last_speech_sent_at: float = 0.0
    first_speech_sent_at: float = 0.0
    _pending_done: asyncio.Future[float] | None = None

    async def __aenter__(self) -> VoiceClient:
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_attributes_changed", self._on_attributes)
        self.room.on("data_received", self._on_data)
        self.room.register_text_stream_handler("lk.transcription", self._on_transcription)
        await self.room.connect(self.url, self.token, rtc.RoomOptions(auto_subscribe=self.listen))
        self._source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=40)
        track = rtc.LocalAudioTrack.create_audio_track("mic", self._source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, opts)
        self._mic = asyncio.create_task(self._pump_mic(), name="voice-client-mic")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._mic is not None:
            self._mic.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._mic
        await self._tasks.aclose()
        await self.room.disconnect()
        if self._source is not None:
            await self._source.aclose()

    # ------------------------------------------------------------------ speaking
    async def say(self, samples: np.ndarray) -> float:
        """Queue speech on the mic (silence fills the gaps); returns when its last loud frame was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending_done = done
        await self._speech.put(samples)
        result: float = await done
        return result

    async def _pump_mic(self) -> None:
        """Send 10 ms frames at real time: queued speech, otherwise silence."""
        assert self._source is not None
        silence = np.zeros(_FRAME, dtype=np.int16)
        start = time.monotonic()
        sent = 0
        while True:
            chunk: np.ndarray | None = None
            with contextlib.suppress(asyncio.QueueEmpty):
                chunk = self._speech.get_nowait()
            frames = [silence] if chunk is None else _split(chunk)
            loud = [i for i, f in enumerate(frames) if rms(f) > SILENCE_RMS]
            first_loud, last_loud = (loud[0], loud[-1]) if loud else (-1, -1)
            for i, f in enumerate(frames):
                frame = rtc.AudioFrame(f.tobytes(), SAMPLE_RATE, 1, _FRAME)
                await self._source.capture_frame(frame)
                sent += 1
                if i == first_loud:
                    self.first_speech_sent_at = time.monotonic()
                if i == last_loud:
                    self.last_speech_sent_at = time.monotonic()
                # pace: never run ahead of the wall clock
                ahead = start + sent * FRAME_MS / 1000 - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if chunk is not None and self._pending_done is not None and not self._pending_done.done():
                self._pending_done.set_result(self.last_speech_sent_at)

    # ------------------------------------------------------------------ listening
    def _on_track(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.spawn(self._listen(track))

    async def _listen(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1)
        try:
            async for ev in stream:
                samples = np.frombuffer(ev.frame.data, dtype=np.int16)
                self._heard.append(_Heard(time.monotonic(), rms(samples) > SILENCE_RMS))
        finally:
            await stream.aclose()

    def _on_transcription(self, reader: rtc.TextStreamReader, identity: str) -> None:
        self._tasks.spawn(self._read_caption(reader, identity))

    async def _read_caption(self, reader: rtc.TextStreamReader, identity: str) -> None:
        attrs = reader.info.attributes or {}
        seg = attrs.get("lk.segment_id", reader.info.stream_id)
        text = ""
        async for chunk in reader:
            text += chunk
            self.captions[seg] = Caption(identity, seg, text, False, time.monotonic())
        final = attrs.get("lk.transcription_final") == "true"
        self.captions[seg] = Caption(identity, seg, text, final, time.monotonic())

    def _on_attributes(self, changed: dict[str, str], who: rtc.Participant) -> None:
        if "lk.agent.state" in changed:
            self.agent_states.append((time.monotonic(), changed["lk.agent.state"]))

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == "auralink.metrics":
            with contextlib.suppress(ValueError):
                self.metrics.append(json.loads(packet.data))

    # ------------------------------------------------------------------ queries
    @property
    def local_identity(self) -> str:
        return self.room.local_participant.identity

    def agent_captions(self) -> list[Caption]:
        return [c for c in self.captions.values() if c.identity != self.local_identity]

    def user_captions(self) -> list[Caption]:
        return [c for c in self.captions.values() if c.identity == self.local_identity]

    def loud_times(self) -> Iterable[float]:
        return (h.at for h in self._heard if h.loud)

    def loud_seconds_after(self, t: float) -> float:
        return sum(FRAME_MS / 1000 for h in self._heard if h.loud and h.at > t)

    async def wait_for_caption(self, pred: Any, *, timeout: float) -> Caption:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in list(self.captions.values()):
                if pred(c):
                    return c
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no matching caption within {timeout:.0f} s; got {list(self.captions.values())}")


def _split(samples: np.ndarray) -> list[np.ndarray]:
    pad = (-samples.size) % _FRAME
    padded = np.concatenate([samples, np.zeros(pad, dtype=np.int16)]) if pad else samples
    return list(padded.reshape(-1, _FRAME))
