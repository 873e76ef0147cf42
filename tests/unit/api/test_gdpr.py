"""GDPR export and erase: the archive holds the subject's calls, lines and logins and nothing of
anyone else's; an erase removes them everywhere and a follow-up export is empty; other subjects
and other organisations keep their data; members are erased with their logins, the last owner
is not; only managers may ask; every request is in the audit log without the subject's number.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from auralink.api.db import ApiKey, AuditEntry, Call, CallParticipant, CallTurn, RoomEvent, new_id
from auralink.api.gdpr import Subject
from tests.unit.api.test_auth import Api

PHONE = "+15551234567"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _unzip(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        return {name.removesuffix(".json"): json.loads(archive.read(name)) for name in archive.namelist()}


async def _export(client: httpx.AsyncClient, kind: str, value: str) -> dict[str, Any]:
    return _unzip(await client.post("/v1/gdpr/export", json={"subject": {"kind": kind, "value": value}}))


async def _erase(client: httpx.AsyncClient, kind: str, value: str) -> dict[str, Any]:
    r = await client.post("/v1/gdpr/erase", json={"subject": {"kind": kind, "value": value}})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def _call(
    api: Api, org_id: str, people: list[tuple[str, str, str]], lines: list[tuple[str, str, str]], **extra: Any
) -> str:
    """A finished call with ``people`` (identity, name, kind) and ``lines`` (role, speaker, text)."""
    call_id, room = new_id("cal"), f"call-{new_id('rom')}"
    async with api.db.session() as s:
        s.add(Call(id=call_id, org_id=org_id, room_name=room, room_sid=new_id("sid"), started_at=T0, **extra))
        await s.flush()
        for identity, name, kind in people:
            s.add(CallParticipant(call_id=call_id, identity=identity, name=name, kind=kind, joined_at=T0))
            event_id = new_id("evt")
            s.add(
                RoomEvent(
                    event_id=event_id,
                    event="participant_joined",
                    room_name=room,
                    participant_identity=identity,
                    occurred_at=T0,
                )
            )
        for seq, (role, speaker, words) in enumerate(lines, 1):
            when = T0 + timedelta(seconds=seq)
            s.add(CallTurn(call_id=call_id, seq=seq, role=role, speaker=speaker, text=words, spoken_at=when))
        await s.commit()
    return call_id


@dataclass
class World:
    phone_call: str
    meeting: str
    elsewhere: str
    counts: dict[str, int] = field(default_factory=dict)


async def _world(api: Api, org_id: str, other_org_id: str) -> World:
    phone_call = await _call(
        api,
        org_id,
        [(f"sip_{PHONE}", PHONE, "sip"), ("agent-1", "Barista", "agent")],
        [
            ("user", f"sip_{PHONE}", "I'd like a flat white"),
            ("assistant", "agent-1", "One flat white, coming up"),
            ("user", f"sip_{PHONE}", "thanks"),
        ],
        source="sip",
        summary={"text": "The caller ordered a flat white."},
    )
    meeting = await _call(
        api,
        org_id,
        [("ada", "Ada", "standard"), ("bob", "Bob", "standard"), ("agent-1", "Notes", "agent")],
        [
            ("user", "ada", "let's ship on Friday"),
            ("user", "bob", "agreed"),
            ("assistant", "agent-1", "noted: ship on Friday"),
        ],
        summary={"text": "Ship on Friday."},
    )
    elsewhere = await _call(
        api, other_org_id, [("ada", "Ada", "standard")], [("user", "ada", "hello from another organisation")]
    )
    return World(phone_call, meeting, elsewhere)


async def _rows(api: Api, model: Any, *where: Any) -> int:
    async with api.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_export_holds_the_subjects_calls_and_lines_and_nobody_elses(api: Api) -> None:
    acme, globex = await api.signup("Acme"), await api.signup("Globex")
    owner = await api.login(acme.email)
    world = await _world(api, acme.id, globex.id)

    ada = await _export(owner, "identity", "ada")
    assert [p["call_id"] for p in ada["participations"]] == [world.meeting]
    # a meeting with other people: only Ada's own line, not Bob's nor the agent's, no summary
    assert [t["text"] for t in ada["transcripts"]] == ["let's ship on Friday"]
    assert ada["summaries"] == []
    assert [e["room"] for e in ada["room_events"]] == [ada["participations"][0]["room"]]
    assert ada["manifest"]["records"] == {
        "participations": 1,
        "transcripts": 1,
        "summaries": 0,
        "room_events": 1,
        "moderation_decisions": 0,
        "shared_files": 0,
        "meeting_notes": 0,
        "memories": 0,
        "archive_index": 0,
    }

    # a phone number matches the sip_ identity livekit-sip gives the caller, however it is written
    caller = await _export(owner, "phone", "+1 (555) 123-4567")
    assert [p["identity"] for p in caller["participations"]] == [f"sip_{PHONE}"]
    # the only human in the call: the agent's replies and the summary are about them too
    assert [t["role"] for t in caller["transcripts"]] == ["user", "assistant", "user"]
    assert caller["summaries"] == [
        {"call_id": world.phone_call, "summary": {"text": "The caller ordered a flat white."}}
    ]
    assert caller["manifest"]["total"] == 6

    nobody = await _export(owner, "identity", "nobody")
    assert nobody["manifest"]["total"] == 0


async def test_erase_removes_the_subject_everywhere_and_the_follow_up_export_is_empty(api: Api) -> None:
    acme, globex = await api.signup("Acme"), await api.signup("Globex")
    owner = await api.login(acme.email)
    world = await _world(api, acme.id, globex.id)

    erased = await _erase(owner, "phone", PHONE)
    assert erased["erased"] == {
        "call_participants": 1,
        "transcript_lines": 3,
        "call_summaries": 1,
        "room_events": 1,
        "moderation_decisions": 0,
        "shared_files": 0,
        "meeting_notes": 0,
        "memories": 0,
        "archive_index": 0,
    }
    after = await _export(owner, "phone", PHONE)
    assert after["manifest"]["total"] == 0
    assert all(after[name] == [] for name in ("participations", "transcripts", "summaries", "room_events"))
    assert (await _erase(owner, "phone", PHONE))["total"] == 0  # nothing left the second time

    erased = await _erase(owner, "identity", "ada")
    assert erased["erased"] == {
        "call_participants": 1,
        "transcript_lines": 1,
        "call_summaries": 0,
        "room_events": 1,
        "moderation_decisions": 0,
        "shared_files": 0,
        "meeting_notes": 0,
        "memories": 0,
        "archive_index": 0,
    }
    assert (await _export(owner, "identity", "ada"))["manifest"]["total"] == 0
    # Bob, the agent in the meeting, the meeting's summary and Ada in the other organisation stay
    assert await _rows(api, CallTurn, CallTurn.call_id == world.meeting) == 2
    assert await _rows(api, CallParticipant, CallParticipant.identity == "bob") == 1
    async with api.db.session() as s:
        meeting = await s.get(Call, world.meeting)
        assert meeting is not None and meeting.summary == {"text": "Ship on Friday."}
    assert await _rows(api, CallTurn, CallTurn.call_id == world.elsewhere) == 1
    assert await _rows(api, CallParticipant, CallParticipant.call_id == world.elsewhere) == 1
    rival = await api.login(globex.email)
    assert (await _export(rival, "identity", "ada"))["manifest"]["total"] == 3

    # every export and erase is on record, without the phone number or the identity
    async with api.db.session() as s:
        entries = list(
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith("gdpr."), AuditEntry.org_id == acme.id)
            )
        )
    assert [e.action for e in entries].count("gdpr.erased") == 3
    assert [e.action for e in entries].count("gdpr.exported") == 2
    assert all(e.actor == f"member:{acme.owner_id}" and e.org_id == acme.id for e in entries)
    logged = json.dumps([[e.target, e.detail] for e in entries])
    assert "5551234567" not in logged and '"ada"' not in logged
    assert (await owner.get("/v1/audit/verify")).json()["ok"] is True


async def test_a_member_is_exported_and_erased_with_their_logins(api: Api) -> None:
    acme = await api.signup("Acme")
    owner = await api.login(acme.email)
    dev = await api.member(owner, "developer", "dev@acme.test")
    dev_id = (await dev.get("/v1/auth/me")).json()["member_id"]
    key = await api.key(dev)

    archive = await _export(owner, "member", dev_id)
    assert archive["member"]["email"] == "dev@acme.test" and archive["sessions"] == 1
    assert archive["created"] == [
        {
            "kind": "api_key",
            "id": key["id"],
            "prefix": key["prefix"],
            "name": "test key",
            "created_at": key["created_at"].replace("Z", "+00:00"),
        }
    ]
    assert key["secret"] not in json.dumps(archive)

    erased = await _erase(owner, "member", dev_id)
    assert erased["erased"] == {
        "member": 1,
        "member_sessions": 1,
        "member_identities": 0,
        "created_by_cleared": 1,
        "memories": 0,
        "archive_index": 0,
    }
    assert (await dev.get("/v1/auth/me")).status_code == 401
    async with api.db.session() as s:
        kept = await s.get(ApiKey, key["id"])
        assert kept is not None and kept.created_by is None  # the organisation's key stays
    after = await _export(owner, "member", dev_id)
    assert after["manifest"]["total"] == 0 and after["member"] is None
    actions = [e["action"] for e in (await owner.get("/v1/audit", params={"target": dev_id})).json()["items"]]
    assert actions[:3] == ["gdpr.exported", "gdpr.erased", "member.deleted"]


async def test_the_last_owner_stays_and_only_managers_may_ask(api: Api) -> None:
    acme, globex = await api.signup("Acme"), await api.signup("Globex")
    owner = await api.login(acme.email)
    body = {"subject": {"kind": "member", "value": acme.owner_id}}
    r = await owner.post("/v1/gdpr/erase", json=body)
    assert r.status_code == 409 and "last owner" in r.json()["error"]["message"]
    admin = await api.member(owner, "admin", "admin@acme.test")
    assert (await admin.post("/v1/gdpr/erase", json=body)).status_code == 403  # an owner outranks them
    viewer = await api.member(owner, "viewer", "viewer@acme.test")
    for path in ("/v1/gdpr/export", "/v1/gdpr/erase"):
        assert (await viewer.post(path, json=body)).status_code == 403
    # another organisation's member is nothing stored here: an empty archive, and nothing erased
    other = {"subject": {"kind": "member", "value": globex.owner_id}}
    assert _unzip(await owner.post("/v1/gdpr/export", json=other))["manifest"]["total"] == 0
    assert (await owner.post("/v1/gdpr/erase", json=other)).json()["total"] == 0
    assert (await (await api.login(globex.email)).get("/v1/auth/me")).status_code == 200


async def test_bad_subjects_name_the_field(api: Api) -> None:
    owner = await api.login((await api.signup()).email)
    cases = [
        ({"subject": {"kind": "phone", "value": "call me maybe"}}, "subject.value"),
        ({"subject": {"kind": "member", "value": "ada"}}, "subject.value"),
        ({"subject": {"kind": "email", "value": "a@b.c"}}, "subject.kind"),
        ({"subject": {"kind": "identity", "value": "ada", "also": 1}}, "subject.also"),
        ({"subject": {"kind": "identity", "value": "bad\x00"}}, "subject.value"),
    ]
    for body, where in cases:
        for path in ("/v1/gdpr/export", "/v1/gdpr/erase"):
            r = await owner.post(path, json=body)
            assert r.status_code == 422, (path, body, r.text)
            assert r.json()["error"]["fields"][0]["field"] == where


class _Recordings:
    """A store beyond the API's tables, as the memory store and recordings will register."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], list[str]] = {("org", PHONE): []}

    async def export(self, subject: Subject) -> dict[str, Any]:
        return {"files": self.held.get((subject.org_id, subject.value), [])}

    async def erase(self, subject: Subject) -> int:
        return len(self.held.pop((subject.org_id, subject.value), []))


async def test_registered_stores_are_exported_and_erased_with_the_rest(api: Api) -> None:
    acme = await api.signup()
    owner = await api.login(acme.email)
    store = _Recordings()
    store.held = {(acme.id, PHONE): ["call-1.ogg", "call-2.ogg"]}
    api.app.state.erasables.register("recordings", store)

    archive = await _export(owner, "phone", PHONE)
    assert archive["recordings"] == {"files": ["call-1.ogg", "call-2.ogg"]}
    assert archive["manifest"]["records"]["recordings"] == 2
    assert (await _erase(owner, "phone", PHONE))["erased"]["recordings"] == 2
    assert (await _export(owner, "phone", PHONE))["manifest"]["total"] == 0
