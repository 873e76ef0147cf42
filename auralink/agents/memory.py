"""Long-term memory inside a conversation: what the agent knows at the start, what it recalls
per user turn, and what it keeps at the end (auralink.memory does the storing and ranking).

- At session start the subject's profile (facts, preferences, recent summaries) is prefetched
  and added to the agent's instructions.
- Each completed user turn recalls the top-k memories for what was just said and adds them to
  that turn's context as a system message (:class:`MemoryAgentMixin`, through livekit-agents'
  ``on_user_turn_completed``); no LLM call is made on this path. The turn itself is queued for
  the background writer.
- When the conversation ends, facts and preferences are extracted from the user's lines and
  merged with what is stored, and a dated summary of the conversation is kept; the next
  conversation's profile shows the latest summaries (:meth:`ConversationMemory.finish`).
"""

from __future__ import annotations

__all__ = ["LOCAL_ORG", "ConversationMemory", "MemoryAgentMixin", "with_memory"]

import logging
import time
from typing import Any

from livekit.agents import Agent
from livekit.agents.llm import ChatContext, ChatMessage

from auralink.core import AgentSpec
from auralink.memory import LOCAL_ORG, MemoryRecord, MemoryScope, MemoryService, Profile, Subject

logger = logging.getLogger("auralink.agents")

#: the longest a per-turn recall may hold up the reply before it is skipped for that turn
_RECALL_BUDGET_S = 0.25


class ConversationMemory:
    """One conversation's view of the memory store: its subject, scope and profile."""

    def __init__(
        self,
        *,
        service: MemoryService,
        spec: AgentSpec,
        org_id: str,
        subject: Subject,
        conversation: str,
    ) -> None:
        self.service = service
        self.spec = spec
        self.org_id = org_id
        self.subject = subject
        self.conversation = conversation
        self.scope = MemoryScope.for_spec(spec.memory.scope, org_id=org_id, subject=subject, agent=spec.name)
        self.profile: Profile | None = None
        self.user_turns: list[str] = []

    async def start(self) -> str:
        """Prefetch the profile; the block to add to the agent's instructions ("" if none)."""
        self.profile = await self.service.prefetch(self.scope)
        known = self.profile.as_text()
        if not known:
            return ""
        return "What you remember about the person you are talking to:\n" + known

    async def context_for(self, text: str) -> str | None:
        """The memories relevant to ``text`` as one system note, or None."""
        started = time.perf_counter()
        found = await self.service.recall(
            self.scope, text, top_k=self.spec.memory.top_k, profile=self.profile
        )
        logger.debug("memory: recalled %d in %.1f ms", len(found), (time.perf_counter() - started) * 1000)
        if not found:
            return None
        lines = "\n".join(f"- {m.record.text}" for m in found)
        return f"Memories that may be relevant to what was just said:\n{lines}"

    def record_user_turn(self, text: str) -> None:
        if not text.strip():
            return
        self.user_turns.append(text)
        self.service.record_turn(
            MemoryRecord(
                org_id=self.org_id,
                subject=self.subject.key,
                agent=self.spec.name,
                conversation=self.conversation,
                kind="turn",
                text=text,
            )
        )

    async def finish(self) -> int:
        """Drop the subject's memories older than the agent's ``memory.retention_days``, then
        extract and merge facts from this conversation's user lines and keep its summary (how
        many records were kept)."""
        days = self.spec.memory.retention_days
        if days is not None:
            expired = await self.service.expire_subject(self.org_id, self.subject.key, retention_days=days)
            if expired:
                logger.info("memory: %d memories past %d days' retention removed", expired, days)
        if not self.user_turns:
            return 0
        kept = await self.service.remember_conversation(
            org_id=self.org_id,
            subject=self.subject.key,
            user_turns=self.user_turns,
            agent=self.spec.name,
            conversation=self.conversation,
            summarize=True,
        )
        return len(kept)


class MemoryAgentMixin:
    """Adds recalled memories to each user turn (mixed in before the agent's own class)."""

    auralink_memory: ConversationMemory

    async def on_user_turn_completed(self, turn_ctx: ChatContext, new_message: ChatMessage) -> None:
        import asyncio

        memory = self.auralink_memory
        text = new_message.text_content or ""
        memory.record_user_turn(text)
        if text.strip():
            try:
                note = await asyncio.wait_for(memory.context_for(text), timeout=_RECALL_BUDGET_S)
            except TimeoutError:
                logger.warning(
                    "memory: recall took over %.0f ms; this turn goes without", _RECALL_BUDGET_S * 1000
                )
                note = None
            except Exception as e:  # memory must never break the call
                logger.warning("memory: recall failed: %s", type(e).__name__)
                note = None
            if note:
                turn_ctx.add_message(role="system", content=note)
        parent: Any = super()
        await parent.on_user_turn_completed(turn_ctx, new_message)


def with_memory(cls: type[Agent]) -> type[Agent]:
    """``cls`` with :class:`MemoryAgentMixin` mixed in first (a bot builder's class too)."""
    mixed: type[Agent] = type(f"{cls.__name__}WithMemory", (MemoryAgentMixin, cls), {})
    return mixed
