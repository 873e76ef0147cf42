"""Spoken translation in a group call: one audio track per language in
``meeting.speak_translations``, on which the agent reads every final caption of the other
participants in that language (docs/meetings.md, "Spoken translation").

:class:`SpokenTranslations` publishes, at :meth:`~SpokenTranslations.start`, one
``rtc.LocalAudioTrack`` named ``auralink-translation-<lang>`` per language (source
``SOURCE_UNKNOWN``: clients pick it by name, not as someone's microphone). It is
:class:`~.live_translation.RoomTranslations`' ``on_caption`` listener: :meth:`~SpokenTranslations.heard`
queues each caption in a spoken language (the original when it already is in that language, else
its translation) for that language's :class:`_Voice`, whose one task synthesises the lines in order
with ``spec.translation_voice(lang)`` and plays them at real time (resampled to the track's rate
when the voice sends another). A voice that falls behind drops its oldest waiting lines so that
what a listener hears stays live; one line that fails to synthesise is logged (without its text)
and the next line plays. The agent's own lines are never read again.

:func:`build_spoken_translations` makes the voices; a BYOK voice without its key is a
:class:`~auralink.core.errors.MissingCredential` naming ``meeting.translation_voices.<lang>.api_key_env``.
"""

from __future__ import annotations

__all__ = [
    "TRACK_PREFIX",
    "SpokenTranslations",
    "build_spoken_translations",
    "track_name",
]

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import tts

from auralink.agents.providers import build_tts
from auralink.core import AgentSpec, Settings
from auralink.core.errors import MissingCredential
from auralink.core.spec import BYOKSpec

from .translation import Caption, primary

logger = logging.getLogger("auralink.agents")

TRACK_PREFIX = "auralink-translation-"
_CHARS_PER_S = 15.0  # a rough speaking rate, to estimate how long a waiting line takes to say


def track_name(language: str) -> str:
    """The audio track a listener subscribes to for ``language``: ``auralink-translation-es``."""
    return f"{TRACK_PREFIX}{primary(language)}"


def build_spoken_translations(
    spec: AgentSpec, *, room: rtc.Room, settings: Settings, max_backlog_s: float = 10.0
) -> SpokenTranslations:
    """The voices of ``spec.meeting.speak_translations``; a missing BYOK key is a clear error
    (checked for every language before any voice is made)."""
    blocks = {primary(lang): (lang, spec.translation_voice(lang)) for lang in spec.meeting.speak_translations}
    for lang, block in blocks.values():
        if isinstance(block, BYOKSpec) and block.api_key_env and block.key() is None:
            field = f"meeting.translation_voices.{lang}" if lang in spec.meeting.translation_voices else "tts"
            raise MissingCredential(block.api_key_env, what=f"agent {spec.name!r}: {field}.api_key_env")
    voices = {code: build_tts(block, settings=settings) for code, (_lang, block) in blocks.items()}
    return SpokenTranslations(room=room, voices=voices, max_backlog_s=max_backlog_s)


@dataclass
class _Line:
    line_id: str
    text: str

    @property
    def seconds(self) -> float:
        return len(self.text) / _CHARS_PER_S


class _Voice:
    """One language's track: its queue, its player task, its TTS."""

    def __init__(self, *, language: str, voice: tts.TTS[Any], max_backlog_s: float, max_lines: int) -> None:
        self.language, self.voice = language, voice
        self.source = rtc.AudioSource(voice.sample_rate, voice.num_channels, queue_size_ms=500)
        self.track = rtc.LocalAudioTrack.create_audio_track(track_name(language), self.source)
        self.publication: rtc.LocalTrackPublication | None = None
        self._max_backlog_s, self._max_lines = max_backlog_s, max_lines
        self._queue: deque[_Line] = deque()
        self._ready = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()  # line ids queued once, newest last
        self._resampler: rtc.AudioResampler | None = None
        self._resampler_rate = 0
        self.task: asyncio.Task[None] | None = None
        self.spoken = 0  # lines played through
        self.dropped = 0  # lines dropped to stay live
        self.failed = 0  # lines the voice could not say

    def start(self) -> None:
        self.task = asyncio.create_task(self._play(), name=f"spoken-translation-{self.language}")

    def queue(self, line: _Line) -> None:
        if line.line_id in self._seen:  # one line, one reading per language
            return
        self._seen[line.line_id] = None
        if len(self._seen) > 256:
            self._seen.popitem(last=False)
        self._queue.append(line)
        dropped = 0
        while len(self._queue) > 1 and (
            len(self._queue) > self._max_lines or sum(x.seconds for x in self._queue) > self._max_backlog_s
        ):
            self._queue.popleft()
            dropped += 1
        if dropped:
            self.dropped += dropped
            logger.warning(
                "spoken translation %s: %d waiting line(s) dropped to stay live (%d so far)",
                self.language,
                dropped,
                self.dropped,
            )
        self._ready.set()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def _play(self) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            line = self._queue.popleft()
            try:
                await self._say(line.text)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the next line still plays
                self.failed += 1
                logger.warning(
                    "spoken translation %s: a line was not spoken (%s)", self.language, type(e).__name__
                )
            else:
                self.spoken += 1

    async def _say(self, text: str) -> None:
        async with self.voice.synthesize(text) as stream:
            async for audio in stream:
                for frame in self._fit(audio.frame):
                    await self.source.capture_frame(frame)
        for frame in self._flush():
            await self.source.capture_frame(frame)

    def _fit(self, frame: rtc.AudioFrame) -> list[rtc.AudioFrame]:
        """``frame`` at the track's rate (a voice may send another rate than it declares)."""
        if frame.sample_rate == self.source.sample_rate:
            return [frame]
        if self._resampler is None or self._resampler_rate != frame.sample_rate:
            self._resampler = rtc.AudioResampler(
                frame.sample_rate, self.source.sample_rate, num_channels=frame.num_channels
            )
            self._resampler_rate = frame.sample_rate
        return self._resampler.push(frame)

    def _flush(self) -> list[rtc.AudioFrame]:
        resampler, self._resampler = self._resampler, None
        return resampler.flush() if resampler is not None else []

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self._queue.clear()
        await self.source.aclose()
        await self.voice.aclose()


class SpokenTranslations:
    """The meeting in each spoken language, one ``auralink-translation-<lang>`` track each."""

    def __init__(
        self,
        *,
        room: rtc.Room,
        voices: Mapping[str, tts.TTS[Any]],
        max_backlog_s: float = 10.0,
        max_lines: int = 8,
    ) -> None:
        """``voices``: language → the TTS that speaks it; ``max_backlog_s`` (estimated speaking
        time) and ``max_lines``: the most a language's queue holds before its oldest lines go."""
        self._room = room
        self._voices = {
            primary(lang): _Voice(
                language=primary(lang), voice=v, max_backlog_s=max_backlog_s, max_lines=max_lines
            )
            for lang, v in voices.items()
        }
        self._started = False

    @property
    def languages(self) -> list[str]:
        return sorted(self._voices)

    def voice(self, language: str) -> _Voice:
        """A language's track and counters (tests and the worker's log read them)."""
        return self._voices[primary(language)]

    async def start(self) -> None:
        """Publish one track per language and start its player."""
        if self._started:
            return
        self._started = True
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_UNKNOWN)
        for voice in self._voices.values():
            voice.start()
            if self._room.isconnected():
                voice.publication = await self._room.local_participant.publish_track(voice.track, options)
        logger.info("spoken translation: tracks for %s", ",".join(self.languages))

    async def heard(self, caption: Caption) -> None:
        """A caption went out (RoomTranslations' ``on_caption``): queue it for its language's track."""
        voice = self._voices.get(primary(caption.language))
        if voice is None or not caption.text.strip():
            return
        if self._room.isconnected() and caption.speaker == self._room.local_participant.identity:
            return  # the agent's own words are not read again
        voice.queue(_Line(caption.line_id, caption.text))

    async def aclose(self) -> None:
        """Stop every player, unpublish the tracks, close the sources and the voices."""
        for voice in self._voices.values():
            publication, voice.publication = voice.publication, None
            if publication is not None and self._room.isconnected():
                with contextlib.suppress(Exception):
                    await self._room.local_participant.unpublish_track(publication.sid)
            await voice.aclose()
