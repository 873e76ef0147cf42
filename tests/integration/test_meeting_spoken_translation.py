"""Spoken translation on the real stack: a listener who wants to hear the meeting in Spanish
subscribes to the agent's ``auralink-translation-es`` track and hears Grace's English line there.

The agent is an organisation's agent created through the API, transcribing with the local Whisper
server and translating with Debian's apertium, with ``speak_translations: [es]``. No registry
package ships a Spanish Piper voice, so the Spanish voice is the OpenAI-compatible ``openai`` block
pointed at the stack's own model server (``model: piper``, voice ``en_US-joe-medium``): the local
English voice reads the Spanish text. That is what exists offline; a BYOK voice (OpenAI,
ElevenLabs) takes its place in production.

Grace speaks with a :class:`~auralink.testing.VoiceClient` (tests/fixtures/budget_friday.wav);
Eva listens with a :class:`~auralink.testing.track_recorder.TrackRecorder` that subscribes to the
agent's audio tracks by name: after Grace's line, non-silent audio arrives on the Spanish track,
about a sentence long, and the agent says nothing on its own voice track (it was not addressed).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import rtc

from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.track_recorder import TrackRecorder
from tests.integration.support import room_token, sign_in_owner, until

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"
SPANISH = "auralink-translation-es"


def _agent(models_url: str) -> dict[str, Any]:
    return {
        "name": "interpreter",
        "instructions": "You are a meeting interpreter. Stay quiet unless addressed.",
        "greeting": None,
        "turn": {"detection": "stt", "min_endpointing_delay": 0.8},
        "interruptions": {"enabled": False},
        "meeting": {
            "transcribe": True,
            "reply": "when_addressed",
            "translate": True,
            "translation": {"provider": "apertium"},
            "speak_translations": ["es"],
            "translation_voices": {
                # the model server takes any key; PATH is set in every worker's environment
                "es": {
                    "provider": "openai",
                    "base_url": models_url,
                    "model": "piper",
                    "voice": "en_US-joe-medium",
                    "api_key_env": "PATH",
                }
            },
        },
    }


def _is_agent(who: rtc.RemoteParticipant, _name: str = "") -> bool:
    return who.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


async def test_a_listener_hears_an_english_line_in_spanish_on_the_translation_track(stack: Any) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Spoken Translation", domain="spoken-translation.test")
        r = await http.post("/v1/agents", json=_agent(s.models_base_url))
        assert r.status_code == 201, r.text
        r = await http.post("/v1/rooms", json={"agents": ["interpreter"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]

        eva = TrackRecorder(wanted=_is_agent)  # every audio track of the agent, recorded by name
        await eva.join(s.livekit_url, await room_token(http, room, "eva", "Eva", publish=False))
        grace = VoiceClient(
            url=s.livekit_url, token=await room_token(http, room, "grace", "Grace Hopper"), listen=False
        )
        try:
            await grace.__aenter__()
            await until(
                lambda: [
                    p
                    for p in eva.room.remote_participants.values()
                    if _is_agent(p) and p.attributes.get("auralink.meeting") == "ready"
                ],
                "the agent's meeting capabilities running",
                timeout=90,
            )
            await until(
                lambda: [k for k in eva.subscribed if k[1] == SPANISH],
                f"Eva subscribed to {SPANISH}",
                timeout=30,
            )
            await asyncio.sleep(2.0)  # the agent's subscription to Grace's microphone settles

            started = time.monotonic()
            ended = await grace.say(read_wav_16k(FIXTURES / "budget_friday.wav"))
            first = await eva.wait_for_loud(SPANISH, after=started, timeout=90)
            print(f"end of speech -> first Spanish audio: {first - ended:.2f} s")
            # until the Spanish line is over: a second of quiet on the track
            await until(
                lambda: time.monotonic() - max(eva.loud[k][-1] for k in eva.loud if k[1] == SPANISH) > 1.5,
                "the Spanish line over",
                timeout=30,
            )
            spoken = eva.loud_seconds(SPANISH, after=started)
            print(f"Spanish audio: {spoken:.2f} s")
            assert 1.0 <= spoken <= 10.0, f"{spoken:.2f} s of Spanish audio for one sentence"
            others = {name for _who, name in eva.loud if name != SPANISH}  # the agent's own voice
            assert others, f"the agent's own voice track was never subscribed: {eva.subscribed}"
            own = sum(eva.loud_seconds(name, after=started) for name in others)
            assert own < 0.2, f"the agent spoke {own:.1f} s on its own voice, unaddressed"
        finally:
            await grace.aclose()
            await eva.aclose()
