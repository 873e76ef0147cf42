"""A Spanish speaker in an English agent's meeting, on the real stack (docs/meetings.md, "Speakers of
other languages").

`interpreter`, an organisation's agent created through the API, transcribes, translates (apertium)
and is ``multilingual``. Ana (``auralink.language: es``) says "¿Cuál es la capital de Francia?"
(tests/fixtures/es_capital_of_france.wav), then Luca (``it``) says "La capitale della Francia è
Parigi." (it_capital_of_france.wav); Ben reads English captions, Joan Catalan ones:

- each original caption is in its speaker's language, tagged ``auralink.language: es`` / ``it``
  (the model server's multilingual Whisper, told the language);
- Ben's English caption of Ana's line comes from apertium (es→en: the caption translator has a route
  to English, so no Whisper translation is asked for); of Luca's line, for which apertium has no
  route, it is Whisper's own speech translation of the audio (provider ``whisper``);
- Joan's Catalan caption of Ana's line comes from apertium, es→ca, from the Spanish words;
- Eve listens to the agent's English track (``speak_translations: [en]``, the local Piper voice):
  she hears the English spoken, all offline;
- the call record keeps the Spanish and the Italian lines, with their languages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from livekit import api

from auralink.testing import VoiceClient, read_wav_16k
from auralink.testing.caption_listener import CaptionListener, SeenCaption
from auralink.testing.track_recorder import TrackRecorder
from tests.integration.support import meeting_ready, sign_in_owner, until

pytestmark = pytest.mark.integration

logger = logging.getLogger(__name__)
FIXTURES = Path(__file__).parent.parent / "fixtures"
AGENT = {
    "name": "interpreter",
    "instructions": "You are a meeting assistant. Answer briefly.",
    "meeting": {
        "transcribe": True,
        "reply": "when_addressed",  # three humans, nobody names it: it stays silent
        "translate": True,
        "translation": {"provider": "apertium"},
        "multilingual": True,
        "speak_translations": ["en"],
    },
}


def _token(settings: Any, room: str, identity: str, language: str, *, publish: bool) -> str:
    """A participant whose caption language is set from the moment it joins."""
    assert settings.livekit_api_key and settings.livekit_api_secret
    return (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity(identity)
        .with_name(identity.title())
        .with_grants(api.VideoGrants(room_join=True, room=room, can_publish=publish))
        .with_attributes({"auralink.language": language})
        .to_jwt()
    )


def _of(listener: CaptionListener, speaker: str, language: str) -> list[SeenCaption]:
    return [
        c
        for c in listener.captions
        if c.speaker == speaker
        and c.attributes.get("lk.transcription_final") == "true"
        and c.attributes.get("auralink.language") == language
    ]


async def test_spanish_and_italian_speakers_are_captioned_translated_and_spoken_in_english(
    stack: Any,
) -> None:
    s = stack.settings
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Multilingual", domain="multilingual.test")
        r = await http.post("/v1/agents", json=AGENT)
        assert r.status_code == 201, r.text
        r = await http.post("/v1/rooms", json={"agents": ["interpreter"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]

        ben, joan = CaptionListener(), CaptionListener()
        await ben.join(s.livekit_url, _token(s, room, "ben", "en", publish=False))
        await joan.join(s.livekit_url, _token(s, room, "joan", "ca", publish=False))
        eve = TrackRecorder(wanted=lambda _who, name: name == "auralink-translation-en")
        await eve.join(s.livekit_url, _token(s, room, "eve", "en", publish=False))
        ana = VoiceClient(url=s.livekit_url, token=_token(s, room, "ana", "es", publish=True), listen=False)
        luca = VoiceClient(url=s.livekit_url, token=_token(s, room, "luca", "it", publish=True), listen=False)
        try:
            await ana.__aenter__()
            await luca.__aenter__()
            await meeting_ready(ben.room, timeout=120)
            await asyncio.sleep(2.0)  # its subscriptions to the microphones settle

            spoke_until = await ana.say(read_wav_16k(FIXTURES / "es_capital_of_france.wav"))
            spanish = await until(
                lambda: [c for c in _of(ben, "ana", "es") if "capital" in c.text.lower()],
                "Ana's Spanish caption",
                timeout=120,
            )
            original = spanish[0]
            assert "francia" in original.text.lower(), original
            assert "auralink.translation_of" not in original.attributes  # the original itself
            segment = original.attributes["lk.segment_id"]

            english = await until(lambda: _of(ben, "ana", "en"), "Ana's English caption", timeout=60)
            assert english[0].attributes["auralink.translation_provider"] == "apertium", english
            assert english[0].attributes["auralink.translation_of"] == segment
            assert "capital" in english[0].text.lower() and "france" in english[0].text.lower(), english

            catalan = await until(lambda: _of(joan, "ana", "ca"), "Ana's Catalan caption", timeout=60)
            assert catalan[0].attributes["auralink.translation_provider"] == "apertium", catalan
            assert catalan[0].attributes["auralink.translation_of"] == segment
            assert "capital" in catalan[0].text.lower() and "frança" in catalan[0].text.lower(), catalan

            # and spoken: the English rendering on the agent's English track
            track = "auralink-translation-en"
            heard = await eve.wait_for_loud(track, after=spoke_until, timeout=60)
            await asyncio.sleep(3.0)  # the sentence plays out
            spoken = eve.loud_seconds(track, after=spoke_until)
            assert spoken >= 0.8, f"{spoken:.2f} s of English speech on {track}"
            logger.warning(
                "Spanish line: original caption %.2f s, English %.2f s, Catalan %.2f s, English speech "
                "%.2f s after the speech ended (%.1f s of it)",
                original.at - spoke_until,
                english[0].at - spoke_until,
                catalan[0].at - spoke_until,
                heard - spoke_until,
                spoken,
            )

            # Italian: apertium has no route to English here, so Whisper translates the speech
            luca_until = await luca.say(read_wav_16k(FIXTURES / "it_capital_of_france.wav"))
            italian = await until(
                lambda: [c for c in _of(ben, "luca", "it") if "capitale" in c.text.lower()],
                "Luca's Italian caption",
                timeout=120,
            )
            luca_english = await until(lambda: _of(ben, "luca", "en"), "Luca's English caption", timeout=60)
            assert luca_english[0].attributes["auralink.translation_provider"] == "whisper", luca_english
            assert (
                luca_english[0].attributes["auralink.translation_of"]
                == italian[0].attributes["lk.segment_id"]
            )
            # Whisper-base's English is loose ("The capital of France and Paris", or "... of the French
            # empire" as heard through the room): the sense, not the words
            said_en = luca_english[0].text.lower()
            assert "capital" in said_en and ("france" in said_en or "french" in said_en), luca_english
            luca_heard = await eve.wait_for_loud(track, after=luca_until, timeout=60)
            logger.warning(
                "Italian line: original caption %.2f s, Whisper's English %.2f s, English speech %.2f s after",
                italian[0].at - luca_until,
                luca_english[0].at - luca_until,
                luca_heard - luca_until,
            )
        finally:
            await ana.aclose()
            await luca.aclose()
            await ben.aclose()
            await joan.aclose()
            await eve.aclose()

        deadline, turns = time.monotonic() + 90, cast(list[dict[str, Any]], [])
        while time.monotonic() < deadline and len({t["speaker"] for t in turns}) < 2:
            r = await http.get("/v1/calls")
            call = (
                next((c for c in r.json()["items"] if c["room"] == room), None)
                if r.status_code == 200
                else None
            )
            if call is not None:
                r = await http.get(f"/v1/calls/{call['id']}/transcript")
                if r.status_code == 200:
                    turns = [t for t in r.json()["turns"] if t["speaker"] in ("ana", "luca")]
            if len({t["speaker"] for t in turns}) < 2:
                await asyncio.sleep(1.0)
        said = {t["speaker"]: t for t in turns}
        assert set(said) == {"ana", "luca"}, turns
        assert said["ana"]["language"] == "es" and "francia" in said["ana"]["text"].lower(), turns
        assert said["luca"]["language"] == "it" and "francia" in said["luca"]["text"].lower(), turns
