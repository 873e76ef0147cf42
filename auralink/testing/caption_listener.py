"""``CaptionListener``: a meeting participant that publishes nothing, reads every caption on
``lk.transcription`` (attributed to the owner of ``lk.transcribed_track_id``) with its arrival
time, and counts how long any agent was audible. Meeting tests and ``bench/meeting_bench.py``
use it."""

from __future__ import annotations

__all__ = ["CaptionListener", "SeenCaption"]

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

from auralink.core.tasks import TaskSet

SILENCE_RMS = 300.0


@dataclass
class SeenCaption:
    sender: str
    speaker: str  # the owner of lk.transcribed_track_id, looked up in the room
    attributes: dict[str, str]
    text: str
    at: float


@dataclass
class CaptionListener:
    """A participant that publishes nothing: reads every caption and measures the agent's audio."""

    room: rtc.Room = field(default_factory=rtc.Room)
    captions: list[SeenCaption] = field(default_factory=list)
    agent_loud_s: float = 0.0
    _tasks: TaskSet = field(default_factory=TaskSet)

    async def join(self, url: str, token: str) -> None:
        self.room.register_text_stream_handler("lk.transcription", self._on_caption)
        self.room.on("track_subscribed", self._on_track)
        await self.room.connect(url, token, rtc.RoomOptions(auto_subscribe=True))

    async def aclose(self) -> None:
        await self._tasks.aclose()
        await self.room.disconnect()

    def _on_caption(self, reader: rtc.TextStreamReader, sender: str) -> None:
        self._tasks.spawn(self._read(reader, sender))

    async def _read(self, reader: rtc.TextStreamReader, sender: str) -> None:
        attrs = dict(reader.info.attributes or {})
        text = "".join([chunk async for chunk in reader])
        track = attrs.get("lk.transcribed_track_id", "")
        owner = next(
            (
                p.identity
                for p in self.room.remote_participants.values()
                if track and track in p.track_publications
            ),
            "",
        )
        self.captions.append(SeenCaption(sender, owner, attrs, text, time.monotonic()))

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and who.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            self._tasks.spawn(self._measure(track))

    async def _measure(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=16000, num_channels=1)
        try:
            async for ev in stream:
                samples = np.frombuffer(ev.frame.data, dtype=np.int16).astype(np.float64)
                if samples.size and np.sqrt(np.mean(samples**2)) > SILENCE_RMS:
                    self.agent_loud_s += ev.frame.samples_per_channel / 16000
        finally:
            await stream.aclose()

    def finals(self) -> list[SeenCaption]:
        return [c for c in self.captions if c.attributes.get("lk.transcription_final") == "true"]

    def finals_of(self, identity: str, words: tuple[str, ...]) -> list[SeenCaption]:
        return [c for c in self.finals() if c.speaker == identity and any(w in c.text.lower() for w in words)]

    async def wait_for(self, identity: str, words: tuple[str, ...], *, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.finals_of(identity, words)) >= count:
                return
            await asyncio.sleep(0.1)
        seen = [(c.speaker, c.text) for c in self.finals()]
        raise AssertionError(
            f"no {count} final caption(s) of {identity} with {words} in {timeout:.0f}s: {seen}"
        )
