"""Call records as an organisation meets them: LiveKit's signed webhooks and the worker's reports
make one record per room session (participants, times, duration, transcript with latency, usage),
in any order and however often they are sent; the calls API lists, filters, searches and shows
them to the organisation only, and the transcript only to those allowed to read it.

LiveKit's webhooks are built as livekit-server makes them (a JWT with the body's sha256, signed
with the API key); the worker's reports carry the token ``auralink.agents.reporting`` makes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from google.protobuf.json_format import MessageToJson
from livekit import api as lk
from livekit.protocol import models as lk_models
from livekit.protocol import webhook as lk_webhook
from sqlalchemy import select

from auralink.agents.reporting import ingest_token
from auralink.api.db import AuditEntry, Call, CallParticipant, CallTurn, UsageRecord, WebhookDelivery
from auralink.api.tokens import DispatchMetadata, RoomMetadata, room_join_token
from auralink.api.webhooks import parse_event
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import Api
from tests.unit.api.test_webhooks import Receiver, _until

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)

QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."


def _keys(api: Api) -> tuple[str, str]:
    secret = api.settings.livekit_api_secret
    assert api.settings.livekit_api_key and secret is not None
    return api.settings.livekit_api_key, secret.get_secret_value()


def _metadata(org_id: str | None, agent: str = "assistant", source: str = "api") -> str:
    return RoomMetadata(org=org_id, source=source, agent=agent).dumps()


class LiveKit:
    """Sends webhooks about rooms as livekit-server does (signed, one id per event)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client = api.client()
        self.sent = 0

    async def send(
        self,
        event: str,
        *,
        sid: str,
        room: str,
        metadata: str,
        at: datetime,
        participant: tuple[str, str, int] | None = None,
        joined_at: datetime | None = None,
        created: datetime = T0,
        event_id: str | None = None,
    ) -> httpx.Response:
        self.sent += 1
        message = lk_webhook.WebhookEvent(
            event=event,
            id=event_id or f"EV_{sid}_{self.sent}",
            created_at=int(at.timestamp()),
            room=lk_models.Room(
                name=room, sid=sid, metadata=metadata, creation_time=int(created.timestamp())
            ),
        )
        if participant is not None:
            identity, name, kind = participant
            message.participant.CopyFrom(
                lk_models.ParticipantInfo(
                    identity=identity,
                    name=name,
                    kind=kind,  # type: ignore[arg-type]
                    joined_at=int((joined_at or at).timestamp()),
                )
            )
        body = MessageToJson(message).encode()
        key, secret = _keys(self.api)
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = lk.AccessToken(key, secret).with_sha256(digest).to_jwt()
        r = await self.client.post("/v1/livekit/webhook", content=body, headers={"Authorization": token})
        assert r.status_code == 200, r.text
        return r


GUEST = ("guest-1", "Ada", lk_models.ParticipantInfo.Kind.STANDARD)
AGENT = ("agent-AJ_1", "assistant", lk_models.ParticipantInfo.Kind.AGENT)


def _turns() -> list[dict[str, Any]]:
    return [
        {
            "type": "turn",
            "seq": 4_000,
            "role": "user",
            "speaker": "guest-1",
            "text": QUESTION,
            "metrics": {"transcription": 310.0, "end_of_utterance": 420.0},
        },
        {
            "type": "turn",
            "seq": 5_500,
            "role": "assistant",
            "speaker": "agent-AJ_1",
            "text": ANSWER,
            "metrics": {"llm_ttft": 250.0, "tts_ttfb": 120.0, "e2e": 900.0},
        },
    ]


async def _report(
    api: Api, sid: str, events: list[dict[str, Any]], *, room: str = "support-1", metadata: str = ""
) -> httpx.Response:
    key, secret = _keys(api)
    token = ingest_token(api_key=key, api_secret=secret, room_sid=sid)
    body = {"room": room, "metadata": metadata, "agent": "assistant", "events": events}
    return await api.client().post(
        f"/v1/ingest/calls/{sid}/events", json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def _owner(api: Api) -> tuple[str, httpx.AsyncClient]:
    org = await api.signup()
    return org.id, await api.login(org.email)


async def _event_types(api: Api, org_id: str) -> list[str]:
    async with api.db.session() as s:
        rows = await s.scalars(
            select(WebhookDelivery.event_type)
            .where(WebhookDelivery.org_id == org_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
        return list(rows)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The organisation's webhook receiver: a local aiohttp server recording every delivery."""
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}/hook")
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec
    finally:
        await runner.cleanup()


async def _delivered(api: Api, receiver: Receiver, count: int) -> list[str]:
    """The types of the events the organisation's receiver got (in any order), once all ``count``
    deliveries are marked delivered (so the dispatcher is idle when the test ends)."""

    async def settled() -> bool:
        async with api.db.session() as s:
            states = list(await s.scalars(select(WebhookDelivery.status)))
        return len(states) == count and all(state == "delivered" for state in states)

    await _until(settled, f"{count} webhook deliveries")
    return sorted(parse_event(got.body).type for got in receiver.requests)


async def test_a_call_is_recorded_from_start_to_end_with_transcript_latency_and_usage(
    api: Api, receiver: Receiver
) -> None:
    org_id, owner = await _owner(api)
    r = await owner.post("/v1/webhooks", json={"url": receiver.url})
    assert r.status_code == 201, r.text
    livekit, meta = LiveKit(api), _metadata(org_id)
    where = {"sid": "RM_call1", "room": "support-1", "metadata": meta}

    await livekit.send("room_started", at=T0, **where)
    await livekit.send("participant_joined", at=T0 + timedelta(seconds=1), participant=GUEST, **where)
    await livekit.send("participant_joined", at=T0 + timedelta(seconds=2), participant=AGENT, **where)
    usage = {"type": "usage", "stt_seconds": 3.5, "tts_characters": 31, "llm_prompt_tokens": 120}
    r = await _report(api, "RM_call1", [*_turns(), usage])
    assert r.status_code == 200, r.text
    assert r.json()["turns"] == 2 and r.json()["usage"] == 1

    # while it runs, the call is listed as active
    listed = (await owner.get("/v1/calls")).json()["items"]
    assert [(c["status"], c["turn_count"], c["participant_count"]) for c in listed] == [("active", 2, 2)]

    await livekit.send("participant_left", at=T0 + timedelta(seconds=60), participant=GUEST, **where)
    await livekit.send("room_finished", at=T0 + timedelta(seconds=75), **where)

    (call,) = (await owner.get("/v1/calls")).json()["items"]
    assert call["status"] == "ended" and call["room"] == "support-1" and call["agent"] == "assistant"
    assert call["duration_s"] == 75.0 and call["source"] == "api"
    detail = (await owner.get(f"/v1/calls/{call['id']}")).json()
    people = {p["identity"]: p for p in detail["participants"]}
    assert people.keys() == {"guest-1", "agent-AJ_1"}
    assert (people["guest-1"]["kind"], people["guest-1"]["name"]) == ("standard", "Ada")
    assert people["agent-AJ_1"]["kind"] == "agent"
    assert people["guest-1"]["left_at"].startswith("2026-11-25T10:01:00")
    assert people["agent-AJ_1"]["left_at"].startswith("2026-11-25T10:01:15")  # closed at the end
    assert detail["latency"]["e2e"] == {"turns": 1, "p50_ms": 900.0, "p95_ms": 900.0, "max_ms": 900.0}
    assert detail["latency"]["end_of_utterance"]["p50_ms"] == 420.0
    assert detail["usage"] == {
        "call_seconds": 75.0,
        "stt_seconds": 3.5,
        "tts_characters": 31.0,
        "llm_prompt_tokens": 120.0,
    }

    transcript = (await owner.get(f"/v1/calls/{call['id']}/transcript")).json()
    assert [(t["role"], t["speaker"], t["text"]) for t in transcript["turns"]] == [
        ("user", "guest-1", QUESTION),
        ("assistant", "agent-AJ_1", ANSWER),
    ]
    assert transcript["turns"][1]["metrics"]["llm_ttft"] == 250.0

    async with api.db.session() as s:
        rows = list(await s.scalars(select(UsageRecord).where(UsageRecord.metric == "call_seconds")))
    assert [(u.org_id, u.agent, u.call_id, u.quantity) for u in rows] == [
        (org_id, "assistant", call["id"], 75.0)
    ]
    assert await _event_types(api, org_id) == [
        "call.started",
        "transcript.final",
        "transcript.final",
        "call.ended",
    ]
    assert await _delivered(api, receiver, 4) == [
        "call.ended",
        "call.started",
        "transcript.final",
        "transcript.final",
    ]


async def test_webhooks_out_of_order_and_sent_twice_still_make_one_call(api: Api, receiver: Receiver) -> None:
    org_id, owner = await _owner(api)
    await owner.post("/v1/webhooks", json={"url": receiver.url})
    livekit, meta = LiveKit(api), _metadata(org_id, agent="barista", source="link")
    where = {"sid": "RM_late", "room": "link-abc", "metadata": meta}

    # the worker's first line and a join come before LiveKit's room_started
    assert (await _report(api, "RM_late", _turns()[:1], room="link-abc", metadata=meta)).status_code == 200
    joined = T0 + timedelta(seconds=1)
    await livekit.send("participant_joined", at=joined, participant=GUEST, **where)
    await livekit.send("participant_joined", at=joined, participant=GUEST, joined_at=joined, **where)
    await livekit.send("room_started", at=T0, **where)
    await livekit.send("room_started", at=T0, event_id="EV_same", **where)
    await livekit.send("room_started", at=T0, event_id="EV_same", **where)  # LiveKit's retry
    # the same lines reported again (the worker retried) land once
    r = await _report(api, "RM_late", _turns(), room="link-abc", metadata=meta)
    assert r.json()["turns"] == 1 and r.json()["duplicates"] == 1
    await livekit.send("room_finished", at=T0 + timedelta(seconds=30), **where)
    await livekit.send("room_finished", at=T0 + timedelta(seconds=31), **where)
    # a leave LiveKit sent before the end but that arrives after it changes nothing
    await livekit.send("participant_left", at=T0 + timedelta(seconds=29), participant=GUEST, **where)

    async with api.db.session() as s:
        calls = list(await s.scalars(select(Call)))
        people = list(await s.scalars(select(CallParticipant)))
        turns = list(await s.scalars(select(CallTurn).order_by(CallTurn.seq)))
        seconds = list(await s.scalars(select(UsageRecord).where(UsageRecord.metric == "call_seconds")))
    (call,) = calls
    assert (call.org_id, call.agent, call.source, call.status) == (org_id, "barista", "link", "ended")
    assert call.started_at == T0 and call.duration_s == 30.0  # the room's own start, not first sight
    assert [p.identity for p in people] == ["guest-1"]
    assert [t.seq for t in turns] == [4_000, 5_500]
    assert [u.quantity for u in seconds] == [30.0]
    assert await _event_types(api, org_id) == [
        "call.started",
        "transcript.final",
        "transcript.final",
        "call.ended",
    ]
    await _delivered(api, receiver, 4)


async def test_a_report_without_a_worker_token_is_refused_and_stores_nothing(api: Api) -> None:
    org_id, owner = await _owner(api)
    key, secret = _keys(api)
    api_key = (await api.key(owner, name="sdk"))["secret"]
    join = room_join_token(
        api_key=key,
        api_secret=secret,
        room="support-1",
        identity="guest-1",
        name="Ada",
        worker_agent_name="auralink",
        dispatch=DispatchMetadata(agent="assistant"),
    )
    refused = {
        "none": None,
        "api key": api_key,
        "participant token": join,
        "another room": ingest_token(api_key=key, api_secret=secret, room_sid="RM_other"),
        "another secret": ingest_token(api_key=key, api_secret="x" * 40, room_sid="RM_x"),
        "expired": ingest_token(api_key=key, api_secret=secret, room_sid="RM_x", ttl=timedelta(minutes=-5)),
    }
    for what, token in refused.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"room": "r", "metadata": _metadata(org_id), "events": _turns()}
        r = await api.client().post("/v1/ingest/calls/RM_x/events", json=body, headers=headers)
        assert r.status_code == 401, (what, r.text)
        # refused before the body is even looked at
        r = await api.client().post("/v1/ingest/calls/RM_x/events", json={"junk": 1}, headers=headers)
        assert r.status_code == 401, (what, r.text)
    async with api.db.session() as s:
        assert list(await s.scalars(select(Call))) == []
    # with the right token, a bad body is a field-level 422
    r = await _report(api, "RM_x", [{"type": "turn", "seq": -1, "role": "narrator", "text": "x"}])
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["error"]["fields"]} >= {"events.0.turn.seq", "events.0.turn.role"}


async def test_calls_stay_inside_their_organisation(api: Api) -> None:
    a_id, a = await _owner(api)
    _, b = await _owner(api)
    livekit = LiveKit(api)
    await livekit.send("room_started", sid="RM_a", room="a-1", metadata=_metadata(a_id), at=T0)
    await livekit.send("room_started", sid="RM_nobody", room="dev-1", metadata="", at=T0)
    await _report(api, "RM_a", _turns(), room="a-1")
    (call,) = (await a.get("/v1/calls")).json()["items"]

    assert (await b.get("/v1/calls")).json() == {"items": [], "next_cursor": None}
    for path in (f"/v1/calls/{call['id']}", f"/v1/calls/{call['id']}/transcript", "/v1/calls/cal_nope"):
        r = await b.get(path)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["type"] == "NotFound"
    # a room no organisation made is recorded but nobody sees it
    async with api.db.session() as s:
        orphan = await s.scalar(select(Call).where(Call.room_sid == "RM_nobody"))
    assert orphan is not None and orphan.org_id is None
    assert (await a.get(f"/v1/calls/{orphan.id}")).status_code == 404
    assert [c["id"] for c in (await a.get("/v1/calls")).json()["items"]] == [call["id"]]


async def test_the_list_filters_searches_what_was_said_and_pages(api: Api) -> None:
    org_id, owner = await _owner(api)
    livekit = LiveKit(api)
    lines = {
        "RM_1": ("assistant", "api", "Bonjour, the capital is PARIS"),
        "RM_2": ("barista", "link", "One flat white, 50% oat"),
        "RM_3": ("assistant", "link", "Nothing about cities here"),
    }
    for i, (sid, (agent, source, text)) in enumerate(lines.items()):
        start = T0 + timedelta(minutes=i)
        where = {
            "sid": sid,
            "room": f"room-{i}",
            "metadata": _metadata(org_id, agent, source),
            "created": start,
        }
        await livekit.send("room_started", at=start, **where)
        who = (f"caller-{i}", "Caller", lk_models.ParticipantInfo.Kind.SIP)
        await livekit.send("participant_joined", at=start, participant=who, **where)
        turn = {"type": "turn", "seq": 1, "role": "user", "speaker": who[0], "text": text}
        assert (await _report(api, sid, [turn], room=f"room-{i}")).status_code == 200
    await livekit.send(
        "room_finished", sid="RM_1", room="room-0", metadata=_metadata(org_id), at=T0 + timedelta(minutes=5)
    )

    async def rooms(**params: Any) -> list[str]:
        r = await owner.get("/v1/calls", params=params)
        assert r.status_code == 200, r.text
        return [c["room"] for c in r.json()["items"]]

    assert await rooms() == ["room-2", "room-1", "room-0"]  # newest first
    assert await rooms(q="paris") == ["room-0"]  # any case
    assert await rooms(q="50%") == ["room-1"]  # % is a character, not a wildcard
    assert await rooms(q="%") == ["room-1"]
    assert await rooms(q="london") == []
    assert await rooms(agent="assistant") == ["room-2", "room-0"]
    assert await rooms(source="link", agent="assistant") == ["room-2"]
    assert await rooms(status="ended") == ["room-0"]
    assert await rooms(status="active") == ["room-2", "room-1"]
    assert await rooms(participant="caller-1") == ["room-1"]
    since = (T0 + timedelta(minutes=1)).isoformat()
    until = (T0 + timedelta(minutes=2)).isoformat()
    assert await rooms(since=since) == ["room-2", "room-1"]
    assert await rooms(since=since, until=until) == ["room-1"]

    first = (await owner.get("/v1/calls", params={"limit": 2})).json()
    assert [c["room"] for c in first["items"]] == ["room-2", "room-1"] and first["next_cursor"]
    second = (await owner.get("/v1/calls", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [c["room"] for c in second["items"]] == ["room-0"] and second["next_cursor"] is None

    for params in ({"cursor": "not-a-cursor"}, {"status": "exploded"}, {"limit": 0}, {"since": "yesterday"}):
        r = await owner.get("/v1/calls", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["fields"]


async def test_transcripts_need_transcripts_read(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    viewer = await api.member(owner, "viewer", "viewer@acme.test")
    scoped = api.client(key=(await api.key(owner, name="dash", scopes=["calls:read"]))["secret"])
    livekit = LiveKit(api)
    await livekit.send("room_started", sid="RM_t", room="t-1", metadata=_metadata(org.id), at=T0)
    await _report(api, "RM_t", _turns(), room="t-1")
    (call,) = (await owner.get("/v1/calls")).json()["items"]

    for reader in (viewer, scoped):
        assert (await reader.get("/v1/calls")).status_code == 200
        detail = await reader.get(f"/v1/calls/{call['id']}")
        assert detail.status_code == 200 and detail.json()["latency"]["e2e"]["p50_ms"] == 900.0
        assert QUESTION not in detail.text  # figures, never what was said
        for path, params in ((f"/v1/calls/{call['id']}/transcript", None), ("/v1/calls", {"q": "France"})):
            r = await reader.get(path, params=params)
            assert r.status_code == 403, r.text
            assert QUESTION not in r.text
    r = await owner.get("/v1/calls", params={"q": "france"})
    assert [c["id"] for c in r.json()["items"]] == [call["id"]]
    assert (await owner.get(f"/v1/calls/{call['id']}/transcript")).status_code == 200
    # both reads of what was said are on the audit log, by whom and which call, never the words
    async with api.db.session() as s:
        entries = list(await s.scalars(select(AuditEntry).where(AuditEntry.action.like("transcripts.%"))))
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("transcripts.search", "", f"member:{org.owner_id}"),
        ("transcripts.read", call["id"], f"member:{org.owner_id}"),
    ]
    assert not any("france" in str(e.detail).lower() for e in entries)
