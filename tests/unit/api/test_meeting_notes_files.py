"""Meeting notes and shared files through the API: the worker's notes reports (validated, the
latest kept, ``summary.ready`` when final), notes as JSON and Markdown, ``has_notes`` on the call;
files uploaded with the worker token (type declared AND sniffed, size limit), listed, downloaded
as attachments (audited), deleted; other organisations and roles see nothing."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
from sqlalchemy import select

from auralink.agents.reporting import ingest_token
from auralink.api.db import AuditEntry, WebhookDelivery
from tests.unit.api.test_auth import Api
from tests.unit.api.test_calls import _delivered, _keys, _metadata, _report, receiver
from tests.unit.api.test_webhooks import Receiver

__all__ = ["receiver"]  # the webhook receiver fixture

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def notes_body(
    summary: str = "We agreed to ship the beta on Friday.", *, owner: str = "guest-1"
) -> dict[str, Any]:
    ada = {"identity": owner, "name": "Ada"}
    return {
        "title": "Weekly sync",
        "date": "2026-11-25",
        "timezone": "UTC",
        "summary": summary,
        "decisions": [{"text": "Ship the beta on Friday", "said_by": ada, "at": 12.0}],
        "action_items": [
            {
                "owner": ada,
                "text": "send the release notes to the customer",
                "due": "2026-11-27",
                "due_phrase": "by Friday",
                "said_by": ada,
                "at": 30.0,
            }
        ],
        "open_questions": [{"text": "Who owns the migration?", "asked_by": None, "at": 40.0}],
        "follow_ups": [{"owner": ada, "message": "Hi Ada, your items:", "items": ["send the release notes"]}],
        "writer": "offline",
    }


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def upload(
    api: Api, sid: str, data: bytes, *, mime: str, name: str = "f.bin", token: str | None = None
) -> httpx.Response:
    key, secret = _keys(api)
    token = token or ingest_token(api_key=key, api_secret=secret, room_sid=sid)
    return await api.client().post(
        f"/v1/ingest/calls/{sid}/files",
        files={"file": (name, data, mime)},
        data={"sender": "guest-1", "name": name, "mime": mime},
        headers={"Authorization": f"Bearer {token}"},
    )


async def _org(api: Api, name: str = "Acme") -> tuple[str, httpx.AsyncClient]:
    org = await api.signup(name)
    return org.id, await api.login(org.email)


async def test_notes_reports_replace_each_other_and_the_final_one_sends_summary_ready(api: Api) -> None:
    org_id, owner = await _org(api)
    meta = _metadata(org_id)
    r = await _report(
        api, "RM_notes1", [{"type": "notes", "notes": notes_body("draft"), "final": False}], metadata=meta
    )
    assert r.status_code == 200 and r.json()["notes"] == 1, r.text
    call_id = r.json()["call_id"]
    assert (await owner.get(f"/v1/calls/{call_id}")).json()["has_notes"] is True
    assert (await owner.get(f"/v1/calls/{call_id}/notes")).json()["final"] is False

    r = await _report(
        api, "RM_notes1", [{"type": "notes", "notes": notes_body(), "final": True}], metadata=meta
    )
    assert r.status_code == 200, r.text
    got = (await owner.get(f"/v1/calls/{call_id}/notes")).json()
    assert got["final"] is True and got["notes"]["summary"] == "We agreed to ship the beta on Friday."
    assert got["notes"]["action_items"][0]["due"] == "2026-11-27"
    assert "## Action items" in got["markdown"] and "**Ada**: send the release notes" in got["markdown"]

    async with api.db.session() as s:
        actions = set(await s.scalars(select(AuditEntry.action).where(AuditEntry.org_id == org_id)))
    assert "notes.read" in actions  # notes are a transcript read

    # a call without notes: 404 and has_notes false
    r = await _report(api, "RM_notes2", [{"type": "usage", "stt_seconds": 1}], metadata=meta)
    other_call = r.json()["call_id"]
    assert (await owner.get(f"/v1/calls/{other_call}/notes")).status_code == 404
    assert (await owner.get(f"/v1/calls/{other_call}")).json()["has_notes"] is False

    _, globex = await _org(api, "Globex")
    assert (await globex.get(f"/v1/calls/{call_id}/notes")).status_code == 404
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert (await viewer.get(f"/v1/calls/{call_id}/notes")).status_code == 403


async def test_summary_ready_carries_the_summary_action_items_and_follow_ups(
    api: Api, receiver: Receiver
) -> None:
    org_id, owner = await _org(api)
    r = await owner.post("/v1/webhooks", json={"url": receiver.url, "events": ["summary.ready"]})
    assert r.status_code == 201, r.text
    final = {"type": "notes", "notes": notes_body(), "final": True}
    await _report(
        api, "RM_notes3", [{"type": "notes", "notes": notes_body("draft")}, final], metadata=_metadata(org_id)
    )
    async with api.db.session() as s:
        bodies = list(
            await s.scalars(select(WebhookDelivery.body).where(WebhookDelivery.event_type == "summary.ready"))
        )
    assert len(bodies) == 1  # only the final notes announce themselves
    assert await _delivered(api, receiver, 1) == ["summary.ready"]
    data = json.loads(bodies[0])["data"]
    assert data["summary"] == "We agreed to ship the beta on Friday."
    assert (
        data["action_items"][0]["owner"]["name"] == "Ada" and data["action_items"][0]["due"] == "2026-11-27"
    )
    assert data["follow_ups"][0]["items"] == ["send the release notes"]


async def test_malformed_notes_are_refused_naming_the_field(api: Api) -> None:
    org_id, owner = await _org(api)
    broken = notes_body()
    broken["action_items"][0]["due"] = "next-ish"
    r = await _report(
        api, "RM_notes4", [{"type": "notes", "notes": broken, "final": True}], metadata=_metadata(org_id)
    )
    assert r.status_code == 422, r.text
    assert any("due" in f["field"] for f in r.json()["error"]["fields"])
    missing = notes_body()
    del missing["summary"]
    r = await _report(api, "RM_notes4", [{"type": "notes", "notes": missing}], metadata=_metadata(org_id))
    assert r.status_code == 422
    assert (await owner.get("/v1/calls")).json()["items"] == []  # nothing stored, not even the call


async def test_files_are_checked_stored_listed_downloaded_with_audit_and_deleted(api: Api) -> None:
    org_id, owner = await _org(api)
    sid = "RM_files1"
    call_id = (await _report(api, sid, [], metadata=_metadata(org_id))).json()["call_id"]

    r = await upload(api, sid, PNG, mime="image/png", name="../../etc/diagram.png")
    assert r.status_code == 201, r.text
    png_id = r.json()["id"]
    r = await upload(
        api,
        sid,
        docx(),
        mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        name="plan.docx",
    )
    assert r.status_code == 201, r.text
    assert (await upload(api, sid, b"hello, world\n", mime="text/plain", name="a.txt")).status_code == 201

    # spoofed types: the bytes must be what the declared type says
    assert (
        await upload(api, sid, b"MZ\x90\x00" + bytes(64), mime="image/png", name="x.png")
    ).status_code == 415
    assert (await upload(api, sid, PDF, mime="image/png", name="x.png")).status_code == 415
    assert (await upload(api, sid, docx(), mime="application/pdf", name="x.pdf")).status_code == 415
    fake_docx = io.BytesIO()
    with zipfile.ZipFile(fake_docx, "w") as z:
        z.writestr("payload.exe", "MZ")
    r = await upload(
        api,
        sid,
        fake_docx.getvalue(),
        mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    assert r.status_code == 415
    assert (await upload(api, sid, b"#!/bin/sh\n", mime="application/x-sh")).status_code == 415
    # wrong token: a token for another room, or none
    key, secret = _keys(api)
    other = ingest_token(api_key=key, api_secret=secret, room_sid="RM_other")
    assert (await upload(api, sid, PNG, mime="image/png", token=other)).status_code == 401
    r = await api.client().post(f"/v1/ingest/calls/{sid}/files", files={"file": ("a.png", PNG, "image/png")})
    assert r.status_code == 401
    # a room with no call of an organisation
    assert (await upload(api, "RM_nobody", PNG, mime="image/png")).status_code == 404

    listed = (await owner.get(f"/v1/calls/{call_id}/files")).json()
    assert [(f["name"], f["mime"]) for f in listed] == [
        ("diagram.png", "image/png"),
        ("plan.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.txt", "text/plain"),
    ]
    assert listed[0]["size"] == len(PNG) and listed[0]["sender"] == "guest-1"

    r = await owner.get(f"/v1/calls/{call_id}/files/{png_id}")
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert (
        r.headers["content-disposition"].startswith("attachment;")
        and "diagram.png" in r.headers["content-disposition"]
    )
    async with api.db.session() as s:
        reads = list(
            await s.execute(select(AuditEntry.action, AuditEntry.target).where(AuditEntry.org_id == org_id))
        )
    assert ("files.read", png_id) in [(a, t) for a, t in reads]
    stored = api.settings.data_dir / "files" / org_id / call_id / png_id
    assert stored.read_bytes() == PNG  # on disk, not in the database

    _, globex = await _org(api, "Globex")
    assert (await globex.get(f"/v1/calls/{call_id}/files")).status_code == 404
    assert (await globex.get(f"/v1/calls/{call_id}/files/{png_id}")).status_code == 404
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert (await viewer.get(f"/v1/calls/{call_id}/files")).status_code == 200
    assert (await viewer.get(f"/v1/calls/{call_id}/files/{png_id}")).status_code == 403
    developer = await api.member(owner, "developer", "d@acme.test")
    assert (await developer.delete(f"/v1/calls/{call_id}/files/{png_id}")).status_code == 403

    assert (await owner.delete(f"/v1/calls/{call_id}/files/{png_id}")).status_code == 204
    assert not stored.exists()
    assert (await owner.get(f"/v1/calls/{call_id}/files/{png_id}")).status_code == 404
    assert len((await owner.get(f"/v1/calls/{call_id}/files")).json()) == 2


async def test_files_over_the_limit_are_refused_with_413(api: Api) -> None:
    org_id, _ = await _org(api)
    sid = "RM_files2"
    await _report(api, sid, [], metadata=_metadata(org_id))
    big = PDF + b"%" + bytes(2_000_000)  # over the API's 1 MiB body limit, under the file limit
    assert (await upload(api, sid, big, mime="application/pdf", name="big.pdf")).status_code == 201
    api.settings.meeting_file_max_bytes = 1000  # the route reads the limit per request
    r = await upload(api, sid, PNG + bytes(2000), mime="image/png", name="big.png")
    assert r.status_code == 413, r.text
    assert (await upload(api, sid, PNG, mime="image/png")).status_code == 201


async def test_with_files_off_for_the_organisation_no_file_is_kept(api: Api) -> None:
    org_id, owner = await _org(api)
    sid = "RM_files_off"
    call_id = (await _report(api, sid, [], metadata=_metadata(org_id))).json()["call_id"]
    r = await owner.patch(f"/v1/organisations/{org_id}/features", json={"files": False})
    assert r.status_code == 200, r.text
    r = await upload(api, sid, PNG, mime="image/png", name="shot.png")
    assert r.status_code == 403, r.text
    assert "features.files" in r.json()["error"]["message"]
    assert (await owner.get(f"/v1/calls/{call_id}/files")).json() == []
    r = await owner.patch(f"/v1/organisations/{org_id}/features", json={"files": None})  # inherit: on
    assert r.status_code == 200, r.text
    assert (await upload(api, sid, PNG, mime="image/png", name="shot.png")).status_code == 201


async def test_with_notes_off_for_the_organisation_a_workers_notes_are_not_kept(api: Api) -> None:
    org_id, owner = await _org(api)
    meta = _metadata(org_id)
    r = await owner.patch(f"/v1/organisations/{org_id}/features", json={"notes": False})
    assert r.status_code == 200, r.text
    r = await _report(
        api, "RM_notes_off", [{"type": "notes", "notes": notes_body(), "final": True}], metadata=meta
    )
    assert r.status_code == 200 and r.json()["notes"] == 0, r.text  # accepted, not kept
    call_id = r.json()["call_id"]
    assert (await owner.get(f"/v1/calls/{call_id}")).json()["has_notes"] is False
    assert (await owner.get(f"/v1/calls/{call_id}/notes")).status_code == 404
