"""Per-speaker transcription of a group call: :class:`MeetingTranscriber`.

The worker attaches one to a job whose agent has ``meeting.transcribe``. It subscribes to the
microphone of every participant that is not an agent (browser users, SIP and phone callers alike),
and runs one STT stream per participant built from the agent's own STT provider: a streaming STT
is used as is; a non-streaming one (the local Whisper server) is cut into utterances by the one
shared VAD model (``StreamAdapter``, as ``AgentSession`` does), one HTTP request per utterance,
so a speaker costs a VAD stream and no model of its own. Each utterance is published as captions
on ``lk.transcription`` under the speaker (:mod:`.captions`; interim ones only when the STT
streams them) and each final line goes to ``on_line`` (the worker records it and decides whether
the agent answers). Participants may join and leave at any time; every task is closed when its
participant leaves and at :meth:`aclose`. ``on_empty`` runs when the last human has left.
"""

from __future__ import annotations

__all__ = ["Captioned", "LineHandler", "MeetingTranscriber", "Screen", "is_human"]

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from livekit import rtc
from livekit.agents import stt, utils, vad

from .captions import CaptionLine, publish_caption
from .denoise import SAMPLE_RATE as DENOISE_RATE
from .denoise import open_denoiser

logger = logging.getLogger("auralink.agents")

LineHandler = Callable[[CaptionLine], None]
Screen = Callable[[CaptionLine], Awaitable[CaptionLine | None]]
Captioned = Callable[[CaptionLine], Awaitable[None]]
_STT_RATE = 16_000


def is_human(participant: rtc.RemoteParticipant) -> bool:
    """Everyone but agents: standard participants, SIP callers, the phone bridge's callers."""
    return participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


class MeetingTranscriber:
    """Captions every human in ``room`` separately. ``start()``, then ``aclose()``."""

    def __init__(
        self,
        *,
        room: rtc.Room,
        stt_engine: stt.STT[Any],
        vad_model: vad.VAD | None,
        room_started_at: datetime,
        on_line: LineHandler,
        on_empty: Callable[[], None] | None = None,
        captions: bool = True,
        noise_suppression: bool = False,
        screen: Screen | None = None,
        on_captioned: Captioned | None = None,
        caption_attributes: dict[str, str] | None = None,
        on_speaking: Callable[[str, bool], None] | None = None,
    ) -> None:
        """``screen`` sees each final line first (moderation): it returns the line to caption and
        hand on (redacted) or None to drop it; with a ``screen`` no interim caption is sent (it
        would show the unchecked words). ``on_captioned`` runs after a final caption went out
        (translation). ``on_speaking(identity, speaking)`` follows each human's voice activity
        (floor control)."""
        if not stt_engine.capabilities.streaming:
            if vad_model is None:
                raise ValueError("a non-streaming STT needs a VAD to cut utterances")
            stt_engine = stt.StreamAdapter(stt=stt_engine, vad=vad_model)
        self._room, self._stt = room, stt_engine
        self._anchor = room_started_at
        self._on_line, self._on_empty = on_line, on_empty
        self._captions, self._denoise = captions, noise_suppression
        self._screen, self._on_captioned = screen, on_captioned
        self._extra = dict(caption_attributes or {})
        self._on_speaking = on_speaking
        self._tasks: dict[str, asyncio.Task[None]] = {}  # by participant identity
        self._had_human = False
        self._closed = False

    @property
    def room(self) -> rtc.Room:
        return self._room

    @property
    def speakers(self) -> list[str]:
        """Identities whose microphone is being transcribed now."""
        return [identity for identity, task in self._tasks.items() if not task.done()]

    def humans(self) -> list[rtc.RemoteParticipant]:
        return [p for p in self._room.remote_participants.values() if is_human(p)]

    def start(self) -> None:
        self._room.on("track_subscribed", self._on_track_subscribed)
        self._room.on("track_unsubscribed", self._on_track_unsubscribed)
        self._room.on("participant_connected", self._on_participant_connected)
        self._room.on("participant_disconnected", self._on_participant_disconnected)
        for participant in self._room.remote_participants.values():
            self._on_participant_connected(participant)
            for pub in participant.track_publications.values():
                if pub.track is not None and pub.subscribed:
                    self._on_track_subscribed(pub.track, pub, participant)

    async def aclose(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._room.off("track_subscribed", self._on_track_subscribed)
            self._room.off("track_unsubscribed", self._on_track_unsubscribed)
            self._room.off("participant_connected", self._on_participant_connected)
            self._room.off("participant_disconnected", self._on_participant_disconnected)
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await utils.aio.cancel_and_wait(*tasks)

    # -- room events

    def _on_participant_connected(self, participant: rtc.RemoteParticipant) -> None:
        if is_human(participant):
            self._had_human = True

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        self._stop(participant.identity)
        self._speaking(participant.identity, False)
        if self._had_human and not self.humans() and self._on_empty is not None and not self._closed:
            self._on_empty()

    def _on_track_subscribed(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if self._closed or track.kind != rtc.TrackKind.KIND_AUDIO or not is_human(participant):
            return
        if pub.source not in (rtc.TrackSource.SOURCE_MICROPHONE, rtc.TrackSource.SOURCE_UNKNOWN):
            return  # screen-share audio is not speech to attribute
        self._stop(participant.identity)  # a republished microphone replaces the old one
        self._tasks[participant.identity] = asyncio.create_task(
            self._transcribe(participant, track, pub.sid), name=f"auralink-captions-{pub.sid}"
        )

    def _on_track_unsubscribed(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        task = self._tasks.get(participant.identity)
        if task is not None and task.get_name().endswith(pub.sid):
            self._stop(participant.identity)

    def _stop(self, identity: str) -> None:
        task = self._tasks.pop(identity, None)
        if task is not None:
            task.cancel()  # its finally closes the audio and STT streams

    # -- one participant

    async def _transcribe(self, participant: rtc.RemoteParticipant, track: rtc.Track, track_sid: str) -> None:
        denoiser = open_denoiser() if self._denoise else None
        rate = DENOISE_RATE if denoiser is not None else _STT_RATE
        audio = rtc.AudioStream.from_track(track=track, sample_rate=rate, num_channels=1)
        recognizer = self._stt.stream()

        async def forward() -> None:
            async for ev in audio:
                frame = denoiser.process(ev.frame) if denoiser is not None else ev.frame
                if frame.samples_per_channel:
                    recognizer.push_frame(frame)
            recognizer.end_input()

        forwarding = asyncio.create_task(forward(), name=f"auralink-captions-audio-{track_sid}")
        try:
            await self._read(recognizer, participant, track_sid)
        except Exception as e:  # one speaker's failure must not stop the others' captions
            logger.warning("captions for track %s stopped: %s", track_sid, type(e).__name__)
        finally:
            await utils.aio.cancel_and_wait(forwarding)
            await recognizer.aclose()
            await audio.aclose()
            if denoiser is not None:
                denoiser.close()

    async def _read(
        self, recognizer: stt.RecognizeStream, participant: rtc.RemoteParticipant, track_sid: str
    ) -> None:
        segment, started = "", time.time()
        async for ev in recognizer:
            if ev.type == stt.SpeechEventType.START_OF_SPEECH:
                segment, started = utils.shortuuid("SG_"), time.time()
                self._speaking(participant.identity, True)
            elif ev.type == stt.SpeechEventType.END_OF_SPEECH:
                self._speaking(participant.identity, False)
            elif ev.type in (stt.SpeechEventType.INTERIM_TRANSCRIPT, stt.SpeechEventType.FINAL_TRANSCRIPT):
                text = ev.alternatives[0].text.strip() if ev.alternatives else ""
                if not text:
                    continue
                final = ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
                segment = segment or utils.shortuuid("SG_")
                ended = ev.speech_end_time if final and ev.speech_end_time else time.time()
                line = self._line(
                    participant=participant,
                    track_sid=track_sid,
                    segment=segment,
                    text=text,
                    final=final,
                    started=started,
                    ended=max(ended, started),
                )
                if not final and self._screen is not None:
                    continue  # interim words are unchecked: only screened finals are shown
                if final:
                    segment, started = "", time.time()
                    handed = await self._hand_on(line)
                    if handed is None:
                        continue  # blocked: not captioned, recorded nor answered
                    line = handed
                if self._captions:  # in order: a segment's interim captions before its final one
                    await publish_caption(self._room, line, attributes=self._extra)
                if final and self._on_captioned is not None:
                    try:
                        await self._on_captioned(line)
                    except Exception as e:
                        logger.warning("a captioned-line handler failed: %s", type(e).__name__)

    async def _hand_on(self, line: CaptionLine) -> CaptionLine | None:
        """A final line through the screen (None: blocked), then to ``on_line``."""
        if self._screen is not None:
            screened = await self._screen(line)
            if screened is None:
                return None
            line = screened
        try:
            self._on_line(line)
        except Exception as e:
            logger.warning("a caption line handler failed: %s", type(e).__name__)
        return line

    def _speaking(self, identity: str, speaking: bool) -> None:
        if self._on_speaking is not None:
            try:
                self._on_speaking(identity, speaking)
            except Exception as e:
                logger.warning("a voice activity handler failed: %s", type(e).__name__)

    def _line(
        self,
        *,
        participant: rtc.RemoteParticipant,
        track_sid: str,
        segment: str,
        text: str,
        final: bool,
        started: float,
        ended: float,
    ) -> CaptionLine:
        start_at, end_at = datetime.fromtimestamp(started, UTC), datetime.fromtimestamp(ended, UTC)
        return CaptionLine(
            identity=participant.identity,
            name=participant.name or participant.identity,
            track_sid=track_sid,
            segment_id=segment,
            text=text,
            final=final,
            started_at=start_at,
            ended_at=end_at,
            start_s=max(0.0, (start_at - self._anchor).total_seconds()),
            end_s=max(0.0, (end_at - self._anchor).total_seconds()),
        )
