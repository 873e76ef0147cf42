"""Per-speaker transcription of a group call: :class:`MeetingTranscriber`.

The worker attaches one to a job whose agent has ``meeting.transcribe``. It subscribes to the
microphone of every participant that is not an agent (browser users, SIP and phone callers alike),
and runs one STT stream per participant built from the agent's own STT provider: a streaming STT
is used as is; a non-streaming one (the local Whisper server) is cut into utterances by the one
shared VAD model (:class:`~.utterances.UtteranceSTT`, whose voice events are not held up while an
utterance is transcribed), one HTTP request per utterance, so a speaker costs a VAD stream and no
model of its own. Each utterance is published as captions on ``lk.transcription`` under the
speaker (:mod:`.captions`; interim ones only when the STT streams them) and each final line goes
to ``on_line`` (the worker records it and decides whether the agent answers). Participants may
join and leave at any time; every task is closed when its participant leaves and at
:meth:`aclose`. ``on_empty`` runs when the last human has left.

Speakers of other languages (``meeting.multilingual``, given as ``stt_for``): a participant's
spoken language is their attribute ``auralink.spoken_language``, else ``auralink.language`` (the
caption language they chose), else the agent's ``language``; read when their microphone is
subscribed and again when their attributes change (a changed language restarts their recognizer).
When it differs from the agent's, their lines come from ``stt_for(language)`` (one STT per language,
cut by the same VAD), carry ``language`` and the renderings the STT made (``SpeechData``'s
``target_languages``/``target_texts``, e.g. Whisper's English) in ``CaptionLine.translations``.
"""

from __future__ import annotations

__all__ = [
    "SPOKEN_LANGUAGE",
    "Captioned",
    "LineHandler",
    "MeetingTranscriber",
    "Screen",
    "is_human",
    "spoken_language",
]

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from livekit import rtc
from livekit.agents import stt, utils, vad

from .captions import CaptionLine, publish_caption
from .denoise import SAMPLE_RATE as DENOISE_RATE
from .denoise import open_denoiser
from .translation import LANGUAGE_ATTRIBUTE, primary
from .utterances import UtteranceSTT

logger = logging.getLogger("auralink.agents")

LineHandler = Callable[[CaptionLine], None]
Screen = Callable[[CaptionLine], Awaitable[CaptionLine | None]]
Captioned = Callable[[CaptionLine], Awaitable[None]]
CaptionAttributes = Mapping[str, str] | Callable[[CaptionLine], Mapping[str, str]]


class SpeakingHandler(Protocol):
    """``(identity, speaking, ended_at=...)``: a human's voice activity; ``ended_at`` is when their
    speech ended (``time.monotonic()``) when that was earlier than the call."""

    def __call__(self, identity: str, speaking: bool, *, ended_at: float | None = None) -> None: ...


_STT_RATE = 16_000
_HOLD_S = 3.0  # the longest a VAD-cut speaker is held as speaking while their line is transcribed

SPOKEN_LANGUAGE = "auralink.spoken_language"
"""Participant attribute: the language a participant speaks, when not the one they read."""


def is_human(participant: rtc.RemoteParticipant) -> bool:
    """Everyone but agents: standard participants, SIP callers, the phone bridge's callers."""
    return participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


def spoken_language(attributes: Mapping[str, str], *, default: str) -> str:
    """A participant's spoken language (primary subtag): ``auralink.spoken_language``, else
    ``auralink.language``, else ``default``."""
    for key in (SPOKEN_LANGUAGE, LANGUAGE_ATTRIBUTE):
        if value := attributes.get(key, "").strip():
            return primary(value)
    return primary(default)


def _renderings(data: stt.SpeechData) -> tuple[tuple[str, str], ...]:
    """The translations a translating STT made of an utterance, as ``((language, text), ...)``."""
    pairs = zip(data.target_languages or (), data.target_texts or (), strict=False)
    return tuple((primary(lang), text.strip()) for lang, text in pairs if text.strip())


@dataclass
class _Speaker:
    """One transcribed microphone: its task and the language it is recognised in ("" = the agent's)."""

    participant: rtc.RemoteParticipant
    track: rtc.Track
    track_sid: str
    language: str
    task: asyncio.Task[None]


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
        caption_attributes: CaptionAttributes | None = None,
        on_speaking: SpeakingHandler | None = None,
        language: str = "en",
        stt_for: Callable[[str], stt.STT[Any]] | None = None,
    ) -> None:
        """``screen`` sees each final line first (moderation): it returns the line to caption and
        hand on (redacted) or None to drop it; with a ``screen`` no interim caption is sent (it
        would show the unchecked words). ``on_captioned`` runs after a final caption went out
        (translation). ``on_speaking(identity, speaking)`` follows each human's voice activity
        (floor control). ``caption_attributes`` are added to each caption (or made from its line).
        ``language`` is the agent's; ``stt_for(language)`` gives the STT for a speaker of another
        language (``meeting.multilingual``; without it everyone is heard in ``language``)."""
        self._vad = vad_model
        self._room, self._stt = room, self._streaming(stt_engine)
        self._language, self._stt_for = primary(language), stt_for
        self._by_language: dict[str, stt.STT[Any]] = {}
        self._anchor = room_started_at
        self._on_line, self._on_empty = on_line, on_empty
        self._captions, self._denoise = captions, noise_suppression
        self._screen, self._on_captioned = screen, on_captioned
        self._extra: CaptionAttributes = caption_attributes or {}
        self._on_speaking = on_speaking
        # identity -> (its utterance being transcribed, when it ended, the timer that lets it go)
        self._holds: dict[str, tuple[str, float, asyncio.TimerHandle]] = {}
        self._speakers: dict[str, _Speaker] = {}  # by participant identity
        self._had_human = False
        self._closed = False

    @property
    def room(self) -> rtc.Room:
        return self._room

    @property
    def speakers(self) -> list[str]:
        """Identities whose microphone is being transcribed now."""
        return [identity for identity, s in self._speakers.items() if not s.task.done()]

    def language_of(self, identity: str) -> str:
        """The language ``identity`` is transcribed in now (primary subtag)."""
        speaker = self._speakers.get(identity)
        return (speaker.language if speaker is not None else "") or self._language

    def humans(self) -> list[rtc.RemoteParticipant]:
        return [p for p in self._room.remote_participants.values() if is_human(p)]

    def start(self) -> None:
        self._room.on("track_subscribed", self._on_track_subscribed)
        self._room.on("track_unsubscribed", self._on_track_unsubscribed)
        self._room.on("participant_connected", self._on_participant_connected)
        self._room.on("participant_disconnected", self._on_participant_disconnected)
        self._room.on("participant_attributes_changed", self._on_attributes_changed)
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
            self._room.off("participant_attributes_changed", self._on_attributes_changed)
        for _utterance, _ended, release in self._holds.values():
            release.cancel()
        self._holds.clear()
        tasks = [s.task for s in self._speakers.values()]
        self._speakers.clear()
        await utils.aio.cancel_and_wait(*tasks)
        adapters, self._by_language = list(self._by_language.values()), {}
        for adapter in adapters:  # the adapters only: the STTs belong to whoever made stt_for
            if isinstance(adapter, UtteranceSTT):
                await adapter.aclose()

    def _streaming(self, engine: stt.STT[Any]) -> stt.STT[Any]:
        if engine.capabilities.streaming:
            return engine
        if self._vad is None:
            raise ValueError("a non-streaming STT needs a VAD to cut utterances")
        return UtteranceSTT(engine=engine, vad_model=self._vad)

    def _choose(self, participant: rtc.RemoteParticipant) -> tuple[str, stt.STT[Any]]:
        """(language, STT) for ``participant``: ("", the agent's STT) unless they speak another
        language and ``stt_for`` is set."""
        if self._stt_for is None:
            return "", self._stt
        language = spoken_language(participant.attributes, default=self._language)
        if language == self._language:
            return "", self._stt
        if language not in self._by_language:
            self._by_language[language] = self._streaming(self._stt_for(language))
        return language, self._by_language[language]

    # -- room events

    def _on_participant_connected(self, participant: rtc.RemoteParticipant) -> None:
        if is_human(participant):
            self._had_human = True

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        self._stop(participant.identity)
        self._unhold(participant.identity)
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
        self._begin(participant, track, pub.sid)

    def _begin(self, participant: rtc.RemoteParticipant, track: rtc.Track, track_sid: str) -> None:
        try:
            language, engine = self._choose(participant)
        except Exception as e:  # e.g. a missing key: this speaker is heard in the agent's language
            logger.error("captions in another language unavailable: %s", e)
            language, engine = "", self._stt
        task = asyncio.create_task(
            self._transcribe(participant, track, track_sid, engine=engine, language=language),
            name=f"auralink-captions-{track_sid}",
        )
        self._speakers[participant.identity] = _Speaker(participant, track, track_sid, language, task)

    def _on_attributes_changed(self, changed: Mapping[str, str], participant: rtc.Participant) -> None:
        """A speaker who now speaks another language is recognised afresh in it."""
        speaker = self._speakers.get(participant.identity)
        if self._closed or self._stt_for is None or speaker is None or speaker.task.done():
            return
        if not {SPOKEN_LANGUAGE, LANGUAGE_ATTRIBUTE} & set(changed):
            return
        language = spoken_language(speaker.participant.attributes, default=self._language)
        if (language if language != self._language else "") == speaker.language:
            return
        logger.info("captions: track %s now recognised in %s", speaker.track_sid, language)
        self._stop(participant.identity)
        self._begin(speaker.participant, speaker.track, speaker.track_sid)

    def _on_track_unsubscribed(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        speaker = self._speakers.get(participant.identity)
        if speaker is not None and speaker.track_sid == pub.sid:
            self._stop(participant.identity)

    def _stop(self, identity: str) -> None:
        speaker = self._speakers.pop(identity, None)
        if speaker is not None:
            speaker.task.cancel()  # its finally closes the audio and STT streams

    # -- one participant

    async def _transcribe(
        self,
        participant: rtc.RemoteParticipant,
        track: rtc.Track,
        track_sid: str,
        *,
        engine: stt.STT[Any],
        language: str = "",
    ) -> None:
        denoiser = open_denoiser() if self._denoise else None
        rate = DENOISE_RATE if denoiser is not None else _STT_RATE
        audio = rtc.AudioStream.from_track(track=track, sample_rate=rate, num_channels=1)
        recognizer = engine.stream()

        async def forward() -> None:
            async for ev in audio:
                frame = denoiser.process(ev.frame) if denoiser is not None else ev.frame
                if frame.samples_per_channel:
                    recognizer.push_frame(frame)
            recognizer.end_input()

        forwarding = asyncio.create_task(forward(), name=f"auralink-captions-audio-{track_sid}")
        try:
            await self._read(
                recognizer,
                participant,
                track_sid,
                language=language,
                vad_cut=isinstance(engine, UtteranceSTT),
            )
        except Exception as e:  # one speaker's failure must not stop the others' captions
            logger.warning("captions for track %s stopped: %s", track_sid, type(e).__name__)
        finally:
            await utils.aio.cancel_and_wait(forwarding)
            await recognizer.aclose()
            await audio.aclose()
            if denoiser is not None:
                denoiser.close()

    async def _read(
        self,
        recognizer: stt.RecognizeStream,
        participant: rtc.RemoteParticipant,
        track_sid: str,
        *,
        language: str = "",
        vad_cut: bool = False,
    ) -> None:
        """``vad_cut``: the STT is cut by the VAD (:class:`UtteranceSTT`): the speaker is held as
        speaking from an utterance's end of speech until its transcript (at most ``_HOLD_S``), so
        the agent does not answer before it knows what was said; their next start of speech ends
        the hold. Each final names its utterance (``request_id``), which may have been followed by
        the next one's start already: it keeps its own segment id and start time."""
        identity = participant.identity
        segment, started = "", time.time()
        opened: dict[str, tuple[str, float]] = {}  # utterance -> (segment, started), until its final
        async for ev in recognizer:
            if ev.type in (stt.SpeechEventType.START_OF_SPEECH, stt.SpeechEventType.END_OF_SPEECH):
                starts = ev.type == stt.SpeechEventType.START_OF_SPEECH
                if starts:
                    segment, started = utils.shortuuid("SG_"), time.time()
                    if vad_cut:
                        opened[ev.request_id] = (segment, started)
                self._voice_activity(identity, starts=starts, vad_cut=vad_cut, utterance=ev.request_id)
            elif ev.type in (stt.SpeechEventType.INTERIM_TRANSCRIPT, stt.SpeechEventType.FINAL_TRANSCRIPT):
                final = ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
                if vad_cut and final:
                    segment, started = opened.pop(ev.request_id, (segment, started))
                segment = segment or utils.shortuuid("SG_")
                await self._transcript(
                    ev,
                    participant=participant,
                    track_sid=track_sid,
                    segment=segment,
                    started=started,
                    language=language,
                    utterance=ev.request_id if vad_cut else None,
                )
                if final:
                    segment, started = "", time.time()

    async def _transcript(
        self,
        ev: stt.SpeechEvent,
        *,
        participant: rtc.RemoteParticipant,
        track_sid: str,
        segment: str,
        started: float,
        language: str,
        utterance: str | None,
    ) -> None:
        """One interim or final transcript: screened and handed on (finals), then captioned.
        ``utterance``: the VAD-cut utterance it ends, whose hold is released once it is handed on."""
        final = ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
        text = ev.alternatives[0].text.strip() if ev.alternatives else ""
        if not text:
            if final:
                self._release(participant.identity, utterance)  # nothing was said after all
            return
        renderings = _renderings(ev.alternatives[0]) if final and language else ()
        ended = ev.speech_end_time if final and ev.speech_end_time else time.time()
        line = self._line(
            participant=participant,
            track_sid=track_sid,
            segment=segment,
            text=text,
            final=final,
            started=started,
            ended=max(ended, started),
            language=language,
            translations=renderings,
        )
        if not final and self._screen is not None:
            return  # interim words are unchecked: only screened finals are shown
        if final:
            try:  # the floor stays held until the line is handed on: it may finish a question
                handed = await self._hand_on(line)
            finally:
                self._release(participant.identity, utterance)
            if handed is None:
                return  # blocked: not captioned, recorded nor answered
            line = handed
        if self._captions:  # in order: a segment's interim captions before its final one
            extra = self._extra(line) if callable(self._extra) else self._extra
            await publish_caption(self._room, line, attributes=dict(extra))
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

    def _speaking(self, identity: str, speaking: bool, *, ended_at: float | None = None) -> None:
        if self._on_speaking is not None:
            try:
                self._on_speaking(identity, speaking, ended_at=ended_at)
            except Exception as e:
                logger.warning("a voice activity handler failed: %s", type(e).__name__)

    def _voice_activity(self, identity: str, *, starts: bool, vad_cut: bool, utterance: str = "") -> None:
        if starts:
            self._unhold(identity)
            self._speaking(identity, True)
        elif vad_cut:
            self._hold(identity, utterance, ended_at=time.monotonic())
        else:
            self._speaking(identity, False)

    def _hold(self, identity: str, utterance: str, *, ended_at: float) -> None:
        """Keep ``identity`` speaking until ``utterance``'s transcript (or ``_HOLD_S``)."""
        self._unhold(identity)
        timer = asyncio.get_running_loop().call_later(_HOLD_S, self._release, identity, None)
        self._holds[identity] = (utterance, ended_at, timer)

    def _unhold(self, identity: str) -> None:
        held = self._holds.pop(identity, None)
        if held is not None:
            held[2].cancel()

    def _release(self, identity: str, utterance: str | None = None) -> None:
        """The held speaker stopped when their speech ended (not now). ``utterance``: only if the
        hold is for that one (an earlier utterance's transcript does not end a later one's hold);
        None: whichever."""
        held = self._holds.get(identity)
        if held is None or (utterance is not None and held[0] != utterance):
            return
        del self._holds[identity]
        held[2].cancel()
        self._speaking(identity, False, ended_at=held[1])

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
        language: str = "",
        translations: tuple[tuple[str, str], ...] = (),
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
            language=language,
            translations=translations,
        )
