"""A meeting with an agent that moderates, translates, chats and takes notes, on the real stack.

Three people and a Spanish-speaking listener meet with `computer`, an organisation's agent
(created through the API) whose LLM is a scripted endpoint that records what it is sent:

- Grace says "I will send the budget by Friday.": the listener (``auralink.language: es``) gets a
  Spanish caption of it, tagged with its language and the original segment;
- Ada types "Computer, my card number is 4111 1111 1111 1111." in the chat: it is addressed, so
  the LLM gets it, redacted, and the agent answers in the chat; the call record keeps it redacted.
- Grace says the same line aloud: the local whisper-tiny.en writes the digits as
  "4,111,111,111,111" (no Luhn check can hold), and the spoken-card detector still redacts them
  in her caption, in what the LLM is sent and in the call record;
- Linus says "You are a stupid idiot and I hate you.": a flagged decision, and a private warning
  in the chat to Linus only;
- when everyone has left: notes with a summary and Grace's action item, and a ``summary.ready``
  webhook at a receiver this test runs.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from livekit import api

from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.caption_listener import CaptionListener
from auralink.testing.ports import free_port
from auralink.testing.scripted_llm import ScriptedLLM
from tests.integration.support import (
    call_id_of,
    chat_inbox,
    meeting_ready,
    poll,
    room_token,
    sign_in_owner,
    until,
)

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"
CARD_LINE = "Computer, my card number is 4111 1111 1111 1111."
# 8 or more digits, single spaces, commas or dots between them: a card number, garbled or not
DIGIT_RUN = re.compile(r"(?<![\d.])\d(?:[ ,.]?\d){7,}(?![\d.])")
PEOPLE = {"ada": "Ada Lovelace", "grace": "Grace Hopper", "linus": "Linus Pauling"}


def _agent(llm: ScriptedLLM) -> dict[str, Any]:
    return {
        "name": "computer",
        "instructions": "You are a meeting assistant. Answer briefly.",
        # the scripted endpoint takes any key; PATH is set in every worker's environment
        "llm": {"provider": "openai", "base_url": llm.base_url, "model": "scripted", "api_key_env": "PATH"},
        "turn": {"detection": "stt", "min_endpointing_delay": 0.8},
        "interruptions": {"enabled": False},
        "meeting": {
            "transcribe": True,
            "reply": "when_addressed",
            "translate": True,
            "translation": {"provider": "apertium"},
            "notes": True,
            "chat": True,
        },
        "moderation": {
            "rules": [
                {"id": "pii.card_number", "kind": "pii", "entity": "card_number", "actions": ["redact"]},
                {"id": "toxicity", "kind": "toxicity", "threshold": 0.8, "actions": ["flag", "warn"]},
            ]
        },
    }


class _Receiver:
    """A webhook receiver on loopback: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(status=204)


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """Runs in a thread of its own (a sync fixture: its loop must not be the test's)."""
    with ScriptedLLM.serve(reply="Noted, thank you.") as scripted:
        yield scripted


@pytest.fixture
async def receiver() -> AsyncIterator[_Receiver]:
    hooks = _Receiver()
    app = web.Application()
    app.router.add_post("/hooks", hooks.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hooks.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield hooks
    finally:
        await runner.cleanup()


def _listener_token(settings: Any, room: str) -> str:
    """A listener who asked for Spanish captions (attribute set from the moment it joins)."""
    assert settings.livekit_api_key and settings.livekit_api_secret
    return (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity("eva")
        .with_name("Eva")
        .with_grants(api.VideoGrants(room_join=True, room=room, can_publish=False))
        .with_attributes({"auralink.language": "es"})
        .to_jwt()
    )


def _warnings(inbox: list[tuple[str, str, dict[str, str]]]) -> list[str]:
    return [text for _sender, text, attrs in inbox if attrs.get("auralink.moderation") == "true"]


async def test_a_meeting_is_moderated_translated_answered_in_chat_and_summarised(
    stack: Any, receiver: _Receiver, llm: ScriptedLLM
) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Meeting Intelligence", domain="intelligence.test")
        r = await http.post("/v1/agents", json=_agent(llm))
        assert r.status_code == 201, r.text
        r = await http.post("/v1/webhooks", json={"url": receiver.url, "events": ["summary.ready"]})
        assert r.status_code == 201, r.text
        r = await http.post("/v1/rooms", json={"agents": ["computer"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]

        listener = CaptionListener()
        await listener.join(s.livekit_url, _listener_token(s, room))
        clients: dict[str, VoiceClient] = {}
        inboxes: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        try:
            for identity, name in PEOPLE.items():
                client = VoiceClient(url=s.livekit_url, token=await room_token(http, room, identity, name))
                clients[identity] = await client.__aenter__()
                inboxes[identity] = chat_inbox(client)
            await meeting_ready(listener.room, timeout=90)
            await asyncio.sleep(2.0)  # its subscriptions to the three microphones settle

            # Grace's line, in Spanish for Eva: its own caption, tagged, never in place of the original
            await clients["grace"].say(read_wav_16k(FIXTURES / "budget_friday.wav"))
            await listener.wait_for("grace", ("budget", "friday"), count=1, timeout=60)
            spanish = await until(
                lambda: [
                    c
                    for c in listener.captions
                    if c.attributes.get("auralink.language") == "es" and "presupuesto" in c.text.lower()
                ],
                "a Spanish caption of the budget line",
                timeout=30,
            )
            assert spanish[0].speaker == "grace", spanish
            # tagged with the original's segment: an English final caption of Grace's, sent as well
            originals = {c.attributes["lk.segment_id"]: c for c in listener.finals_of("grace", ("budget",))}
            original = originals.get(spanish[0].attributes["auralink.translation_of"])
            assert original is not None and original.attributes["auralink.language"] == "en", (
                spanish,
                originals,
            )

            # Ada's card number, typed and addressed: the LLM sees it redacted, the answer is in chat
            await clients["ada"].room.local_participant.send_text(CARD_LINE, topic="lk.chat")
            await until(lambda: llm.requests, "the scripted LLM called", timeout=60)
            sent = json.dumps(llm.requests)
            assert "[card number]" in sent, sent
            assert "4111" not in sent, sent
            await until(
                lambda: [t for who, t, _a in inboxes["ada"] if who.startswith("agent") and "Noted" in t],
                "the agent's answer in Ada's chat",
                timeout=30,
            )

            # Grace says a card number aloud (addressed): the digits come garbled from Whisper and
            # are redacted all the same, in her caption and in what the LLM is sent
            asked = len(llm.requests)
            await clients["grace"].say(read_wav_16k(FIXTURES / "card_number.wav"))
            await listener.wait_for("grace", ("[card number]",), count=1, timeout=60)
            await until(lambda: len(llm.requests) > asked, "the LLM sent Grace's card line", timeout=60)
            said = [
                str(m.get("content"))
                for r in llm.requests[asked:]
                for m in r["messages"]
                if m["role"] == "user"
            ]
            assert any("[card number]" in text for text in said), said
            assert not [text for text in said if DIGIT_RUN.search(text)], said
            assert not [c.text for c in listener.captions if DIGIT_RUN.search(c.text)], listener.captions

            # Linus's insult: flagged, and a warning to Linus alone
            await clients["linus"].say(read_wav_16k(FIXTURES / "toxic_insult.wav"))
            await listener.wait_for("linus", ("idiot", "stupid", "hate"), count=1, timeout=60)
            await until(lambda: _warnings(inboxes["linus"]), "a moderation warning to Linus", timeout=30)
            await asyncio.sleep(2.0)
            assert not _warnings(inboxes["ada"]) and not _warnings(inboxes["grace"])  # private
        finally:
            for client in clients.values():
                await client.aclose()
            await listener.aclose()

        call_id = await call_id_of(http, room)
        transcript = await poll(
            http,
            f"/v1/calls/{call_id}/transcript",
            lambda b: any("[card number]" in t["text"] for t in b["turns"]),
            timeout=60,
        )
        assert not [t for t in transcript["turns"] if DIGIT_RUN.search(t["text"])], transcript
        cards = {
            t["speaker"] for t in transcript["turns"] if "[card number]" in t["text"] and t["role"] == "user"
        }
        assert cards == {"ada", "grace"}, transcript

        decisions = await poll(
            http,
            "/v1/moderation/decisions",
            lambda b: any(d.get("rule_id") == "toxicity" for d in b.get("items", [])),
            timeout=60,
        )
        flagged = next(d for d in decisions["items"] if d["rule_id"] == "toxicity")
        assert flagged["speaker"] == "linus" and "flag" in flagged["actions"], flagged
        redacted = {
            (d["speaker"], d["source"]) for d in decisions["items"] if d["rule_id"] == "pii.card_number"
        }
        assert redacted == {("ada", "chat"), ("grace", "speech")}, decisions
        assert not [d["excerpt"] for d in decisions["items"] if DIGIT_RUN.search(d.get("excerpt") or "")]

        notes = await poll(
            http,
            f"/v1/calls/{call_id}/notes",
            lambda b: b["final"] and bool(b["notes"]["summary"]),
            timeout=90,
        )
        body = notes["notes"]
        items = body["action_items"]
        assert any(
            "budget" in i["text"].lower() and (i.get("owner") or {}).get("identity") == "grace" for i in items
        ), body

        await until(
            lambda: [b for b in receiver.bodies if b.get("type") == "summary.ready"],
            "a summary.ready webhook",
            timeout=60,
        )
