"""Moderation in a one-to-one session (the normal ``AgentSession`` path; meetings screen lines in
their transcriber, :mod:`.meeting.wiring`).

- Speech: :func:`with_moderation` mixes :class:`ModerationAgentMixin` into the agent class, outermost,
  so its ``on_user_turn_completed`` runs before memory's and before the LLM: the user's message is
  replaced by the redacted text in place (the LLM, the chat history, the call record and memory all
  see only that), and a blocked line raises ``StopResponse`` (never added to the history, never
  answered). Chosen over an ``stt_node`` override because the hook sees the whole final turn and
  edits the very message the session then records.
- Chat: :func:`moderated_text_input` is the session's ``lk.chat`` callback: the message is screened
  and then handled as livekit-agents does (interrupt, reply to it).
"""

from __future__ import annotations

__all__ = ["ModerationAgentMixin", "moderated_text_input", "with_moderation"]

from dataclasses import replace
from typing import Any

from livekit.agents import Agent, AgentSession, StopResponse, llm
from livekit.agents.voice import room_io

from .meeting.stage import ModerationStage


class ModerationAgentMixin(Agent):
    """Screens each final user turn through ``auralink_moderation`` before anything else sees it."""

    auralink_moderation: ModerationStage | None = None

    async def on_user_turn_completed(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> None:
        stage = self.auralink_moderation
        if stage is not None:
            text = new_message.text_content or ""
            screened = await stage.screen(text, speaker=_speaker(self), source="speech")
            if screened is None:
                raise StopResponse()
            if screened != text:
                new_message.content = [screened]
        await super().on_user_turn_completed(turn_ctx, new_message)


def _speaker(agent: Agent) -> str:
    try:
        linked = agent.session.room_io.linked_participant
    except RuntimeError:  # no session or no room (a text session)
        return ""
    return linked.identity if linked is not None else ""


def with_moderation(cls: type[Agent]) -> type[Agent]:
    """``cls`` with :class:`ModerationAgentMixin` first in its MRO."""
    mixed: type[Agent] = type(f"{cls.__name__}Moderated", (ModerationAgentMixin, cls), {})
    return mixed


def moderated_text_input(stage: ModerationStage) -> room_io.TextInputOptions:
    """``lk.chat`` input that screens each message, then replies as livekit-agents does."""
    default = room_io.TextInputOptions().text_input_cb

    async def on_text(session: AgentSession[Any], ev: room_io.TextInputEvent) -> None:
        speaker = ev.participant.identity if ev.participant is not None else ""
        screened = await stage.screen(ev.text, speaker=speaker, source="chat")
        if screened is None:
            return
        result = default(session, replace(ev, text=screened))
        if result is not None:
            await result

    return room_io.TextInputOptions(text_input_cb=on_text)
