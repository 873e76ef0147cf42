"""The searchable meeting archive: transcript lines and notes across an organisation's calls, by
words (text), by meaning (semantic, the archive index with test embeddings) or both (hybrid);
filters; other organisations see nothing; GDPR export and erase cover the meeting data and the
index; the CLI's ``auralink search`` goes through the client."""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from contextlib import redirect_stdout
from datetime import UTC, datetime
from typing import Any

import httpx

from auralink.api.archive import ArchiveHandle
from auralink.cli import manage_cmds
from auralink.client import AuraLink
from auralink.memory import ArchiveStore
from tests.unit.api.test_auth import Api
from tests.unit.api.test_calls import _metadata, _report
from tests.unit.api.test_meeting_moderation import moderation_event
from tests.unit.api.test_meeting_notes_files import PNG, notes_body, upload
from tests.unit.memory.conftest import HashEmbedder


def _use_hash_embeddings(api: Api) -> ArchiveHandle:
    handle: ArchiveHandle = api.app.state.archive
    handle.install(ArchiveStore.embedded(api.settings.data_dir / "archive", embedder=HashEmbedder()))
    return handle


def _turn(seq: int, speaker: str, text: str, at: str = "2026-11-25T10:00:00+00:00") -> dict[str, Any]:
    role = "assistant" if speaker.startswith("agent") else "user"
    return {"type": "turn", "seq": seq, "role": role, "speaker": speaker, "text": text, "spoken_at": at}


async def _org(api: Api, name: str = "Acme") -> tuple[str, httpx.AsyncClient]:
    org = await api.signup(name)
    return org.id, await api.login(org.email)


async def _meetings(api: Api, org_id: str) -> tuple[str, str]:
    budget = [
        _turn(1, "guest-1", "The marketing budget for next quarter is forty thousand euros."),
        _turn(2, "guest-2", "Let's keep the spending on advertising under control."),
        _turn(3, "agent-1", "Noted, I will add it to the notes."),
    ]
    r = await _report(api, "RM_s1", budget, room="budget-review", metadata=_metadata(org_id))
    assert r.status_code == 200, r.text
    lunch = [
        _turn(1, "guest-3", "Where should we go for lunch on Friday?", at="2026-11-26T12:00:00+00:00"),
        {"type": "notes", "notes": notes_body("The team picked the pizza place for lunch."), "final": True},
    ]
    r2 = await _report(api, "RM_s2", lunch, room="lunch-chat", metadata=_metadata(org_id, agent="notetaker"))
    assert r2.status_code == 200, r2.text
    return r.json()["call_id"], r2.json()["call_id"]


async def test_text_semantic_and_hybrid_search_find_lines_and_notes_with_filters(api: Api) -> None:
    handle = _use_hash_embeddings(api)
    org_id, owner = await _org(api)
    budget_call, lunch_call = await _meetings(api, org_id)

    r = await owner.get("/v1/search", params={"q": "budget"})
    assert r.status_code == 200, r.text
    (hit,) = r.json()["items"]
    assert (hit["call_id"], hit["room"], hit["kind"], hit["speaker"]) == (
        budget_call,
        "budget-review",
        "line",
        "guest-1",
    )
    assert "budget" in hit["snippet"].lower() and hit["score"] > 0
    words = (await owner.get("/v1/search", params={"q": "PIZZA lunch"})).json()["items"]
    assert [(h["kind"], h["call_id"]) for h in words] == [("notes", lunch_call)]  # every word, any case
    assert (await owner.get("/v1/search", params={"q": "100%_off"})).json()["items"] == []  # literal % and _

    await handle.flush()
    r = await owner.get("/v1/search", params={"q": "spending on advertising", "mode": "semantic"})
    assert r.status_code == 200, r.text
    top = r.json()["items"][0]
    assert top["speaker"] == "guest-2" and top["call_id"] == budget_call
    hybrid = (await owner.get("/v1/search", params={"q": "lunch", "mode": "hybrid"})).json()["items"]
    assert {h["call_id"] for h in hybrid[:2]} == {lunch_call}
    assert {h["kind"] for h in hybrid[:2]} == {"line", "notes"}

    by_agent = (await owner.get("/v1/search", params={"q": "lunch", "agent": "assistant"})).json()["items"]
    assert by_agent == []
    since = (await owner.get("/v1/search", params={"q": "the", "from": "2026-11-26T00:00:00+00:00"})).json()
    assert {h["call_id"] for h in since["items"]} == {lunch_call}
    by_person = (await owner.get("/v1/search", params={"q": "the", "participant": "guest-2"})).json()["items"]
    assert {h["call_id"] for h in by_person} == {budget_call}
    assert (await owner.get("/v1/search", params={"q": "x", "mode": "psychic"})).status_code == 422
    assert (await owner.get("/v1/search", params={"q": ""})).status_code == 422

    _, globex = await _org(api, "Globex")
    assert (await globex.get("/v1/search", params={"q": "budget"})).json()["items"] == []
    semantic = await globex.get("/v1/search", params={"q": "budget", "mode": "semantic"})
    assert semantic.json()["items"] == []
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert (await viewer.get("/v1/search", params={"q": "budget"})).status_code == 403


async def test_gdpr_export_and_erase_cover_decisions_files_notes_and_the_index(api: Api) -> None:
    handle = _use_hash_embeddings(api)
    org_id, owner = await _org(api)
    events = [
        _turn(1, "guest-1", "My card number is redacted but the budget is fine."),
        moderation_event("guest-1", rule="pii.card", actions=["redact"]),
        {"type": "notes", "notes": notes_body("Budget agreed.", owner="guest-1"), "final": True},
    ]
    r = await _report(api, "RM_g1", events, metadata=_metadata(org_id))
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    assert (await upload(api, "RM_g1", PNG, mime="image/png", name="chart.png")).status_code == 201
    stored = next((api.settings.data_dir / "files" / org_id / call_id).iterdir())
    await handle.flush()
    store = await handle.store()
    assert await store.count(org_id) == 2  # the line and the notes

    subject = {"subject": {"kind": "identity", "value": "guest-1"}}
    r = await owner.post("/v1/gdpr/export", json=subject)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        files = json.loads(z.read("shared_files.json"))
        decisions = json.loads(z.read("moderation_decisions.json"))
        notes = json.loads(z.read("meeting_notes.json"))
    assert manifest["records"]["moderation_decisions"] == 1 and decisions[0]["speaker"] == "guest-1"
    assert [f["name"] for f in files] == ["chart.png"]
    assert notes[0]["notes"]["summary"] == "Budget agreed."

    r = await owner.post("/v1/gdpr/erase", json=subject)
    assert r.status_code == 200, r.text
    erased = r.json()["erased"]
    assert (
        erased["moderation_decisions"] == 1 and erased["shared_files"] == 1 and erased["meeting_notes"] == 1
    )
    assert erased["archive_index"] == 1  # the line they said
    assert not stored.exists()
    assert (await owner.get("/v1/moderation/decisions")).json()["items"] == []
    assert (await owner.get(f"/v1/calls/{call_id}/notes")).status_code == 404  # they were the only human
    for mode in ("text", "semantic", "hybrid"):
        hits = (await owner.get("/v1/search", params={"q": "budget", "mode": mode})).json()["items"]
        assert hits == [], mode
    again = (await owner.post("/v1/gdpr/export", json=subject)).content
    with zipfile.ZipFile(io.BytesIO(again)) as z:
        assert json.loads(z.read("manifest.json"))["total"] == 0


async def test_the_cli_searches_through_the_client(api: Api) -> None:
    org_id, owner = await _org(api)
    await _meetings(api, org_id)
    key = (await api.key(owner, role="developer"))["secret"]
    transport = httpx.ASGITransport(app=api.app)
    async with AuraLink(base_url="http://testserver", api_key=key, transport=transport) as client:
        page = await client.search("budget", mode="text", since=datetime(2026, 1, 1, tzinfo=UTC))
        assert page["items"][0]["room"] == "budget-review"
        args = argparse.Namespace(command="search", verb="run", json=False, query="budget", mode="text")
        out = io.StringIO()
        with redirect_stdout(out):
            manage_cmds._show(args, await manage_cmds._search(client, _search_args("budget")))
    assert "budget-review" in out.getvalue() and "guest-1" in out.getvalue()


def _search_args(q: str) -> argparse.Namespace:
    return argparse.Namespace(
        query=q, mode="text", since=None, until=None, agent=None, participant=None, limit=10
    )
