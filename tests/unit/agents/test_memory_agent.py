"""The memory mixin: each completed user turn is recorded and gets the recalled memories as a
system note; a slow or failing recall leaves the turn as it was."""

from __future__ import annotations

import asyncio

from livekit.agents import Agent
from livekit.agents.llm import ChatContext, ChatMessage

from auralink.agents.memory import ConversationMemory, with_memory


class FakeMemory:
    def __init__(self, note: str | None = None, *, delay: float = 0.0, fail: bool = False) -> None:
        self.note, self.delay, self.fail = note, delay, fail
        self.turns: list[str] = []

    def record_user_turn(self, text: str) -> None:
        self.turns.append(text)

    async def context_for(self, text: str) -> str | None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("embeddings server down")
        return self.note


class Concierge(Agent):
    """A bot builder's own class: the mixin goes in front of it."""


def _agent(memory: FakeMemory) -> Agent:
    agent = with_memory(Concierge)(instructions="Help.")
    agent.auralink_memory = memory  # type: ignore[attr-defined]
    assert isinstance(agent, Concierge)
    return agent


async def _turn(agent: Agent, text: str) -> ChatContext:
    ctx = ChatContext.empty()
    message = ChatMessage(role="user", content=[text])
    await agent.on_user_turn_completed(ctx, message)
    return ctx


async def test_a_turn_is_recorded_and_gets_the_recalled_memories() -> None:
    memory = FakeMemory("Memories that may be relevant:\n- I love green tea.")
    ctx = await _turn(_agent(memory), "What should I drink?")
    assert memory.turns == ["What should I drink?"]
    notes = [m for m in ctx.items if isinstance(m, ChatMessage) and m.role == "system"]
    assert len(notes) == 1 and "green tea" in (notes[0].text_content or "")


async def test_a_slow_or_failing_recall_leaves_the_turn_alone() -> None:
    for memory in (FakeMemory("late", delay=1.0), FakeMemory(fail=True), FakeMemory(None)):
        ctx = await _turn(_agent(memory), "Hello")
        assert not [m for m in ctx.items if isinstance(m, ChatMessage) and m.role == "system"]
        assert memory.turns == ["Hello"]


def test_conversation_memory_is_what_the_mixin_expects() -> None:
    assert callable(ConversationMemory.context_for) and callable(ConversationMemory.record_user_turn)
