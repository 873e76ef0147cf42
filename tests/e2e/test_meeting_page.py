"""A meeting through a share link, in a real browser against the whole stack: a person opens a
link to the note-taker, gives their name, picks Spanish captions (saying they speak English) and
joins; someone else joins the same meeting through the same link and asks a question out loud;
the page shows that person's line under their name, then its Spanish translation. In the chat the
page user types a card number: it goes to the note-taker, which posts it redacted, on the page
user's behalf, to the other person; the other person's chat message shows on the page.

Chromium is Debian's, driven by ``web/e2e/meeting.e2e.mjs`` (playwright-core, a silent WAV as its
microphone); the other participant is a :class:`~auralink.testing.VoiceClient` speaking
tests/fixtures/capital_of_france.wav; the note-taker transcribes with the local Whisper server and
translates with Debian's apertium.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import rtc

from auralink.testing import VoiceClient, read_wav_16k
from tests.integration.support import chat_inbox

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "web" / "e2e" / "meeting.e2e.mjs"
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
SPEAKER = "Python Guest"
CARD_CHAT = "My card is 4111 1111 1111 1111."
GUEST_CHAT = "Hello from the other side."


async def _meeting_link(http: httpx.AsyncClient) -> dict[str, Any]:
    """A new organisation's link to the note-taker (which transcribes meetings)."""
    email = f"owner-{int(time.time() * 1000)}@meeting-page.test"
    body = {"name": "Meeting Page", "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
    r = await http.post("/v1/organisations", json=body)
    assert r.status_code == 201, r.text
    r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = await http.post("/v1/links", json={"agent": "notetaker", "display_name": "Team meeting"})
    assert r.status_code == 201, r.text
    link: dict[str, Any] = r.json()
    return link


async def _line(stream: asyncio.StreamReader, timeout: float) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), timeout=timeout)
    if not raw:
        raise EOFError("the browser script ended without a result")
    event: dict[str, Any] = json.loads(raw)
    return event


async def _agent_listening(client: VoiceClient, *, timeout: float) -> None:
    """Until the note-taker is in the room and listening (its transcriber is running by then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        agents = [
            p
            for p in client.room.remote_participants.values()
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ]
        if any(p.attributes.get("lk.agent.state") == "listening" for p in agents):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"the note-taker was not listening within {timeout:.0f}s")


def _why(result: dict[str, Any]) -> str:
    keys = ("exit", "failure", "status", "error", "mode", "log", "timings", "console", "screenshot", "stderr")
    return json.dumps({k: result.get(k) for k in keys}, indent=1, ensure_ascii=False)


async def test_a_meeting_link_shows_each_speaker_in_the_listeners_language(
    stack: Any, question_wav: Path, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is not on PATH (scripts/setup.sh installs it)"
    assert (REPO / "web" / "node_modules" / "playwright-core").is_dir(), "run scripts/setup.sh (npm ci)"
    assert CHROMIUM.exists(), "Debian's chromium is not installed (scripts/setup.sh installs it)"
    s = stack.settings
    base = f"http://{s.api_host}:{s.api_port}"
    screenshot = tmp_path / "meeting.png"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        link = await _meeting_link(http)
        proc = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            "--url",
            f"{base}/j/{link['code']}",
            "--name",
            "Page User",
            "--language",
            "es",
            "--speaks",
            "en",
            "--chat",
            CARD_CHAT,
            "--speaker",
            SPEAKER,
            "--words",
            "capital,france",
            "--translation-words",
            "francia,capital de",
            "--timeout",
            "150",
            "--translation-timeout",
            "60",
            "--screenshot",
            str(screenshot),
            "--chromium",
            str(CHROMIUM),
            cwd=REPO / "web",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        guest: VoiceClient | None = None
        try:
            joined = await _line(proc.stdout, timeout=90)
            assert joined.get("event") == "joined", _why(joined)

            # the other participant joins the same meeting through the same link
            r = await http.post(f"/j/{link['code']}/session", json={"name": SPEAKER})
            assert r.status_code == 201, r.text
            session = r.json()
            assert session["mode"] == "meeting", session
            guest = await VoiceClient(url=session["url"], token=session["token"]).__aenter__()
            await _agent_listening(guest, timeout=90)
            await asyncio.sleep(2.0)  # the note-taker subscribes to the new microphone
            others = list(guest.room.remote_participants.values())
            # the page user and one note-taker: the second visitor's token dispatched no second agent
            agents = [p for p in others if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT]
            assert len(agents) == 1, [(p.identity, p.kind) for p in others]
            assert [p.name for p in others if p not in agents] == ["Page User"], [p.name for p in others]
            # Spanish captions for someone who speaks English: the page says both to the agent
            user = next(p for p in others if p not in agents)
            assert user.attributes.get("auralink.language") == "es", user.attributes
            assert user.attributes.get("auralink.spoken_language") == "en", user.attributes
            inbox = chat_inbox(guest)
            await guest.say(read_wav_16k(question_wav))
            await guest.room.local_participant.send_text(GUEST_CHAT, topic="lk.chat")

            result = await _line(proc.stdout, timeout=240)
            result["exit"] = await asyncio.wait_for(proc.wait(), timeout=30)
            # the page user's chat message reached the guest through the agent, redacted, as theirs
            deadline = time.monotonic() + 30
            while not [m for m in inbox if "[card number]" in m[1]] and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
            relayed = [m for m in inbox if "[card number]" in m[1]]
            assert relayed, (inbox, _why(result))
            assert relayed[0][0] == user.identity and relayed[0][2].get("auralink.relayed") == "true", relayed
            assert not [m for m in inbox if "4111" in m[1]], inbox
        finally:
            if guest is not None:
                await guest.aclose()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        result["stderr"] = (await proc.stderr.read()).decode()[-2000:]
        result["screenshot"] = str(screenshot)

        # one room for both visitors, and each visit counted as one use
        shown = (await http.get(f"/v1/links/{link['id']}")).json()
        assert shown["uses"] == 2, shown

    assert result["exit"] == 0, _why(result)
    assert result["mode"] == "meeting", _why(result)
    assert result["accessibility"]["ariaLive"] == "polite", _why(result)
    # the page shows the guest's chat message under the guest's name, and its own under "(you)"
    assert any(GUEST_CHAT in line and SPEAKER in line for line in result["chatLog"]), _why(result)
    assert any("(you)" in line and "4111" in line for line in result["chatLog"]), _why(result)
    log: list[dict[str, Any]] = result["log"]
    english = [e for e in log if e["label"] == SPEAKER and e["final"] and not e["translated"]]
    assert any("capital" in e["text"].lower() or "france" in e["text"].lower() for e in english), _why(result)
    spanish = [e for e in log if e["label"] == SPEAKER and e["translated"] and e["language"] == "es"]
    assert any("francia" in e["text"].lower() or "capital de" in e["text"].lower() for e in spanish), _why(
        result
    )
    # the line the page shows last is the translation, marked as Spanish for screen readers
    shown_lines = [c for c in result["captions"] if c["label"] == SPEAKER and c["final"]]
    assert any(c["translated"] and c["lang"] == "es" for c in shown_lines), _why(result)
