"""``TrackRecorder``: a listener that subscribes to other participants' audio tracks by name and
records, per (participant, track name), when each 10 ms of it was loud. Tests of spoken
translation use it to hear ``auralink-translation-<lang>`` apart from the agent's own voice."""

from __future__ import annotations

__all__ = ["TrackRecorder"]

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

from auralink.core.tasks import TaskSet

SAMPLE_RATE = 16000
SILENCE_RMS = 300.0  # int16 RMS below this counts as silence
_FRAME_S = 0.01


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


@dataclass
class TrackRecorder:
    """Joins with ``auto_subscribe`` off and subscribes to the audio tracks ``wanted`` accepts
    (``wanted(participant, track_name)``), as a client choosing a track by its name does."""

    wanted: Callable[[rtc.RemoteParticipant, str], bool]
    room: rtc.Room = field(default_factory=rtc.Room)
    loud: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # arrival of loud 10 ms
    subscribed: list[tuple[str, str]] = field(default_factory=list)
    _tasks: TaskSet = field(default_factory=TaskSet)

    async def join(self, url: str, token: str) -> None:
        self.room.on("track_published", self._on_published)
        self.room.on("track_subscribed", self._on_subscribed)
        await self.room.connect(url, token, rtc.RoomOptions(auto_subscribe=False))
        for who in self.room.remote_participants.values():
            for publication in who.track_publications.values():
                self._on_published(publication, who)

    async def aclose(self) -> None:
        await self._tasks.aclose()
        await self.room.disconnect()

    def _on_published(self, publication: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant) -> None:
        if publication.kind == rtc.TrackKind.KIND_AUDIO and self.wanted(who, publication.name):
            publication.set_subscribed(True)

    def _on_subscribed(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        key = (who.identity, publication.name)
        self.subscribed.append(key)
        self._tasks.spawn(self._record(track, self.loud.setdefault(key, [])))

    async def _record(self, track: rtc.Track, loud: list[float]) -> None:
        stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1, frame_size_ms=10)
        try:
            async for ev in stream:
                if _rms(np.frombuffer(ev.frame.data, dtype=np.int16)) > SILENCE_RMS:
                    loud.append(time.monotonic())
        finally:
            await stream.aclose()

    def loud_seconds(self, track_name: str, *, after: float = 0.0) -> float:
        """How long tracks named ``track_name`` were loud after ``after`` (monotonic), in seconds."""
        return sum(
            _FRAME_S * sum(1 for at in times if at > after)
            for (_who, name), times in self.loud.items()
            if name == track_name
        )

    def first_loud(self, track_name: str, *, after: float = 0.0) -> float | None:
        starts = [
            at for (_w, name), times in self.loud.items() if name == track_name for at in times if at > after
        ]
        return min(starts) if starts else None

    async def wait_for_loud(self, track_name: str, *, after: float, timeout: float) -> float:
        """Arrival time of the first loud 10 ms on ``track_name`` after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.first_loud(track_name, after=after)
            if at is not None:
                return at
            await asyncio.sleep(0.05)
        raise TimeoutError(f"nothing loud on {track_name} within {timeout:.0f} s; tracks: {self.subscribed}")
