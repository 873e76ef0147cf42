"""Speakers of other languages: the STT that transcribes in their language and asks Whisper's speech
translation for English, against a fake OpenAI-compatible endpoint (aiohttp on a free port)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from livekit import rtc

from auralink.agents.meeting.speech_translation import MultilingualSTTs, SpeechTranslatingSTT
from auralink.core import AgentSpec, MissingCredential, Settings


@dataclass
class FakeWhisper:
    """``/v1/audio/transcriptions`` answers in Spanish, ``/v1/audio/translations`` in English (or
    fails with ``translation_status``); each request's form fields are kept."""

    translation_status: int = 200
    delay_s: float = 0.3
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    started: dict[str, float] = field(default_factory=dict)

    async def _form(self, request: web.Request, kind: str) -> dict[str, Any]:
        self.started[kind] = asyncio.get_running_loop().time()
        posted = await request.post()
        audio = posted["file"]
        assert isinstance(audio, web.FileField)
        form: dict[str, Any] = {k: v for k, v in posted.items() if k != "file"}
        form["audio_bytes"] = len(audio.file.read())
        self.requests.append((kind, form))
        await asyncio.sleep(self.delay_s)  # both are in flight at once when sent in parallel
        return form

    async def transcriptions(self, request: web.Request) -> web.Response:
        await self._form(request, "transcriptions")
        return web.json_response({"text": " ¿Cuál es la capital de Francia? "})

    async def translations(self, request: web.Request) -> web.Response:
        await self._form(request, "translations")
        if self.translation_status != 200:
            return web.json_response({"error": {"message": "down"}}, status=self.translation_status)
        return web.json_response({"text": " What is the capital of France? "})


@pytest.fixture
async def whisper() -> AsyncIterator[tuple[FakeWhisper, str]]:
    fake = FakeWhisper()
    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", fake.transcriptions)
    app.router.add_post("/v1/audio/translations", fake.translations)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield fake, f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def _spec(model: str = "whisper-base", **stt: Any) -> AgentSpec:
    meeting = {"transcribe": True, "translate": True, "multilingual": True, "multilingual_model": model}
    return AgentSpec.model_validate(
        {
            "name": "interpreter",
            "instructions": "Help.",
            "stt": stt or {"provider": "local"},
            "meeting": meeting,
        }
    )


def _utterance() -> rtc.AudioFrame:
    return rtc.AudioFrame.create(16_000, 1, 8_000)  # half a second


async def test_a_spanish_utterance_is_captioned_in_spanish_with_whispers_english_beside_it(
    whisper: tuple[FakeWhisper, str],
) -> None:
    fake, url = whisper
    stts = MultilingualSTTs(_spec(), settings=Settings(_env_file=None, models_url=url))
    try:
        engine = stts("es-MX")
        assert stts("es") is engine  # one per language
        assert not engine.capabilities.streaming  # cut by the transcriber's VAD
        event = await engine.recognize(_utterance())
    finally:
        await stts.aclose()
    (data,) = event.alternatives
    assert (data.language, data.text.strip()) == ("es", "¿Cuál es la capital de Francia?")
    assert data.target_languages == ["en"]
    assert data.target_texts == ["What is the capital of France?"]
    by_kind = dict(fake.requests)
    assert by_kind["transcriptions"]["model"] == "whisper-base"
    assert by_kind["transcriptions"]["language"] == "es"
    assert by_kind["translations"]["model"] == "whisper-base"
    # the local server is told the spoken language (no detection); the output is always English
    assert by_kind["translations"]["language"] == "es"
    assert by_kind["translations"]["audio_bytes"] == by_kind["transcriptions"]["audio_bytes"] > 16_000
    # in parallel: the second request started before the first one's answer came back
    assert abs(fake.started["translations"] - fake.started["transcriptions"]) < fake.delay_s


async def test_when_the_translation_fails_the_original_still_comes_and_it_is_said_once(
    whisper: tuple[FakeWhisper, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = whisper
    fake.translation_status, fake.delay_s = 500, 0.0
    stts = MultilingualSTTs(_spec(), settings=Settings(_env_file=None, models_url=url))
    caplog.set_level(logging.WARNING, logger="auralink.agents")
    try:
        engine = stts("es")
        first = await engine.recognize(_utterance())
        second = await engine.recognize(_utterance())
    finally:
        await stts.aclose()
    for event in (first, second):
        (data,) = event.alternatives
        assert data.text.strip() == "¿Cuál es la capital de Francia?"
        assert not data.target_texts
    assert isinstance(engine, SpeechTranslatingSTT) and engine.translation_failures == 2
    warnings = [r.getMessage() for r in caplog.records if "speech translation" in r.getMessage()]
    assert len(warnings) == 1
    assert "capital" not in warnings[0].lower() and "francia" not in warnings[0].lower()


async def test_an_english_speaker_needs_no_translation_request(whisper: tuple[FakeWhisper, str]) -> None:
    fake, url = whisper
    fake.delay_s = 0.0
    stts = MultilingualSTTs(_spec(), settings=Settings(_env_file=None, models_url=url))
    try:
        event = await stts("en").recognize(_utterance())
    finally:
        await stts.aclose()
    assert [kind for kind, _ in fake.requests] == ["transcriptions"]
    assert not event.alternatives[0].target_texts


async def test_openai_uses_its_base_url_key_and_model_and_a_missing_key_names_the_setting(
    whisper: tuple[FakeWhisper, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = whisper
    fake.delay_s = 0.0
    spec = _spec("whisper-1", provider="openai", base_url=url, api_key_env="INTERPRETER_OPENAI_KEY")
    settings = Settings(_env_file=None)
    monkeypatch.delenv("INTERPRETER_OPENAI_KEY", raising=False)
    with pytest.raises(MissingCredential, match="INTERPRETER_OPENAI_KEY"):
        MultilingualSTTs(spec, settings=settings)
    monkeypatch.setenv("INTERPRETER_OPENAI_KEY", "sk-test")
    stts = MultilingualSTTs(spec, settings=settings)
    try:
        event = await stts("fr").recognize(_utterance())
    finally:
        await stts.aclose()
    assert event.alternatives[0].language == "fr"
    assert {kind: form["model"] for kind, form in fake.requests} == {
        "transcriptions": "whisper-1",
        "translations": "whisper-1",
    }
    assert "language" not in dict(fake.requests)["translations"]  # OpenAI's form has no such field


async def test_a_language_the_caption_translator_covers_gets_no_whisper_english(
    whisper: tuple[FakeWhisper, str],
) -> None:
    fake, url = whisper
    fake.delay_s = 0.0
    stts = MultilingualSTTs(
        _spec(), settings=Settings(_env_file=None, models_url=url), whisper_english=lambda lang: lang != "es"
    )
    try:
        spanish = await stts("es").recognize(_utterance())
        italian = await stts("it").recognize(_utterance())
    finally:
        await stts.aclose()
    assert [kind for kind, _ in fake.requests] == ["transcriptions", "transcriptions", "translations"]
    assert not spanish.alternatives[0].target_texts and italian.alternatives[0].target_texts
