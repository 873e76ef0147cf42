"""Spoken translation: each language's track reads the meeting's lines in that language, in order,
stays live when it falls behind, survives a line its voice cannot say, and closes cleanly.

The voice is a fake TTS (a real livekit ``tts.TTS``) whose audio says which line it is: every
sample of line ``n`` is ``n``; the track's source is a real ``rtc.AudioSource`` that keeps the
frames it is given instead of pacing them to a room.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, cast

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from auralink.agents.meeting.live_translation import RoomTranslations
from auralink.agents.meeting.spoken_translation import (
    SpokenTranslations,
    build_spoken_translations,
    track_name,
)
from auralink.agents.meeting.translation import Caption, CaptionTranslator, Translator
from auralink.core import MissingCredential, Settings
from auralink.core.spec import AgentSpec

AGENT = "agent-1"
SPANISH_TRACK = "auralink-translation-es"


class ToneTTS(tts.TTS[Any]):
    """Speaks "line <n> ..." as 0.1 s of samples all equal to ``n``, at ``emit_rate``; "boom" fails."""

    def __init__(self, *, sample_rate: int = 24000, emit_rate: int | None = None) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=sample_rate, num_channels=1
        )
        self.emit_rate = emit_rate or sample_rate
        self.said: list[str] = []
        self.gate: asyncio.Event | None = None  # set: each line waits for it
        self.closed = False

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _Tone(tts=self, input_text=text, conn_options=conn_options)

    async def aclose(self) -> None:
        self.closed = True


class _Tone(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        voice = cast(ToneTTS, self._tts)
        if voice.gate is not None:
            await voice.gate.wait()
        if "boom" in self.input_text:
            raise APIError("the voice cannot say this", retryable=False)
        voice.said.append(self.input_text)
        n = int(self.input_text.split()[1])
        output_emitter.initialize(
            request_id=self.input_text, sample_rate=voice.emit_rate, num_channels=1, mime_type="audio/pcm"
        )
        output_emitter.push(np.full(voice.emit_rate // 10, n, dtype=np.int16).tobytes())
        output_emitter.flush()


class KeptSource(rtc.AudioSource):
    """A real source whose frames are kept (no room, no real-time pacing)."""

    def __init__(self, sample_rate: int, num_channels: int) -> None:
        super().__init__(sample_rate, num_channels)
        self.frames: list[rtc.AudioFrame] = []
        self.closed = False

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        self.frames.append(frame)

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()

    def lines(self) -> list[int]:
        """The line numbers heard, in order (consecutive frames of one line counted once)."""
        heard: list[int] = []
        for frame in self.frames:
            samples = np.frombuffer(frame.data, dtype=np.int16)
            for n in np.unique(samples[samples > 0]).tolist():
                if not heard or heard[-1] != n:
                    heard.append(int(n))
        return heard

    def seconds(self) -> float:
        return sum(f.samples_per_channel / f.sample_rate for f in self.frames)


class FakePublication:
    def __init__(self, sid: str) -> None:
        self.sid = sid


class FakeParticipant:
    """The agent's local participant: keeps what it publishes."""

    identity = AGENT

    def __init__(self) -> None:
        self.published: dict[str, tuple[str, int]] = {}  # sid -> (track name, source)

    async def publish_track(
        self, track: rtc.LocalAudioTrack, options: rtc.TrackPublishOptions
    ) -> FakePublication:
        sid = f"TR_{len(self.published)}"
        self.published[sid] = (track.name, options.source)
        return FakePublication(sid)

    async def unpublish_track(self, sid: str) -> None:
        del self.published[sid]


class FakeRoom:
    """What SpokenTranslations and RoomTranslations read of a connected room."""

    name = "room-1"
    remote_participants: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.local_participant = FakeParticipant()

    def isconnected(self) -> bool:
        return True


def _spoken(
    voice: ToneTTS, *, room: FakeRoom | None = None, **kwargs: Any
) -> tuple[SpokenTranslations, KeptSource]:
    spoken = SpokenTranslations(room=cast(rtc.Room, room or FakeRoom()), voices={"es": voice}, **kwargs)
    track = spoken.voice("es")
    kept = KeptSource(track.source.sample_rate, track.source.num_channels)
    track.source = kept
    return spoken, kept


def _es(n: int, *, speaker: str = "grace", original: bool = False, text: str | None = None) -> Caption:
    return Caption(
        f"seg-{n}", speaker, "es", text or f"line {n} en español", original, "en" if not original else "es"
    )


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.01)


async def test_lines_are_spoken_in_order_on_their_languages_track() -> None:
    voice = ToneTTS()
    room = FakeRoom()
    spoken, kept = _spoken(voice, room=room)
    try:
        await spoken.start()
        assert list(room.local_participant.published.values()) == [
            ("auralink-translation-es", rtc.TrackSource.SOURCE_UNKNOWN)
        ]
        for n in (1, 2, 3):
            await spoken.heard(_es(n))
        # another language, the agent's own words and an empty line are not spoken on the es track
        await spoken.heard(Caption("seg-9", "grace", "en", "line 9 in English", True, "en"))
        await spoken.heard(_es(4, speaker=AGENT))
        await spoken.heard(_es(5, text="  "))
        await spoken.heard(_es(6, original=True))  # a Spanish speaker's original: already Spanish
        await spoken.heard(_es(6))  # the same line once more: read once
        await _until(lambda: spoken.voice("es").spoken == 4)
        assert kept.lines() == [1, 2, 3, 6]
        assert 0.4 <= kept.seconds() < 0.5  # 0.1 s a line (the emitter may pad its last frame)
        assert spoken.languages == ["es"]
        assert track_name("es-MX") == "auralink-translation-es"
    finally:
        await spoken.aclose()
    assert room.local_participant.published == {}  # unpublished at close


async def test_a_voice_at_another_rate_is_resampled_to_the_track() -> None:
    voice = ToneTTS(sample_rate=24000, emit_rate=16000)
    spoken, kept = _spoken(voice)
    try:
        await spoken.start()
        await spoken.heard(_es(1))
        await _until(lambda: spoken.voice("es").spoken == 1)
        assert {f.sample_rate for f in kept.frames} == {24000}
        assert kept.seconds() == pytest.approx(0.1, abs=0.02)
    finally:
        await spoken.aclose()


async def test_a_backlog_drops_the_oldest_waiting_lines_and_says_how_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    voice = ToneTTS()
    voice.gate = asyncio.Event()
    spoken, kept = _spoken(voice, max_lines=2)
    try:
        await spoken.start()
        await spoken.heard(_es(1))
        await _until(lambda: spoken.voice("es").waiting == 0)  # line 1 is being said
        with caplog.at_level(logging.WARNING, logger="auralink.agents"):
            for n in range(2, 7):
                await spoken.heard(_es(n))
        voice.gate.set()
        await _until(lambda: spoken.voice("es").spoken == 3)
        await asyncio.sleep(0.05)
        assert kept.lines() == [1, 5, 6]  # the line under way, then the newest two
        assert spoken.voice("es").dropped == 3
        assert "dropped" in caplog.text and "español" not in caplog.text
    finally:
        await spoken.aclose()


async def test_a_long_backlog_in_seconds_is_dropped_too() -> None:
    voice = ToneTTS()
    voice.gate = asyncio.Event()
    spoken, kept = _spoken(voice, max_backlog_s=3.0)  # about 45 characters of speech
    try:
        await spoken.start()
        await spoken.heard(_es(1))
        await _until(lambda: spoken.voice("es").waiting == 0)
        for n in range(2, 6):
            await spoken.heard(_es(n, text=f"line {n} es una frase bastante larga"))  # ~2.4 s each
        assert spoken.voice("es").waiting == 1
        voice.gate.set()
        await _until(lambda: spoken.voice("es").spoken == 2)
        assert kept.lines() == [1, 5]
    finally:
        await spoken.aclose()


async def test_a_line_the_voice_cannot_say_is_logged_and_the_next_one_plays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    voice = ToneTTS()
    spoken, kept = _spoken(voice)
    try:
        await spoken.start()
        with caplog.at_level(logging.WARNING, logger="auralink.agents"):
            await spoken.heard(_es(1, text="line 1 boom secreto"))
            await spoken.heard(_es(2))
            await _until(lambda: spoken.voice("es").spoken == 1)
        assert kept.lines() == [2]
        assert spoken.voice("es").failed == 1
        assert "not spoken" in caplog.text and "secreto" not in caplog.text
    finally:
        await spoken.aclose()


async def test_close_stops_a_line_under_way_and_closes_source_and_voice() -> None:
    voice = ToneTTS()
    voice.gate = asyncio.Event()  # never set: the line hangs in the voice
    spoken, kept = _spoken(voice)
    await spoken.start()
    await spoken.heard(_es(1))
    await spoken.heard(_es(2))
    await _until(lambda: spoken.voice("es").waiting == 1)
    task = spoken.voice("es").task
    await asyncio.wait_for(spoken.aclose(), timeout=5)
    assert task is not None and task.done()
    assert kept.closed and voice.closed
    assert spoken.voice("es").waiting == 0


class _Spanish(Translator):
    name = "fake"

    async def translate(self, text: str, *, source: str, target: str) -> str:
        return f"{text} ({target})"


async def test_room_translations_translate_into_always_wanted_languages_with_no_listener() -> None:
    heard: list[Caption] = []

    async def on_caption(caption: Caption) -> None:
        heard.append(caption)

    translations = RoomTranslations(
        room=cast(rtc.Room, FakeRoom()),
        translator=CaptionTranslator(_Spanish()),
        source="en",
        on_caption=on_caption,
        always=["es-ES"],
    )
    assert translations.languages() == {"es"}
    await translations.translator.publish(
        line_id="seg-1", speaker="grace", text="hello", source="en", languages={"es"}, emit=on_caption
    )
    await _until(lambda: len(heard) == 2)
    assert [(c.language, c.original) for c in heard] == [("en", True), ("es", False)]
    await translations.aclose()


def _spec(key_env: str) -> AgentSpec:
    return AgentSpec.model_validate(
        {
            "name": "interpreter",
            "instructions": "x",
            "meeting": {
                "transcribe": True,
                "translate": True,
                "speak_translations": ["es"],
                "translation_voices": {"es": {"provider": "openai", "api_key_env": key_env}},
            },
        }
    )


def test_a_voice_without_its_key_is_an_error_naming_the_spec_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANISH_VOICE_KEY", raising=False)
    with pytest.raises(
        MissingCredential, match=r"meeting\.translation_voices\.es\.api_key_env.*SPANISH_VOICE_KEY"
    ):
        build_spoken_translations(
            _spec("SPANISH_VOICE_KEY"), room=cast(rtc.Room, FakeRoom()), settings=Settings()
        )


async def test_without_the_voices_key_the_meeting_goes_on_unspoken_and_the_log_names_the_field(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from auralink.agents.meeting import wiring

    monkeypatch.delenv("SPANISH_VOICE_KEY", raising=False)
    with caplog.at_level(logging.ERROR, logger="auralink.agents"):
        spoken = await wiring._spoken(_spec("SPANISH_VOICE_KEY"), cast(rtc.Room, FakeRoom()), Settings())
    assert spoken is None
    assert "spoken translation is off" in caplog.text
    assert "meeting.translation_voices.es.api_key_env" in caplog.text


async def test_with_the_voices_key_the_track_is_published_under_its_language() -> None:
    from auralink.agents.meeting import wiring

    room = FakeRoom()
    spoken = await wiring._spoken(_spec("PATH"), cast(rtc.Room, room), Settings())
    assert spoken is not None
    try:
        assert [name for name, _source in room.local_participant.published.values()] == [SPANISH_TRACK]
    finally:
        await spoken.aclose()
