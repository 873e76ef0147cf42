"""Spec → livekit plugin instances: local models over the OpenAI API, BYOK keys named, no cloud defaults."""

from __future__ import annotations

import pytest
from livekit.plugins import openai

from auralink.agents import build_agent, build_llm, build_stt, build_tts, turn_handling
from auralink.agents.session import build_session
from auralink.core import ConfigError, MissingCredential, Settings, parse_catalogue
from examples.custom_agent import BookingAgent


def _spec(extra: str = "") -> object:
    return parse_catalogue(f"version: 1\nagents:\n  - name: a\n    instructions: be brief\n{extra}").agents[0]


@pytest.fixture
def settings() -> Settings:
    return Settings(models_url="http://127.0.0.1:9999/v1", _env_file=None)  # type: ignore[call-arg]


def test_local_blocks_use_the_openai_plugins_against_the_model_server(settings: Settings) -> None:
    spec = _spec()
    stt = build_stt(spec.stt, settings=settings, language="en")  # type: ignore[attr-defined]
    llm = build_llm(spec.llm, settings=settings)  # type: ignore[attr-defined]
    tts = build_tts(spec.tts, settings=settings)  # type: ignore[attr-defined]
    assert isinstance(stt, openai.STT) and isinstance(llm, openai.LLM) and isinstance(tts, openai.TTS)
    assert str(llm._client.base_url).startswith("http://127.0.0.1:9999/v1")
    assert str(tts._client.base_url).startswith("http://127.0.0.1:9999/v1")
    assert not stt.capabilities.streaming  # plain /v1/audio/transcriptions, not OpenAI's realtime socket


def test_missing_key_names_the_env_var(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    spec = _spec("    llm: {provider: openai, base_url: 'http://127.0.0.1:1/v1', api_key_env: MY_LLM_KEY}\n")
    with pytest.raises(MissingCredential, match="MY_LLM_KEY"):
        build_llm(spec.llm, settings=settings)  # type: ignore[attr-defined]
    monkeypatch.setenv("MY_LLM_KEY", "sk-x")
    llm = build_llm(spec.llm, settings=settings)  # type: ignore[attr-defined]
    assert str(llm._client.base_url).startswith("http://127.0.0.1:1/v1")  # type: ignore[attr-defined]


def test_byok_speech_providers(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "el")
    spec = _spec("    stt: {provider: deepgram}\n    tts: {provider: elevenlabs, voice: v1}\n")
    from livekit.plugins import deepgram, elevenlabs

    assert isinstance(build_stt(spec.stt, settings=settings, language="en"), deepgram.STT)  # type: ignore[attr-defined]
    assert isinstance(build_tts(spec.tts, settings=settings), elevenlabs.TTS)  # type: ignore[attr-defined]


def test_any_plugin_class_by_import_path(settings: Settings) -> None:
    spec = _spec("    tts: {provider: plugin, plugin: 'livekit.plugins.openai:TTS', options: {api_key: k}}\n")
    assert isinstance(build_tts(spec.tts, settings=settings), openai.TTS)  # type: ignore[attr-defined]
    bad = _spec("    tts: {provider: plugin, plugin: 'livekit.plugins.nope:TTS'}\n")
    with pytest.raises(ConfigError, match="livekit.plugins.nope"):
        build_tts(bad.tts, settings=settings)  # type: ignore[attr-defined]
    wrong = _spec(
        "    tts: {provider: plugin, plugin: 'livekit.plugins.openai:LLM', options: {api_key: k}}\n"
    )
    with pytest.raises(ConfigError, match="not a livekit TTS"):
        build_tts(wrong.tts, settings=settings)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["vad", "stt", "eot"])
def test_turn_detection_is_always_local(mode: str) -> None:
    opts = turn_handling(_spec(f"    turn: {{detection: {mode}}}\n"))  # type: ignore[arg-type]
    detector = opts["turn_detection"]
    if mode == "eot":
        assert detector.model == "turn-detector-v1-mini"  # type: ignore[union-attr]
    else:
        assert detector == mode
    assert opts["interruption"]["mode"] == "vad"


async def test_session_gets_explicit_plugin_instances(settings: Settings) -> None:
    session = build_session(_spec(), settings=settings, vad_model=None)  # type: ignore[arg-type]
    assert isinstance(session.stt, openai.STT) and isinstance(session.tts, openai.TTS)
    assert isinstance(session.llm, openai.LLM)
    prewarm = getattr(session.llm, "_prewarm_task", None)  # the plugin opens a connection early
    if prewarm is not None:
        await prewarm
    await session.aclose()


def test_agent_class_and_tools_from_yaml() -> None:
    spec = _spec("    class: 'examples.custom_agent:BookingAgent'\n    tools: [{builtin: current_time}]\n")
    agent = build_agent(spec)  # type: ignore[arg-type]
    assert isinstance(agent, BookingAgent)
    assert agent.instructions == "be brief"
    assert sorted(t.info.name for t in agent.tools) == ["book_table", "current_time"]  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="not a livekit.agents.Agent"):
        build_agent(_spec("    class: 'auralink.core.settings:Settings'\n"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot import"):
        build_agent(_spec("    tools: [{python: 'tests.nothing:here'}]\n"))  # type: ignore[arg-type]
