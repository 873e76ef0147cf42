"""Floor control in a real meeting room: the agent does not talk over people, and stops when talked over.

An organisation's agent answers every turn in a group (``reply: always``); its LLM is a scripted
endpoint with a long answer (about ten seconds of speech). Ada asks a question and, as she stops,
Grace starts a six-second line: the agent waits for Grace to finish before it answers Ada. Then,
while it speaks, Ada talks over it: it stops within a few seconds instead of finishing the answer.
What the test reads is the agent's state (``lk.agent.state``) as every client in the room sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.scripted_llm import ScriptedLLM
from tests.integration.support import meeting_ready, room_token, sign_in_owner, until

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"
LONG_ANSWER = (
    "Paris is the capital of France. It stands on the river Seine in the north of the country. "
    "It has been the capital for more than a thousand years, and about two million people live "
    "in the city itself, with many more in the towns around it."
)


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM.serve(reply=LONG_ANSWER) as scripted:
        yield scripted


def _agent(llm: ScriptedLLM) -> dict[str, Any]:
    return {
        "name": "chair",
        "instructions": "You answer questions in a meeting.",
        "greeting": None,
        "llm": {"provider": "openai", "base_url": llm.base_url, "model": "scripted", "api_key_env": "PATH"},
        "turn": {"detection": "stt", "min_endpointing_delay": 0.5},
        "meeting": {"transcribe": True, "reply": "always"},
    }


def _speaking_spans(states: list[tuple[float, str]]) -> list[tuple[float, float | None]]:
    """(start, end) of every stretch the agent spent speaking; end None while it still speaks."""
    spans: list[tuple[float, float | None]] = []
    started: float | None = None
    for at, state in states:
        if state == "speaking" and started is None:
            started = at
        elif state != "speaking" and started is not None:
            spans.append((started, at))
            started = None
    if started is not None:
        spans.append((started, None))
    return spans


async def test_the_agent_waits_for_the_floor_and_yields_it(stack: Any, llm: ScriptedLLM) -> None:
    s = stack.settings
    question = read_wav_16k(FIXTURES / "capital_of_france.wav")
    long_line = read_wav_16k(FIXTURES / "voicemail_greeting.wav")  # six seconds of Grace talking
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Floor Control", domain="floor.test")
        r = await http.post("/v1/agents", json=_agent(llm))
        assert r.status_code == 201, r.text
        r = await http.post("/v1/rooms", json={"agents": ["chair"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]

        async with (
            VoiceClient(url=s.livekit_url, token=await room_token(http, room, "ada", "Ada")) as ada,
            VoiceClient(url=s.livekit_url, token=await room_token(http, room, "grace", "Grace")) as grace,
        ):
            await meeting_ready(ada.room)
            await asyncio.sleep(2.0)  # its subscriptions to both microphones settle

            # Ada asks; Grace takes the floor as Ada stops, before the answer could start
            await ada.say(question)
            await asyncio.sleep(0.2)
            await grace.say(long_line)
            grace_started, grace_ended = grace.first_speech_sent_at, grace.last_speech_sent_at
            await until(lambda: _speaking_spans(ada.agent_states), "the agent answering", 60, every=0.05)
            first_start, _ = _speaking_spans(ada.agent_states)[0]
            assert llm.requests, "the agent never asked its LLM"
            # the answer to Ada came after Grace's six seconds, not over them
            assert first_start >= grace_ended - 0.3, (
                f"the agent started {grace_ended - first_start:.2f} s before Grace stopped "
                f"({grace_ended - grace_started:.1f} s line)"
            )

            # the answer runs for about ten seconds; Ada talks over it after a second and a half
            await asyncio.sleep(1.5)
            assert _speaking_spans(ada.agent_states)[0][1] is None, "the answer ended by itself early"
            interrupting = asyncio.create_task(ada.say(question))
            try:
                spans = await until(
                    lambda: [e for _, e in _speaking_spans(ada.agent_states)[:1] if e is not None],
                    "the agent yielding the floor",
                    20,
                    every=0.05,
                )
            finally:
                await interrupting
            stopped = spans[0]
            assert ada.first_speech_sent_at < stopped, "the agent stopped before anyone talked over it"
            held = stopped - ada.first_speech_sent_at
            assert held < 4.0, f"the agent went on for {held:.2f} s over Ada"
            assert stopped - first_start < 8.0, "the agent finished its answer instead of yielding"
            logging.getLogger(__name__).info(
                "answer began %.2f s after Grace stopped; yielded %.2f s after Ada began talking over it",
                first_start - grace_ended,
                held,
            )
