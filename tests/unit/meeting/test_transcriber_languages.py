"""Speakers of other languages in the transcriber: which STT hears whom, a restart when a speaker's
language changes, and what their lines carry (the language and Whisper's English)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from livekit import rtc
from livekit.agents import stt
from livekit.agents.language import LanguageCode

from auralink.agents.meeting.captions import CaptionLine
from auralink.agents.meeting.transcriber import MeetingTranscriber, spoken_language
from tests.unit.meeting.stt_fakes import StreamingSTT, events, said


class _PerLanguage:
    """``stt_for``: one streaming fake per language, remembered."""

    def __init__(self) -> None:
        self.made: dict[str, StreamingSTT] = {}

    def __call__(self, language: str) -> stt.STT[Any]:
        return self.made.setdefault(language, StreamingSTT())


class _Heard:
    """Stands in for the audio loop: records which engine and language each start used."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, str, stt.STT[Any]]] = []
        self.cancelled: list[str] = []

    async def __call__(
        self,
        participant: rtc.RemoteParticipant,
        track: rtc.Track,
        track_sid: str,
        *,
        engine: stt.STT[Any],
        language: str = "",
    ) -> None:
        self.starts.append((participant.identity, language, engine))
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(f"{participant.identity}:{language}")
            raise


def _person(identity: str, **attributes: str) -> Any:
    return SimpleNamespace(
        identity=identity,
        name=identity.title(),
        attributes=dict(attributes),
        kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
        track_publications={},
    )


def _mic(identity: str) -> tuple[Any, Any]:
    track = SimpleNamespace(kind=rtc.TrackKind.KIND_AUDIO)
    pub = SimpleNamespace(sid=f"TR_{identity}", source=rtc.TrackSource.SOURCE_MICROPHONE)
    return track, pub


def _transcriber(room: rtc.Room, *, stt_for: _PerLanguage | None) -> tuple[MeetingTranscriber, StreamingSTT]:
    own = StreamingSTT()
    transcriber = MeetingTranscriber(
        room=room,
        stt_engine=own,
        vad_model=None,
        room_started_at=datetime.now(UTC),
        on_line=lambda _line: None,
        language="en-US",
        stt_for=stt_for,
    )
    return transcriber, own


def test_the_spoken_language_is_the_spoken_attribute_else_the_caption_language_else_the_agents() -> None:
    assert (
        spoken_language({"auralink.spoken_language": "es-MX", "auralink.language": "en"}, default="en")
        == "es"
    )
    assert spoken_language({"auralink.language": "ca"}, default="en") == "ca"
    assert spoken_language({"auralink.language": " "}, default="en-GB") == "en"
    assert spoken_language({}, default="fr") == "fr"


async def test_each_speaker_is_heard_in_their_language_and_a_change_restarts_only_them() -> None:
    room = rtc.Room()  # not connected: events are emitted by hand
    per_language = _PerLanguage()
    transcriber, own = _transcriber(room, stt_for=per_language)
    heard = _Heard()
    transcriber._transcribe = heard  # type: ignore[method-assign]
    transcriber.start()
    ana = _person("ana", **{"auralink.language": "es"})
    ben = _person("ben", **{"auralink.language": "en-GB"})
    cleo = _person("cleo")
    for who in (ana, ben, cleo):
        room.emit("track_subscribed", *_mic(who.identity), who)
    await asyncio.sleep(0)
    assert [(who, lang) for who, lang, _ in heard.starts] == [("ana", "es"), ("ben", ""), ("cleo", "")]
    assert heard.starts[0][2] is per_language.made["es"]
    assert heard.starts[1][2] is own and heard.starts[2][2] is own
    assert transcriber.language_of("ana") == "es" and transcriber.language_of("ben") == "en"

    # Ben says he speaks French: only his recognizer restarts, in French
    ben.attributes["auralink.spoken_language"] = "fr"
    room.emit("participant_attributes_changed", {"auralink.spoken_language": "fr"}, ben)
    # Ana changes something unrelated, then a language attribute to the same language: no restart
    room.emit("participant_attributes_changed", {"auralink.hand": "up"}, ana)
    ana.attributes["auralink.language"] = "es-ES"
    room.emit("participant_attributes_changed", {"auralink.language": "es-ES"}, ana)
    await asyncio.sleep(0.05)
    assert [(who, lang) for who, lang, _ in heard.starts[3:]] == [("ben", "fr")]
    assert heard.cancelled == ["ben:"]
    assert sorted(transcriber.speakers) == ["ana", "ben", "cleo"]
    assert transcriber.language_of("ben") == "fr"

    # back to the agent's language: heard by the agent's own STT again
    del ben.attributes["auralink.spoken_language"]
    room.emit("participant_attributes_changed", {"auralink.spoken_language": ""}, ben)
    await asyncio.sleep(0.05)
    assert heard.starts[-1][:2] == ("ben", "") and heard.starts[-1][2] is own
    await transcriber.aclose()
    assert not transcriber.speakers


async def test_without_multilingual_everyone_is_heard_in_the_agents_language() -> None:
    room = rtc.Room()
    transcriber, own = _transcriber(room, stt_for=None)
    heard = _Heard()
    transcriber._transcribe = heard  # type: ignore[method-assign]
    transcriber.start()
    ana = _person("ana", **{"auralink.language": "es"})
    room.emit("track_subscribed", *_mic("ana"), ana)
    room.emit("participant_attributes_changed", {"auralink.language": "de"}, ana)
    await asyncio.sleep(0.05)
    assert [(who, lang) for who, lang, _ in heard.starts] == [("ana", "")]
    assert heard.starts[0][2] is own
    await transcriber.aclose()


async def test_a_line_in_another_language_carries_it_and_whispers_english() -> None:
    lines: list[CaptionLine] = []
    transcriber = MeetingTranscriber(
        room=rtc.Room(),
        stt_engine=StreamingSTT(),
        vad_model=None,
        room_started_at=datetime.now(UTC),
        on_line=lines.append,
        language="en",
    )
    spanish = stt.SpeechData(
        language=LanguageCode("es"),
        text="¿Cuál es la capital de Francia?",
        target_languages=[LanguageCode("en")],
        target_texts=["What is the capital of France?"],
    )
    recognizer = events(
        stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH),
        stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=[spanish]),
        said("Gracias.", stt.SpeechEventType.FINAL_TRANSCRIPT),  # no rendering: none on the line
    )
    ana = cast(rtc.RemoteParticipant, SimpleNamespace(identity="ana", name="Ana"))
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ana, "TR_ana", language="es")
    assert [(li.text, li.language, li.translations) for li in lines] == [
        ("¿Cuál es la capital de Francia?", "es", (("en", "What is the capital of France?"),)),
        ("Gracias.", "es", ()),
    ]
    await transcriber.aclose()
