"""A caller joins a real LiveKit room, the worker dispatches the agent, and they talk.

Everything is real: livekit-server, Redis, the model server (Whisper, SmolLM2, Piper), the
livekit-agents worker and the API that mints the token. The caller is a Python rtc participant.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api

from auralink.testing import VoiceClient, read_wav_16k

pytestmark = pytest.mark.integration


async def _session(stack: Any, agent: str = "assistant", room: str | None = None) -> dict[str, Any]:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}") as http:
        body: dict[str, Any] = {"agent": agent}
        r = await http.post("/v1/dev/sessions", json=body)
        r.raise_for_status()
        data: dict[str, Any] = r.json()
    if room is not None:  # same agent, a room of the test's choosing
        token = (
            api.AccessToken(s.livekit_api_key, s.livekit_api_secret.get_secret_value())
            .with_identity("caller-" + room)
            .with_grants(api.VideoGrants(room_join=True, room=room))
        )
        data.update(room=room, token=token.to_jwt())
    return data


async def _talk(client: VoiceClient, wav: Path) -> tuple[float, float]:
    """Speak ``wav`` after the greeting; return (end of speech, first agent audio after it)."""
    await client.wait_for_audio(after=0, timeout=90)  # the greeting
    await client.wait_until_quiet(quiet_for=0.8, timeout=60)
    end = await client.say(read_wav_16k(wav))
    first = await client.wait_for_audio(after=end, timeout=90)
    return end, first


async def test_caller_hears_greeting_and_answer_with_captions(stack: Any, question_wav: Path) -> None:
    sess = await _session(stack)
    async with VoiceClient(url=sess["url"], token=sess["token"]) as client:
        end, first = await _talk(client, question_wav)
        assert first > end
        await client.wait_until_quiet(quiet_for=1.0, timeout=60)
        assert client.loud_seconds_after(end) > 0.5  # a spoken answer, not a click

        user = await client.wait_for_caption(
            lambda c: c.identity == client.local_identity and "capital" in c.text.lower(), timeout=30
        )
        assert "france" in user.text.lower()
        agent_lines = [c.text for c in client.agent_captions() if c.text.strip()]
        assert len(agent_lines) >= 2, agent_lines  # the greeting and the answer
        assert any("aura" in t.lower() for t in agent_lines)  # the greeting from agents.yaml
        states = {s for _, s in client.agent_states}
        assert {"listening", "speaking"} <= states, states
        reports = {m["role"]: m["metrics"] for m in client.metrics if m.get("type") == "turn"}
        assert "transcription_delay" in reports.get("user", {}), client.metrics
        assert "llm_node_ttft" in reports.get("assistant", {}), client.metrics


async def test_two_rooms_are_independent(stack: Any, question_wav: Path, second_question_wav: Path) -> None:
    a, b = await asyncio.gather(_session(stack), _session(stack, agent="receptionist"))
    assert a["room"] != b["room"]
    async with (
        VoiceClient(url=a["url"], token=a["token"]) as ca,
        VoiceClient(url=b["url"], token=b["token"]) as cb,
    ):
        await asyncio.gather(_talk(ca, question_wav), _talk(cb, second_question_wav))
        await asyncio.gather(ca.wait_until_quiet(timeout=60), cb.wait_until_quiet(timeout=60))
        texts_a = " ".join(c.text.lower() for c in ca.agent_captions())
        texts_b = " ".join(c.text.lower() for c in cb.agent_captions())
        assert "aura" in texts_a and "trattoria" in texts_b  # each room got its own agent
        user_a = " ".join(c.text.lower() for c in ca.user_captions())
        user_b = " ".join(c.text.lower() for c in cb.user_captions())
        assert "capital" in user_a and "capital" not in user_b
        assert "ocean" in user_b and "ocean" not in user_a


async def test_new_dispatch_after_worker_crash_gets_a_working_agent(stack: Any, question_wav: Path) -> None:
    s = stack.settings
    room = "crash-" + str(int(time.time()))
    sess = await _session(stack, room=room)
    lk = api.LiveKitAPI(
        s.livekit_url.replace("ws", "http", 1), s.livekit_api_key, s.livekit_api_secret.get_secret_value()
    )
    try:
        async with VoiceClient(url=sess["url"], token=sess["token"]) as client:
            meta = json.dumps({"agent": "assistant"})
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name=s.worker_agent_name, room=room, metadata=meta)
            )
            await client.wait_for_audio(after=0, timeout=90)
            stack.kill("worker")  # mid-call: the agent's process is gone
            await asyncio.sleep(1.0)
            stack.restart("worker")
            t = time.monotonic()
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name=s.worker_agent_name, room=room, metadata=meta)
            )
            await client.wait_for_audio(after=t, timeout=120)  # a new greeting from a new agent
            await client.wait_until_quiet(quiet_for=0.8, timeout=60)
            end = await client.say(read_wav_16k(question_wav))
            await client.wait_for_audio(after=end, timeout=90)  # and it answers
    finally:
        await lk.aclose()
