"""Moderated chat between people: a message sent to the agent on ``auralink.chat`` is screened and
posted on ``lk.chat`` for everyone on the author's behalf (redacted), or not at all (blocked); it is
also recorded and kept like any chat line."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from livekit import rtc

from auralink.agents.meeting.moderation import MemorySink, Moderator
from auralink.agents.meeting.replies import ReplyPolicy
from auralink.agents.meeting.room_chat import RELAY_TOPIC, MeetingChat
from auralink.agents.meeting.stage import ModerationStage
from auralink.agents.meeting.wiring import _Lines
from auralink.core import AgentSpec
from auralink.core.moderation import BlocklistRule, ModerationPolicy, PIIRule
from tests.unit.meeting.test_wiring_room import FakeRoom, _TextReader


class _Reporter:
    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []

    def turn(self, **kw: Any) -> None:
        self.turns.append(kw)


def _setup(room: FakeRoom) -> tuple[MeetingChat, _Reporter, ModerationStage]:
    policy = ModerationPolicy(
        rules=[
            PIIRule(id="cards", entity="card_number", actions=["redact"]),
            BlocklistRule(id="slurs", words=["idiot"], actions=["block"]),
        ]
    )
    stage = ModerationStage(Moderator(policy), sink=MemorySink())
    spec = AgentSpec.model_validate(
        {
            "name": "notetaker",
            "instructions": "Notes.",
            "meeting": {"transcribe": True, "reply": "when_addressed"},
        }
    )
    responder = SimpleNamespace(
        policy=ReplyPolicy(spec), voice=lambda **_kw: None, continues=lambda speaker, text: False
    )
    reporter = _Reporter()
    lines = _Lines(
        room=cast(rtc.Room, room),
        responder=cast(Any, responder),
        reporter=cast(Any, reporter),
        started_at=datetime.now(UTC),
        moderation=stage,
        notes=None,
    )
    chat = MeetingChat(room=cast(rtc.Room, room), on_message=lines.on_chat, on_relay=lines.on_relayed_chat)
    chat.start()
    return chat, reporter, stage


async def test_a_relayed_message_is_posted_redacted_for_everyone_on_the_authors_behalf() -> None:
    room = FakeRoom()
    room.join("ada", "Ada")
    room.join("ben", "Ben")
    chat, reporter, stage = _setup(room)
    room.text_handlers[RELAY_TOPIC](_TextReader("my card is 4111 1111 1111 1111"), "ada")
    await asyncio.sleep(0.05)
    await chat.aclose()
    await stage.aclose()
    (posted,) = room.on_topic("lk.chat")
    assert (posted.text, posted.sender, posted.to) == ("my card is [card number]", "ada", [])
    assert posted.attributes == {"auralink.relayed": "true"}
    assert [t["text"] for t in reporter.turns] == ["my card is [card number]"]
    assert RELAY_TOPIC not in room.text_handlers


async def test_a_blocked_message_is_not_posted_and_plain_chat_is_never_reposted() -> None:
    room = FakeRoom()
    room.join("ada", "Ada")
    chat, reporter, stage = _setup(room)
    room.text_handlers[RELAY_TOPIC](_TextReader("you idiot"), "ada")
    room.text_handlers["lk.chat"](_TextReader("my card is 4111 1111 1111 1111"), "ada")  # sent directly
    await asyncio.sleep(0.05)
    await chat.aclose()
    await stage.aclose()
    assert room.on_topic("lk.chat") == []  # the blocked one went nowhere; lk.chat was already delivered
    assert [t["text"] for t in reporter.turns] == ["my card is [card number]"]  # recorded, redacted
    assert stage.blocked == 1
