"""Coming back to a meeting link after everyone left, on the real stack.

Ada opens a meeting link to the note-taker (its one room, ``meet-<link id>``), the note-taker
joins, and Ada leaves: the note-taker leaves too (nobody is left to caption), after writing the
notes. Ben opens the same link while only the leaving note-taker is in the room: he must meet a
note-taker that stays. LiveKit dispatches an agent only when it makes a room, so the API dispatches
the agent into the room again (``_revive_meeting`` in auralink/api/routes/public.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from livekit import api, rtc

from auralink.testing import VoiceClient
from tests.integration.support import sign_in_owner, until

pytestmark = pytest.mark.integration


async def _visit(http: httpx.AsyncClient, code: str, name: str) -> dict[str, Any]:
    r = await http.post(f"/j/{code}/session", json={"name": name})
    assert r.status_code == 201, r.text
    session: dict[str, Any] = r.json()
    assert session["mode"] == "meeting", session
    return session


def _agents(client: VoiceClient) -> list[rtc.RemoteParticipant]:
    return [
        p
        for p in client.room.remote_participants.values()
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and p.attributes.get("lk.agent.state")
    ]


async def test_a_visitor_returning_to_a_meeting_whose_agent_is_leaving_meets_a_new_agent(stack: Any) -> None:
    s = stack.settings
    secret = s.livekit_api_secret.get_secret_value()
    async with (
        httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http,
        api.LiveKitAPI(s.livekit_url, s.livekit_api_key, secret) as lk,
    ):
        await sign_in_owner(http, organisation="Returning", domain="return.test")
        r = await http.post("/v1/links", json={"agent": "notetaker", "display_name": "Stand-up"})
        assert r.status_code == 201, r.text
        link = r.json()
        room = f"meet-{link['id']}"

        first = await _visit(http, link["code"], "Ada")
        async with VoiceClient(url=first["url"], token=first["token"]) as ada:
            (leaving,) = await until(lambda: _agents(ada), "the note-taker in Ada's meeting", 90)
            leaving_identity = leaving.identity

        # Ada is gone; the note-taker is on its way out (it writes the notes first): only it is left
        async def people() -> list[tuple[str, bool]]:
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
            return [(p.identity, p.kind == api.ParticipantInfo.Kind.AGENT) for p in listed.participants]

        await until_async(people, lambda found: bool(found) and all(agent for _, agent in found), 30)

        second = await _visit(http, link["code"], "Ben")
        async with VoiceClient(url=second["url"], token=second["token"]) as ben:
            assert ben.room.name == room
            # the leaving note-taker goes; a note-taker dispatched for Ben stays
            await until(
                lambda: [p for p in _agents(ben) if p.identity != leaving_identity],
                "a new note-taker in the meeting Ben came back to",
                90,
            )
            await asyncio.sleep(3.0)
            assert [p for p in _agents(ben) if p.identity != leaving_identity], "the new note-taker left"


async def until_async(read: Any, ok: Any, timeout: float) -> Any:
    """``await read()`` until ``ok`` accepts it."""
    deadline = time.monotonic() + timeout
    found = None
    while time.monotonic() < deadline:
        found = await read()
        if ok(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not as expected within {timeout:.0f} s; last: {found}")
