"""Speakers of other languages (``meeting.multilingual``): their own-language transcription plus
Whisper's English speech translation of the same utterance.

:class:`SpeechTranslatingSTT` is a non-streaming ``stt.STT`` (the transcriber cuts utterances with
the shared VAD, as for any Whisper STT) for one spoken language. For each utterance it sends two
requests to an OpenAI-compatible endpoint at the same time: ``/audio/transcriptions`` with
``language=<theirs>`` (the caption in what they said) and ``/audio/translations`` (Whisper's
rendering in English). The speech event carries the original text in ``text``/``language`` and
the English one in ``target_languages``/``target_texts`` of the same ``SpeechData``
(livekit-agents' fields for a translating STT; only the first alternative survives the VAD
adapter, so the rendering travels inside it). The English request is made only for languages the
caption translator has no route to English from (Whisper-base's English is looser than a text
translation of its own accurate transcript, and it doubles the model's work per line): offline
that is every language but apertium's (es, ca, gl, eo, pt, fr). When the translation request fails the original
still goes out, without English (the caption translator translates it instead); that is logged
once per language, without any text.

:class:`MultilingualSTTs` builds one per language from the agent's ``stt`` block: ``local`` → the
model server (``AURALINK_MODELS_URL`` / host and port settings), ``openai`` → its ``base_url`` and
key; the model is ``meeting.multilingual_model``. A missing key is a
:class:`~auralink.core.errors.MissingCredential` naming the setting.
"""

from __future__ import annotations

__all__ = ["ENGLISH", "MultilingualSTTs", "SpeechTranslatingSTT"]

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import httpx
import openai
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer
from livekit.plugins import openai as openai_plugin

from auralink.core import AgentSpec, ConfigError, MissingCredential, Settings
from auralink.core.spec import LocalSTT, OpenAISTT

from .translation import primary

logger = logging.getLogger("auralink.agents")

ENGLISH = "en"
"""The one language Whisper's speech translation renders into."""
_LOCAL_KEY = "local"  # the model server needs no key; the OpenAI client insists on one


class SpeechTranslatingSTT(stt.STT[Any]):
    """Whisper for one spoken language, each utterance also rendered in English (see the module)."""

    def __init__(
        self,
        *,
        client: openai.AsyncClient,
        http: httpx.AsyncClient,
        model: str,
        language: str,
        timeout_s: float = 30.0,
        name_language: bool = False,
        english: bool = True,
    ) -> None:
        """``client`` (transcriptions, through livekit-plugins-openai) and ``http`` (translations:
        the openai SDK marks its translations call deprecated, and the wire format is a plain
        multipart form) point at the same endpoint; both are shared and closed by their owner
        (:class:`MultilingualSTTs`). ``name_language``: the translation request also names the
        spoken language (the local model server takes it and skips detection; OpenAI's form has
        no such field). ``english=False``: no translation request (the caption translator has a
        route from this language to English of its own)."""
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.language = primary(language)
        self._http, self._model, self._timeout_s = http, model, timeout_s
        self._name_language = name_language
        self.english = english and self.language != ENGLISH
        self._transcriber = openai_plugin.STT(
            model=model, language=self.language, client=client, use_realtime=False
        )
        self._warned = False
        self.translation_failures = 0

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return "whisper-speech-translation"

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        english = (
            asyncio.create_task(self._english(frame.to_wav_bytes()), name="auralink-speech-translation")
            if self.english
            else None
        )
        try:
            # no retries inside: the outer recognize() retries this whole method, both requests
            event = await self._transcriber.recognize(
                frame, language=self.language, conn_options=dataclasses.replace(conn_options, max_retry=0)
            )
        except BaseException:
            if english is not None:
                await utils.aio.cancel_and_wait(english)
            raise
        rendering = await english if english is not None else None
        if not event.alternatives or not event.alternatives[0].text.strip():
            return event
        original = event.alternatives[0]
        data = dataclasses.replace(original, language=LanguageCode(self.language))
        if rendering:
            data.target_languages, data.target_texts = [LanguageCode(ENGLISH)], [rendering]
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[data, *event.alternatives[1:]],
            speech_end_time=event.speech_end_time,
        )

    async def _english(self, wav: bytes) -> str | None:
        """Whisper's English rendering of the utterance; None when the request failed."""
        form = {"model": self._model, "response_format": "json", "temperature": "0"}
        if self._name_language:
            form["language"] = self.language
        try:
            r = await self._http.post(
                "/audio/translations",
                files={"file": ("file.wav", wav, "audio/wav")},
                data=form,
                timeout=self._timeout_s,
            )
            r.raise_for_status()
            text = r.json()["text"]
            if not isinstance(text, str):
                raise ValueError("no text in the answer")
            return text.strip() or None
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            self.translation_failures += 1
            if not self._warned:
                self._warned = True
                logger.warning(
                    "speech translation %s→en by %s failed (%s); captions go on, translated from the "
                    "original instead (said once per language)",
                    self.language,
                    self._model,
                    type(e).__name__,
                )
            return None

    async def aclose(self) -> None:
        await self._transcriber.aclose()
        await super().aclose()


class MultilingualSTTs:
    """One :class:`SpeechTranslatingSTT` per spoken language, made on first use from the agent's
    ``stt`` block and ``meeting.multilingual_model``; :meth:`aclose` closes them and their client.
    The key is checked here, at build time, so a missing one is said before anybody speaks."""

    def __init__(
        self,
        spec: AgentSpec,
        *,
        settings: Settings,
        timeout_s: float = 30.0,
        whisper_english: Callable[[str], bool] | None = None,
    ) -> None:
        """``whisper_english(language)``: whether speakers of that language need Whisper's English
        (default: all); wiring says no where the caption translator has its own route to English."""
        block = spec.stt
        self._local = isinstance(block, LocalSTT)
        if isinstance(block, LocalSTT):
            self._base_url, self._key = settings.models_base_url, _LOCAL_KEY
        elif isinstance(block, OpenAISTT):
            key = block.key()
            if not key:
                raise MissingCredential(
                    block.api_key_env, what=f"agent {spec.name!r}: meeting.multilingual (stt.api_key_env)"
                )
            self._base_url, self._key = block.base_url or "https://api.openai.com/v1", key
        else:
            raise ConfigError(
                f"agent {spec.name!r}: meeting.multilingual needs stt provider local or openai, "
                f"not {block.provider!r}"
            )
        self.model = spec.meeting.multilingual_model
        self._timeout_s = timeout_s
        self._whisper_english = whisper_english
        self._client: openai.AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._engines: dict[str, SpeechTranslatingSTT] = {}

    def __call__(self, language: str) -> stt.STT[Any]:
        """The STT for speakers of ``language`` (a BCP-47 tag; its primary subtag counts)."""
        lang = primary(language)
        if lang not in self._engines:
            if self._client is None or self._http is None:
                self._client = openai.AsyncClient(api_key=self._key, base_url=self._base_url, max_retries=0)
                self._http = httpx.AsyncClient(
                    base_url=self._base_url.rstrip("/"), headers={"Authorization": f"Bearer {self._key}"}
                )
            self._engines[lang] = SpeechTranslatingSTT(
                client=self._client,
                http=self._http,
                model=self.model,
                language=lang,
                timeout_s=self._timeout_s,
                name_language=self._local,
                english=self._whisper_english is None or self._whisper_english(lang),
            )
        return self._engines[lang]

    async def aclose(self) -> None:
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.aclose()
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()
