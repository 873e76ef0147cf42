"""Turn an AgentSpec's ``stt``/``llm``/``tts`` blocks into livekit plugin instances.

``local`` blocks use livekit-plugins-openai pointed at the embedded model server (it speaks the
OpenAI HTTP API), so local and BYOK providers go through the same, real client code. A BYOK block
whose key is missing raises :class:`MissingCredential` naming the environment variable; nothing
ever falls back to a cloud on its own. Model strings are never handed to livekit-agents (they
would resolve to LiveKit's hosted inference): every provider is an explicit plugin instance.
"""

from __future__ import annotations

__all__ = ["build_llm", "build_stt", "build_tts"]

import importlib
from typing import Any

from livekit.agents import llm, stt, tts
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import openai

from auralink.core import ConfigError, MissingCredential, Settings
from auralink.core.spec import (
    BYOKSpec,
    DeepgramSTT,
    DeepgramTTS,
    ElevenLabsTTS,
    LLMSpec,
    LocalLLM,
    LocalSTT,
    LocalTTS,
    OpenAILLM,
    OpenAISTT,
    OpenAITTS,
    PluginSpec,
    STTSpec,
    TTSSpec,
)

# the model server needs no key, but the OpenAI client insists on one
_LOCAL_KEY = "local"


def _key(block: BYOKSpec, *, what: str) -> str:
    key = block.key()
    if not key:
        raise MissingCredential(block.api_key_env, what=what)
    return key


def build_stt(spec: STTSpec, *, settings: Settings, language: str) -> stt.STT[Any]:
    match spec:
        case LocalSTT():
            return openai.STT(
                model=spec.model,
                base_url=settings.models_base_url,
                api_key=_LOCAL_KEY,
                language=language.split("-", maxsplit=1)[0],
                use_realtime=False,
            )
        case DeepgramSTT():
            from livekit.plugins import deepgram

            return deepgram.STT(model=spec.model, language=language, api_key=_key(spec, what="Deepgram STT"))
        case OpenAISTT():
            return openai.STT(
                model=spec.model,
                language=language.split("-", maxsplit=1)[0],
                api_key=_key(spec, what="OpenAI-compatible STT"),
                base_url=spec.base_url or NOT_GIVEN,
            )
        case PluginSpec():
            plugin_stt: stt.STT[Any] = _plugin(spec, stt.STT, what="stt")
            return plugin_stt
    raise ConfigError(f"unsupported stt provider {spec.provider!r}")


def build_llm(spec: LLMSpec, *, settings: Settings) -> llm.LLM[Any]:
    match spec:
        case LocalLLM():
            return openai.LLM(
                model=spec.model,
                base_url=settings.models_base_url,
                api_key=_LOCAL_KEY,
                temperature=spec.temperature,
                max_completion_tokens=spec.max_tokens or 96,
                max_retries=0,
            )
        case OpenAILLM():
            return openai.LLM(
                model=spec.model,
                api_key=_key(spec, what="OpenAI-compatible LLM"),
                base_url=spec.base_url or NOT_GIVEN,
                temperature=spec.temperature,
                max_completion_tokens=spec.max_tokens or NOT_GIVEN,
            )
        case PluginSpec():
            plugin_llm: llm.LLM[Any] = _plugin(spec, llm.LLM, what="llm")
            return plugin_llm
    raise ConfigError(f"unsupported llm provider {spec.provider!r}")


def build_tts(spec: TTSSpec, *, settings: Settings) -> tts.TTS[Any]:
    match spec:
        case LocalTTS():
            return openai.TTS(
                model="piper",
                voice=spec.voice,
                speed=spec.speed,
                base_url=settings.models_base_url,
                api_key=_LOCAL_KEY,
                response_format="pcm",
            )
        case ElevenLabsTTS():
            from livekit.plugins import elevenlabs

            return elevenlabs.TTS(
                voice_id=spec.voice, model=spec.model, api_key=_key(spec, what="ElevenLabs TTS")
            )
        case DeepgramTTS():
            from livekit.plugins import deepgram

            return deepgram.TTS(model=spec.model, api_key=_key(spec, what="Deepgram TTS"))
        case OpenAITTS():
            return openai.TTS(
                model=spec.model,
                voice=spec.voice,
                api_key=_key(spec, what="OpenAI-compatible TTS"),
                base_url=spec.base_url or NOT_GIVEN,
            )
        case PluginSpec():
            plugin_tts: tts.TTS[Any] = _plugin(spec, tts.TTS, what="tts")
            return plugin_tts
    raise ConfigError(f"unsupported tts provider {spec.provider!r}")


def _plugin(spec: PluginSpec, base: type[Any], *, what: str) -> Any:
    """Instantiate ``module:Class`` from any installed livekit-plugins-* package."""
    module_name, _, attr = spec.plugin.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"{what}.plugin: cannot import {spec.plugin!r} ({e}); install the livekit-plugins package"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{what}.plugin: {spec.plugin!r} is not a livekit {base.__name__} class")
    options = dict(spec.options)
    if spec.api_key_env:
        options.setdefault("api_key", _key(spec, what=f"{what} plugin {spec.plugin}"))
    try:
        return cls(**options)
    except TypeError as e:
        raise ConfigError(f"{what}.options: {spec.plugin} rejected the options: {e}") from None
