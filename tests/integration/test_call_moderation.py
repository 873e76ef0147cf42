"""Moderation in a one-to-one call on the real stack (meetings are covered by test_meeting_intelligence).

An organisation's agent has two rules: a toxicity rule that blocks, and a block-list rule that
redacts the word "France". Its LLM is a scripted endpoint that records what it is sent. Ada says
"You are a stupid idiot and I hate you.": the line is blocked, so nobody answers it and the LLM
never sees it. Then she asks "What is the capital of France?": the agent answers, and the LLM, the
call record and the admins' decision list all have "[country]" where she said "France".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.scripted_llm import ScriptedLLM
from tests.integration.support import call_id_of, poll, sign_in_owner

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM.serve(reply="It is Paris.") as scripted:
        yield scripted


def _agent(llm: ScriptedLLM) -> dict[str, Any]:
    return {
        "name": "guarded",
        "instructions": "You answer questions briefly.",
        "greeting": None,
        "llm": {"provider": "openai", "base_url": llm.base_url, "model": "scripted", "api_key_env": "PATH"},
        "moderation": {
            "rules": [
                {"id": "toxicity", "kind": "toxicity", "threshold": 0.8, "actions": ["block", "flag"]},
                {
                    "id": "no-country",
                    "kind": "blocklist",
                    "words": ["France"],
                    "placeholder": "[country]",
                    "actions": ["redact"],
                },
            ]
        },
    }


async def test_a_one_to_one_call_is_moderated_before_the_llm_and_the_record(
    stack: Any, llm: ScriptedLLM
) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Guarded Line", domain="one-to-one.test")
        r = await http.post("/v1/agents", json=_agent(llm))
        assert r.status_code == 201, r.text
        r = await http.post("/v1/rooms", json={"agents": ["guarded"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]
        r = await http.post(f"/v1/rooms/{room}/tokens", json={"identity": "ada", "name": "Ada"})
        assert r.status_code == 201, r.text

        async with VoiceClient(url=s.livekit_url, token=r.json()["token"]) as ada:
            deadline = time.monotonic() + 90
            while "listening" not in {state for _, state in ada.agent_states}:
                assert time.monotonic() < deadline, "the agent never started listening"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # the agent's subscription to the microphone settles

            # blocked: not answered, never sent to the LLM
            await ada.say(read_wav_16k(FIXTURES / "toxic_insult.wav"))
            await asyncio.sleep(6.0)
            assert not llm.requests, f"the LLM was sent a blocked line: {llm.requests}"
            assert not [state for _, state in ada.agent_states if state == "speaking"], ada.agent_states

            # redacted: answered, and the LLM saw only the placeholder
            asked = await ada.say(read_wav_16k(FIXTURES / "capital_of_france.wav"))
            await ada.wait_for_audio(after=asked, timeout=60)
            sent = json.dumps(llm.requests)
            assert "[country]" in sent and "france" not in sent.lower(), sent
            assert "idiot" not in sent.lower(), sent

        call_id = await call_id_of(http, room)
        transcript = await poll(
            http,
            f"/v1/calls/{call_id}/transcript",
            lambda b: any("[country]" in t["text"] for t in b["turns"]),
            timeout=60,
        )
        said = " ".join(t["text"] for t in transcript["turns"]).lower()
        assert "france" not in said and "idiot" not in said, transcript

        decisions = await poll(
            http,
            "/v1/moderation/decisions",
            lambda b: {d.get("rule_id") for d in b.get("items", [])} >= {"toxicity", "no-country"},
            timeout=60,
        )
        by_rule = {d["rule_id"]: d for d in decisions["items"]}
        assert "block" in by_rule["toxicity"]["actions"] and by_rule["toxicity"]["speaker"] == "ada"
        assert by_rule["no-country"]["actions"] == ["redact"] and by_rule["no-country"]["source"] == "speech"
        assert "idiot" not in json.dumps(decisions).lower()
