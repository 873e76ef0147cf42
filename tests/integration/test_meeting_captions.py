"""A meeting with a note-taker: three people speak (one after another, then two at once) and
everyone in the room sees live captions under the right speaker; the note-taker, never
addressed, stays silent; the call record keeps each line under the identity that said it.

Everything is real: the organisation's room is created through the API with the `notetaker`
agent dispatched, the three speakers are LiveKit participants publishing spoken WAVs, a fourth
participant only listens, and the worker transcribes each speaker with the local Whisper server.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.caption_listener import CaptionListener
from tests.integration.support import room_token, sign_in_owner

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"

# who says what, and the words a caption of it must contain one of (Whisper may vary the rest)
SPEAKERS = {
    "ada": ("Ada Lovelace", "capital_of_france.wav", ("france", "capital")),
    "grace": ("Grace Hopper", "ocean_fact.wav", ("ocean", "fun fact")),
    "linus": ("Linus Pauling", "budget_thursday.wav", ("budget", "thursday")),
}


async def _transcript(http: httpx.AsyncClient, room: str, want: int, timeout: float) -> list[dict[str, Any]]:
    """The call's transcript once it has ``want`` user lines (polled)."""
    deadline = time.monotonic() + timeout
    turns: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        calls = [c for c in (await http.get("/v1/calls")).json()["items"] if c["room"] == room]
        if calls:
            r = await http.get(f"/v1/calls/{calls[0]['id']}/transcript")
            assert r.status_code == 200, r.text
            turns = r.json()["turns"]
            if sum(1 for t in turns if t["role"] == "user") >= want:
                return turns
        await asyncio.sleep(1.0)
    raise AssertionError(
        f"the call record of {room} did not get {want} user lines in {timeout:.0f}s: {turns}"
    )


async def test_three_speakers_get_captions_under_their_own_names_and_in_the_record(stack: Any) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Meeting Captions", domain="meeting.test")
        r = await http.post("/v1/rooms", json={"agents": ["notetaker"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]

        listener = CaptionListener()
        await listener.join(
            s.livekit_url, await room_token(http, room, "observer", "Observer", publish=False)
        )
        clients: dict[str, VoiceClient] = {}
        try:
            for identity, (name, _wav, _words) in SPEAKERS.items():
                client = VoiceClient(url=s.livekit_url, token=await room_token(http, room, identity, name))
                clients[identity] = await client.__aenter__()
            await asyncio.sleep(3.0)  # the note-taker joins and subscribes to the three microphones

            # one after another: each line is captioned under its speaker
            for identity, (_name, wav, words) in SPEAKERS.items():
                await clients[identity].say(read_wav_16k(FIXTURES / wav))
                await listener.wait_for(identity, words, count=1, timeout=60)

            # two at once: both are captioned, each under its own speaker
            _, grace_wav, grace_words = SPEAKERS["grace"]
            _, linus_wav, linus_words = SPEAKERS["linus"]
            await asyncio.gather(
                clients["grace"].say(read_wav_16k(FIXTURES / grace_wav)),
                clients["linus"].say(read_wav_16k(FIXTURES / linus_wav)),
            )
            await listener.wait_for("grace", grace_words, count=2, timeout=60)
            await listener.wait_for("linus", linus_words, count=2, timeout=60)

            for caption in listener.finals():
                # sent for the speaker, and AuraLink's own attributes agree with the track's owner
                assert caption.speaker in SPEAKERS, caption
                assert caption.attributes["auralink.speaker"] == caption.speaker, caption
                assert caption.attributes["auralink.speaker_name"] == SPEAKERS[caption.speaker][0]
                assert (
                    0
                    <= int(caption.attributes["auralink.start_ms"])
                    <= int(caption.attributes["auralink.end_ms"])
                )
            await asyncio.sleep(3.0)  # time for a reply, had the agent wrongly decided to give one
            assert listener.agent_loud_s < 0.2, (
                f"the note-taker spoke {listener.agent_loud_s:.1f}s unaddressed"
            )
        finally:
            for client in clients.values():
                await client.aclose()
            await listener.aclose()

        turns = await _transcript(http, room, want=5, timeout=60)
        said = [(t["speaker"], t["text"].lower()) for t in turns if t["role"] == "user"]
        for identity, (_name, _wav, words) in SPEAKERS.items():
            assert any(who == identity and any(w in text for w in words) for who, text in said), said
        assert not [t for t in turns if t["role"] == "assistant"], turns
