"""Memory across real calls: a caller says a fact in one call, and in the next call with the same
identity the agent's LLM is told it; a caller with another identity is not.

Everything is the real stack (livekit-server, the worker, Whisper, Piper, MiniLM embeddings,
the embedded memory store) except the LLM: a scripted OpenAI-compatible endpoint that records
what the agent sends it, so the test can see what the agent knew. The agent is an organisation's
database agent, so its spec (with that LLM and memory on) rides in the dispatch. The caller's
speech is made by the stack's own Piper voice.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from auralink.testing import VoiceClient
from auralink.testing.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM.serve(reply="Noted, thank you.") as scripted:
        yield scripted


async def _speech(models_url: str, text: str) -> np.ndarray:
    """``text`` spoken by the stack's Piper voice, as 16 kHz int16 samples."""
    async with httpx.AsyncClient(timeout=60) as http:
        r = await http.post(
            f"{models_url}/audio/speech",
            json={"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"},
        )
        r.raise_for_status()
    pcm24 = np.frombuffer(r.content, dtype=np.int16).astype(np.float32)
    positions = np.arange(0, len(pcm24), 24000 / 16000)
    return np.interp(positions, np.arange(len(pcm24)), pcm24).astype(np.int16)


async def _call(
    http: httpx.AsyncClient, agent: str, identity: str, speech: np.ndarray, llm: ScriptedLLM
) -> None:
    """One call as ``identity``: say ``speech``, hear the agent answer, hang up; then wait until the
    job has ended (the LLM is asked nothing more and the room is gone)."""
    r = await http.post("/v1/rooms", json={"agents": [agent]})
    assert r.status_code == 201, r.text
    room = r.json()["name"]
    r = await http.post(f"/v1/rooms/{room}/tokens", json={"identity": identity})
    assert r.status_code == 201, r.text
    asked = len(llm.requests)
    async with VoiceClient(url=r.json()["url"], token=r.json()["token"]) as client:
        await asyncio.sleep(2.0)  # the agent joins (no greeting)
        end = await client.say(speech)
        await client.wait_for_audio(after=end, timeout=90)
        await client.wait_until_quiet(quiet_for=1.0, timeout=60)
    assert len(llm.requests) > asked, "the agent never asked its LLM"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # LiveKit ends the room; the job's shutdown keeps the memories
        rooms = (await http.get("/v1/calls", params={"status": "ended"})).json()["items"]
        if any(c["room"] == room for c in rooms):
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"the call in {room} did not end")


async def test_a_fact_said_in_one_call_reaches_the_next_call_of_that_caller_only(
    stack: Any, llm: ScriptedLLM
) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        email = f"owner-{secrets.token_hex(4)}@memory.test"
        owner = {"email": email, "name": "Owner", "password": PASSWORD}
        assert (
            await http.post("/v1/organisations", json={"name": "Memory", "owner": owner})
        ).status_code == 201
        assert (
            await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        ).status_code == 200
        agent = f"keeper-{secrets.token_hex(3)}"
        spec = {
            "name": agent,
            "instructions": "You are a friendly concierge.",
            # the scripted endpoint takes any key; PATH is set in every worker's environment
            "llm": {
                "provider": "openai",
                "base_url": llm.base_url,
                "model": "scripted",
                "api_key_env": "PATH",
            },
            "memory": {"enabled": True, "top_k": 3},
        }
        assert (await http.post("/v1/agents", json=spec)).status_code == 201

        fact = await _speech(s.models_base_url, "My name is Ada. I love green tea.")
        question = await _speech(s.models_base_url, "What should I drink this afternoon?")

        await _call(http, agent, "ada", fact, llm)
        first_call = llm.texts()
        assert "green tea" in first_call.lower()  # Whisper heard it (and it was said in this call)

        before = len(llm.requests)
        await _call(http, agent, "ada", question, llm)
        second = " ".join(llm.texts(i) for i in range(before, len(llm.requests))).lower()
        assert "green tea" in second, second  # known from the first call

        before = len(llm.requests)
        await _call(http, agent, "bob", question, llm)
        third = " ".join(llm.texts(i) for i in range(before, len(llm.requests))).lower()
        assert "green tea" not in third and "ada" not in third, third
