"""Files shared in a meeting room are kept with the call, checked, and downloadable, on the real stack.

An organisation's agent with ``meeting: {files: true}`` sits in a room. Two people share files the
way LiveKit clients do, as byte streams: Ada streams a Markdown agenda on the ``files`` topic and
sends a CSV from disk with ``send_file`` (its type guessed from the name, as every SDK does);
Grace streams a PDF, and then an executable that claims to be a PDF. Through the API the owner
then sees the three real files under the call, with who shared each and their sizes, downloads
each byte for byte, and never sees the executable: its bytes did not match the type it declared.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from auralink.testing import VoiceClient
from tests.integration.support import call_id_of, meeting_ready, poll, room_token, sign_in_owner

pytestmark = pytest.mark.integration

AGENDA = b"# Budget review\n\n1. Numbers for Q3\n2. Who sends the report\n"
NUMBERS = b"quarter,revenue\nQ2,1200\nQ3,1350\n"
# the smallest document readers open: a header, one empty page, a cross-reference table, a trailer
SLIDES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
DISGUISED = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4  # a Windows executable's header


def _agent() -> dict[str, Any]:
    return {
        "name": "archivist",
        "instructions": "You keep the meeting's files. Stay quiet unless asked.",
        "greeting": None,
        "turn": {"detection": "stt"},
        "meeting": {"transcribe": True, "reply": "when_addressed", "files": True},
    }


async def _stream(client: VoiceClient, *, name: str, mime: str, data: bytes) -> None:
    writer = await client.room.local_participant.stream_bytes(
        name, total_size=len(data), mime_type=mime, topic="files"
    )
    for at in range(0, len(data), 400):  # several chunks, as a real upload sends them
        await writer.write(data[at : at + 400])
    await writer.aclose()


async def test_files_shared_in_a_meeting_are_kept_checked_and_downloadable(
    stack: Any, tmp_path: Path
) -> None:
    s = stack.settings
    numbers = tmp_path / "numbers.csv"
    numbers.write_bytes(NUMBERS)
    async with httpx.AsyncClient(base_url=f"http://{s.api_host}:{s.api_port}", timeout=30) as http:
        await sign_in_owner(http, organisation="Shared Files", domain="files.test")
        r = await http.post("/v1/agents", json=_agent())
        assert r.status_code == 201, r.text
        r = await http.post("/v1/rooms", json={"agents": ["archivist"], "empty_timeout": 30})
        assert r.status_code == 201, r.text
        room = r.json()["name"]

        async with (
            VoiceClient(url=s.livekit_url, token=await room_token(http, room, "ada", "Ada")) as ada,
            VoiceClient(url=s.livekit_url, token=await room_token(http, room, "grace", "Grace")) as grace,
        ):
            await meeting_ready(ada.room)

            await _stream(ada, name="agenda.md", mime="text/markdown", data=AGENDA)
            await ada.room.local_participant.send_file(str(numbers), topic="files")
            await _stream(grace, name="slides.pdf", mime="application/pdf", data=SLIDES)
            await _stream(grace, name="invoice.pdf", mime="application/pdf", data=DISGUISED)

            call_id = await call_id_of(http, room)
            files = await poll(http, f"/v1/calls/{call_id}/files", lambda b: len(b) >= 3, timeout=60)
            await asyncio.sleep(3.0)  # the disguised file, had it been kept, would be listed by now
            files = (await http.get(f"/v1/calls/{call_id}/files")).json()

        by_name = {f["name"]: f for f in files}
        assert set(by_name) == {"agenda.md", "numbers.csv", "slides.pdf"}, files
        expected = {
            "agenda.md": ("ada", AGENDA),
            "numbers.csv": ("ada", NUMBERS),
            "slides.pdf": ("grace", SLIDES),
        }
        for name, (sender, data) in expected.items():
            kept = by_name[name]
            assert kept["sender"] == sender, kept
            assert kept["size"] == len(data) and kept["sha256"] == hashlib.sha256(data).hexdigest(), kept
            r = await http.get(f"/v1/calls/{call_id}/files/{kept['id']}")
            assert r.status_code == 200, r.text
            assert r.content == data
            assert (
                "attachment" in r.headers["content-disposition"] and name in r.headers["content-disposition"]
            )
        assert by_name["slides.pdf"]["mime"] == "application/pdf"
        assert by_name["numbers.csv"]["mime"] == "text/csv"
