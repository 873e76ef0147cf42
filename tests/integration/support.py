"""What the integration tests of meetings and calls share: a new organisation's owner signed in
through the API, room tokens from the API, and waiting for something to become true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from livekit import rtc

from auralink.core.tasks import TaskSet
from auralink.testing import VoiceClient

PASSWORD = "correct horse battery staple"
MEETING_READY = "auralink.meeting"  # the agent's attribute once its meeting capabilities run


async def sign_in_owner(http: httpx.AsyncClient, *, organisation: str, domain: str) -> None:
    """Create an organisation with a fresh owner and keep the owner's session cookie in ``http``."""
    email = f"owner-{int(time.time() * 1000)}@{domain}"
    body = {"name": organisation, "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
    r = await http.post("/v1/organisations", json=body)
    assert r.status_code == 201, r.text
    r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text


async def room_token(
    http: httpx.AsyncClient, room: str, identity: str, name: str, *, publish: bool = True
) -> str:
    """A join token for ``room`` from the API, as the owner."""
    r = await http.post(
        f"/v1/rooms/{room}/tokens", json={"identity": identity, "name": name, "can_publish": publish}
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def until(check: Callable[[], Any], what: str, timeout: float, *, every: float = 0.25) -> Any:
    """``check()``'s first truthy value, looked for every ``every`` seconds; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(every)
    raise AssertionError(f"{what} within {timeout:.0f} s")


async def poll(http: httpx.AsyncClient, path: str, ok: Callable[[Any], bool], *, timeout: float) -> Any:
    """The JSON body of ``GET path`` once ``ok`` accepts it (polled every second)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        r = await http.get(path)
        last = r.json() if r.status_code == 200 else (r.status_code, r.text)
        if r.status_code == 200 and ok(last):
            return last
        await asyncio.sleep(1.0)
    raise AssertionError(f"GET {path}: not as expected within {timeout:.0f} s; last: {last}")


async def call_id_of(http: httpx.AsyncClient, room: str, *, timeout: float = 60) -> str:
    """The id of the call record of ``room`` (it appears once LiveKit's webhook was handled)."""
    calls = await poll(
        http, "/v1/calls", lambda b: any(c["room"] == room for c in b["items"]), timeout=timeout
    )
    call_id: str = next(c["id"] for c in calls["items"] if c["room"] == room)
    return call_id


async def meeting_ready(room: rtc.Room, *, timeout: float = 90) -> None:
    """Until the agent in ``room`` says its meeting capabilities (captions, chat, files) run."""
    await until(
        lambda: [p for p in room.remote_participants.values() if p.attributes.get(MEETING_READY) == "ready"],
        "the agent's meeting capabilities running",
        timeout,
    )


ChatMessage = tuple[str, str, dict[str, str]]  # sender identity, text, attributes


def chat_inbox(client: VoiceClient) -> list[ChatMessage]:
    """Every ``lk.chat`` message ``client`` receives, as it arrives."""
    inbox: list[ChatMessage] = []
    reads = TaskSet()  # keeps each read alive; they end with the room

    async def read(reader: rtc.TextStreamReader, sender: str) -> None:
        attributes = dict(reader.info.attributes or {})
        inbox.append((sender, await reader.read_all(), attributes))

    def on_chat(reader: rtc.TextStreamReader, sender: str) -> None:
        reads.spawn(read(reader, sender))

    client.room.register_text_stream_handler("lk.chat", on_chat)
    return inbox
