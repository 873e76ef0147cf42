"""A real call leaves a call record: an organisation's share link starts a call, the caller asks
a question and hears the answer, hangs up; then the calls API shows the call ended, with the
caller and the agent as participants, both sides' transcript lines, per-turn latency and a
duration. Everything is real: livekit-server delivers its signed webhooks to the API, and the
worker reports transcript lines and latency to the API's ingest route.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from auralink.testing import VoiceClient, read_wav_16k

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


async def _owner(http: httpx.AsyncClient) -> None:
    """Sign up an organisation and log its owner in on ``http`` (the session cookie stays on it)."""
    email = f"owner-{int(time.time() * 1000)}@calls.test"
    body = {"name": "Call Records", "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
    r = await http.post("/v1/organisations", json=body)
    assert r.status_code == 201, r.text
    r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text


async def _ended_call(http: httpx.AsyncClient, room: str, timeout: float) -> dict[str, Any]:
    """The call in ``room`` once LiveKit has reported the room finished (polled)."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = await http.get("/v1/calls")
        assert r.status_code == 200, r.text
        seen = [c for c in r.json()["items"] if c["room"] == room]
        if seen and seen[0]["status"] != "active":
            return seen[0]
        await asyncio.sleep(1.0)
    raise AssertionError(f"the call in {room} did not end within {timeout:.0f}s: {seen}")


async def test_a_call_through_a_link_is_recorded_with_participants_transcript_and_latency(
    stack: Any, question_wav: Path
) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await _owner(http)
        r = await http.post("/v1/links", json={"agent": "assistant"})
        assert r.status_code == 201, r.text
        r = await http.post(f"/j/{r.json()['code']}/session", json={"name": "Caller"})
        assert r.status_code == 201, r.text
        session = r.json()

        async with VoiceClient(url=session["url"], token=session["token"]) as client:
            await client.wait_for_audio(after=0, timeout=90)  # the greeting
            await client.wait_until_quiet(quiet_for=0.8, timeout=60)
            end = await client.say(read_wav_16k(question_wav))
            await client.wait_for_audio(after=end, timeout=90)  # the answer
            await client.wait_until_quiet(quiet_for=1.0, timeout=60)
            caller = client.local_identity
        # hung up: the agent leaves too, LiveKit closes the room and sends room_finished

        call = await _ended_call(http, session["room"], timeout=180)
        assert call["status"] == "ended" and call["agent"] == "assistant" and call["source"] == "link"
        assert call["duration_s"] > 0

        detail = (await http.get(f"/v1/calls/{call['id']}")).json()
        kinds = {p["identity"]: p["kind"] for p in detail["participants"]}
        assert kinds.get(caller) == "standard", kinds
        agents = [identity for identity, kind in kinds.items() if kind == "agent"]
        assert len(agents) == 1, kinds
        assert all(p["left_at"] is not None for p in detail["participants"])
        assert {"e2e", "llm_ttft"} <= detail["latency"].keys(), detail["latency"]
        assert detail["latency"]["e2e"]["p50_ms"] > 0
        assert detail["usage"]["call_seconds"] == pytest.approx(call["duration_s"])

        transcript = (await http.get(f"/v1/calls/{call['id']}/transcript")).json()["turns"]
        said = [(t["role"], t["speaker"], t["text"].lower()) for t in transcript]
        assert any(role == "user" and who == caller and "capital" in text for role, who, text in said), said
        answers = [t for t in transcript if t["role"] == "assistant"]
        assert len(answers) >= 2, said  # the greeting and the answer
        assert all(t["speaker"] == agents[0] for t in answers), said
        assert any(t["metrics"] and "e2e" in t["metrics"] for t in answers), transcript
