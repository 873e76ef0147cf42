"""Outbound webhooks as an organisation's receiver meets them: signed POSTs that verify with the
endpoint's secret (and nothing else), retries with backoff until the receiver answers, a delivery
log of every attempt, deliveries that survive an API restart, test-fire, event filters, and
endpoints that stay inside their organisation.

The receiver is a real aiohttp server on a free local port. The same tests run on PostgreSQL
through tests/integration/test_api_postgres.py (they take ``db_url``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from google.protobuf.json_format import MessageToJson
from livekit import api as lk
from livekit.protocol import models as lk_models
from livekit.protocol import webhook as lk_webhook
from sqlalchemy import select

from auralink.api.db import RoomEvent
from auralink.api.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    LinkUsed,
    parse_event,
    signature_header,
    verify_signature,
)
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import Api, open_api, sqlite_url
from tests.unit.api.test_links import CATALOGUE

FAST = {"webhook_retry_base_s": 0.05}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Records every POST; answers 500 to the next ``fail`` requests, then 200."""

    url: str
    fail: int = 0
    requests: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read(), time.monotonic()))
        status = 500 if self.fail > 0 else 200
        self.fail = max(0, self.fail - 1)
        self.answered.append(status)
        return web.Response(status=status, text="ok" if status == 200 else "down")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}/hook")
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield rec
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _api(db_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    async with open_api(db_url, tmp_path, **{**FAST, **overrides}) as api:
        api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
        yield api


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _endpoint(owner: httpx.AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    r = await owner.post("/v1/webhooks", json={"url": url, **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _delivery(owner: httpx.AsyncClient, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    r = await owner.get(f"/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def _settled(owner: httpx.AsyncClient, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    """The delivery once it is delivered or failed."""
    shown: dict[str, Any] = {}

    async def done() -> bool:
        shown.update(await _delivery(owner, endpoint_id, delivery_id))
        return bool(shown["status"] != "pending")

    await _until(done, f"delivery {delivery_id} to settle")
    return shown


def test_signatures_verify_only_with_the_right_secret_body_and_time() -> None:
    body = b'{"type": "webhook.test"}'
    now = 1_800_000_000
    header = signature_header("whsec_right", body, timestamp=now)
    assert header.startswith(f"t={now},v1=")
    verify_signature("whsec_right", header, body, now=now + 10)

    bad = [
        ("whsec_wrong", header, body, now),  # wrong secret
        ("whsec_right", header, body + b" ", now),  # tampered body
        ("whsec_right", header, body, now + 301),  # outside the 5-minute window (replay)
        ("whsec_right", header, body, now - 301),  # from the future
        ("whsec_right", None, body, now),  # no header
        ("whsec_right", "v1=abc", body, now),  # no timestamp
        ("whsec_right", f"t={now},v1=" + "0" * 64, body, now),  # forged hmac
    ]
    for secret, hdr, payload, at in bad:
        with pytest.raises(InvalidSignature):
            verify_signature(secret, hdr, payload, now=at)
    # a header carrying an old and a new signature verifies with either secret
    both = f"{header},v1={signature_header('whsec_new', body, timestamp=now).split('v1=')[1]}"
    verify_signature("whsec_new", both, body, now=now)
    verify_signature("whsec_right", both, body, now=now)
    verify_signature("whsec_right", header, body, now=now + 1000, tolerance_s=2000)


async def test_test_fire_reaches_the_receiver_signed_with_the_endpoint_secret(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    async with _api(db_url, tmp_path) as api:
        org = await api.signup()
        owner = await api.login(org.email)
        endpoint = await _endpoint(owner, receiver.url, description="CRM")
        assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == []
        assert "secret" not in (await owner.get(f"/v1/webhooks/{endpoint['id']}")).json()
        assert all("secret" not in e for e in (await owner.get("/v1/webhooks")).json())

        r = await owner.post(f"/v1/webhooks/{endpoint['id']}/test")
        assert r.status_code == 202, r.text
        queued = r.json()
        delivery = await _settled(owner, endpoint["id"], queued["delivery_id"])
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1
        assert delivery["log"][0]["status_code"] == 200 and delivery["log"][0]["duration_ms"] >= 0

        (got,) = receiver.requests
        verify_signature(endpoint["secret"], got.headers[SIGNATURE_HEADER], got.body)
        assert got.headers[EVENT_ID_HEADER] == queued["event_id"]
        assert got.headers[EVENT_TYPE_HEADER] == "webhook.test"
        event = parse_event(got.body)
        assert event.type == "webhook.test" and event.id == queued["event_id"] and event.org_id == org.id
        with pytest.raises(InvalidSignature):
            verify_signature("whsec_someone-else", got.headers[SIGNATURE_HEADER], got.body)

        # after a rotation, deliveries are signed with the new secret only
        rotated = (await owner.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret")).json()
        assert rotated["secret"] != endpoint["secret"]
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        await _settled(owner, endpoint["id"], queued["delivery_id"])
        latest = receiver.requests[-1]
        verify_signature(rotated["secret"], latest.headers[SIGNATURE_HEADER], latest.body)
        with pytest.raises(InvalidSignature):
            verify_signature(endpoint["secret"], latest.headers[SIGNATURE_HEADER], latest.body)


async def test_failures_are_retried_with_growing_delays_until_the_receiver_answers(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.fail = 2
    async with _api(db_url, tmp_path) as api:
        owner = await api.login((await api.signup()).email)
        endpoint = await _endpoint(owner, receiver.url)
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        delivery = await _settled(owner, endpoint["id"], queued["delivery_id"])

    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 200]
    assert [a["error"] for a in delivery["log"]] == ["HTTP 500", "HTTP 500", None]
    assert receiver.answered == [500, 500, 200]
    # the same event each time, re-signed; waits of ~0.05 s then ~0.3 s (base x1, x6, ±20 %)
    assert len({r.headers[EVENT_ID_HEADER] for r in receiver.requests}) == 1
    first_wait = receiver.requests[1].at - receiver.requests[0].at
    second_wait = receiver.requests[2].at - receiver.requests[1].at
    assert first_wait >= 0.04 and second_wait >= 0.24 and second_wait > first_wait


async def test_after_the_last_attempt_a_delivery_is_failed_and_can_be_redelivered(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.fail = 3
    async with _api(db_url, tmp_path, webhook_max_attempts=3) as api:
        owner = await api.login((await api.signup()).email)
        endpoint = await _endpoint(owner, receiver.url)
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        failed = await _settled(owner, endpoint["id"], queued["delivery_id"])
        assert failed["status"] == "failed" and failed["attempts"] == 3
        assert failed["last_status_code"] == 500 and failed["next_attempt_at"] is None
        assert len(failed["log"]) == 3
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 3  # no fourth attempt

        r = await owner.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{queued['delivery_id']}/redeliver")
        assert r.status_code == 202, r.text
        again = await _settled(owner, endpoint["id"], queued["delivery_id"])
        assert again["status"] == "delivered" and [a["status_code"] for a in again["log"]] == [
            500,
            500,
            500,
            200,
        ]
        listed = (await owner.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()
        assert [d["id"] for d in listed] == [queued["delivery_id"]]


async def test_unreachable_receivers_are_retried_and_logged(db_url: str, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    async with _api(db_url, tmp_path, webhook_max_attempts=2) as api:
        owner = await api.login((await api.signup()).email)
        endpoint = await _endpoint(owner, nobody)
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        failed = await _settled(owner, endpoint["id"], queued["delivery_id"])
    assert failed["status"] == "failed" and len(failed["log"]) == 2
    assert all(a["status_code"] is None and a["error"] for a in failed["log"])


async def test_pending_retries_survive_an_api_restart(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.fail = 1
    async with _api(db_url, tmp_path, webhook_retry_base_s=1.0) as api:
        org = await api.signup()
        owner = await api.login(org.email)
        endpoint = await _endpoint(owner, receiver.url)
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()

        async def first_attempt_logged() -> bool:
            shown = await _delivery(owner, endpoint["id"], queued["delivery_id"])
            return bool(shown["attempts"] == 1)

        await _until(first_attempt_logged, "the first attempt")
    assert receiver.answered == [500]  # the first API is gone before the retry (due ~1 s later)

    async with _api(db_url, tmp_path, webhook_retry_base_s=1.0) as api:
        owner = await api.login(org.email)
        delivery = await _settled(owner, endpoint["id"], queued["delivery_id"])
    assert delivery["status"] == "delivered" and [a["status_code"] for a in delivery["log"]] == [500, 200]
    assert receiver.answered == [500, 200]


async def test_two_api_processes_on_one_database_send_each_delivery_once(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    (tmp_path / "second").mkdir()
    async with _api(db_url, tmp_path) as first, _api(db_url, tmp_path / "second") as second:
        owner = await first.login((await first.signup()).email)
        endpoint = await _endpoint(owner, receiver.url)
        queued = [(await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json() for _ in range(20)]
        second.app.state.webhooks.wake()

        async def all_delivered() -> bool:
            listed = (await owner.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()
            return bool(sum(d["status"] == "delivered" for d in listed) == 20)

        await _until(all_delivered, "20 deliveries")
        await asyncio.sleep(0.3)
    ids = [r.headers[EVENT_ID_HEADER] for r in receiver.requests]
    assert sorted(ids) == sorted(q["event_id"] for q in queued)  # each once, none twice


async def test_a_link_join_emits_link_used_to_endpoints_whose_filter_takes_it(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    async with _api(db_url, tmp_path) as api:
        owner = await api.login((await api.signup()).email)
        everything = await _endpoint(owner, receiver.url)
        calls_only = await _endpoint(owner, receiver.url, events=["call.ended", "call.started"])
        links_too = await _endpoint(owner, receiver.url, events=["link.used"])
        disabled = await _endpoint(owner, receiver.url, enabled=False)
        link = (await owner.post("/v1/links", json={"agent": "barista"})).json()

        joined = await api.client().post(f"/j/{link['code']}/session", json={"name": "Ada"})
        assert joined.status_code == 201, joined.text

        async def two_received() -> bool:
            return len(receiver.requests) >= 2

        await _until(two_received, "link.used deliveries")
        await asyncio.sleep(0.3)  # nothing else arrives
        assert len(receiver.requests) == 2
        secrets = {everything["secret"], links_too["secret"]}
        for got in receiver.requests:
            event = parse_event(got.body)
            assert isinstance(event, LinkUsed)
            assert event.data.link_id == link["id"] and event.data.agent == "barista"
            assert event.data.room == joined.json()["room"] and event.data.uses == 1
            assert got.headers[EVENT_TYPE_HEADER] == "link.used"
            ok = 0
            for secret in secrets:
                try:
                    verify_signature(secret, got.headers[SIGNATURE_HEADER], got.body)
                    ok += 1
                except InvalidSignature:
                    pass
            assert ok == 1
        for skipped in (calls_only, disabled):
            assert (await owner.get(f"/v1/webhooks/{skipped['id']}/deliveries")).json() == []

        # a join that does not count (revoked link) emits nothing
        await owner.post(f"/v1/links/{link['id']}/revoke")
        assert (await api.client().post(f"/j/{link['code']}/session", json={})).status_code == 410
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 2


async def test_endpoints_are_managed_by_role_and_stay_inside_their_organisation(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    async with _api(db_url, tmp_path) as api:
        owner = await api.login((await api.signup()).email)
        endpoint = await _endpoint(owner, receiver.url, events=["link.used", "link.used"])
        assert endpoint["events"] == ["link.used"]

        r = await owner.patch(
            f"/v1/webhooks/{endpoint['id']}",
            json={"description": "changed", "events": ["call.ended"], "enabled": False},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["description"], r.json()["events"], r.json()["enabled"]) == (
            "changed",
            ["call.ended"],
            False,
        )

        viewer = await api.member(owner, "viewer", "viewer@acme.test")
        assert (await viewer.get("/v1/webhooks")).status_code == 200
        assert (await viewer.post("/v1/webhooks", json={"url": receiver.url})).status_code == 403
        assert (await viewer.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 403
        assert (await viewer.delete(f"/v1/webhooks/{endpoint['id']}")).status_code == 403

        other = await api.login((await api.signup("Globex")).email)
        for method, path in [
            ("GET", f"/v1/webhooks/{endpoint['id']}"),
            ("PATCH", f"/v1/webhooks/{endpoint['id']}"),
            ("DELETE", f"/v1/webhooks/{endpoint['id']}"),
            ("POST", f"/v1/webhooks/{endpoint['id']}/test"),
            ("POST", f"/v1/webhooks/{endpoint['id']}/rotate-secret"),
            ("GET", f"/v1/webhooks/{endpoint['id']}/deliveries"),
        ]:
            r = await other.request(method, path, json={} if method == "PATCH" else None)
            assert r.status_code == 404, (method, path, r.text)
        assert (await other.get("/v1/webhooks")).json() == []

        bad = [
            {"url": "ftp://example.com/x"},
            {"url": "not a url"},
            {"url": receiver.url, "events": ["call.exploded"]},
            {"url": receiver.url, "secret": "mine"},
        ]
        for body in bad:
            r = await owner.post("/v1/webhooks", json=body)
            assert r.status_code == 422, (body, r.text)

        assert (await owner.delete(f"/v1/webhooks/{endpoint['id']}")).status_code == 204
        assert (await owner.get(f"/v1/webhooks/{endpoint['id']}")).status_code == 404


def test_event_payloads_are_discriminated_by_type() -> None:
    body = json.dumps(
        {
            "id": "evt_0123456789abcdef",
            "type": "call.ended",
            "created_at": "2026-11-25T10:00:00Z",
            "org_id": "org_0123456789abcdef",
            "data": {"room": "r1", "agent": "assistant", "duration_s": 61.5},
        }
    )
    event = parse_event(body)
    assert event.type == "call.ended" and event.data.room == "r1"
    with pytest.raises(ValueError):
        parse_event(body.replace("call.ended", "call.exploded"))


def _livekit_webhook(
    api: Api, event: str, *, event_id: str, identity: str | None = None
) -> tuple[bytes, str]:
    """A body and Authorization header as livekit-server makes them (JWT with the body's sha256)."""
    message = lk_webhook.WebhookEvent(
        event=event,
        id=event_id,
        created_at=1_795_000_000,
        room=lk_models.Room(name="support-42", sid="RM_abc"),
    )
    if identity is not None:
        message.participant.CopyFrom(lk_models.ParticipantInfo(identity=identity, name="Ada Lovelace"))
    body = MessageToJson(message).encode()
    secret = api.settings.livekit_api_secret
    assert api.settings.livekit_api_key and secret is not None
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = lk.AccessToken(api.settings.livekit_api_key, secret.get_secret_value()).with_sha256(digest)
    return body, token.to_jwt()


async def test_livekit_webhooks_are_verified_on_the_raw_body_and_recorded(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _api(db_url, tmp_path) as api:
        livekit = api.client()
        sent = [
            ("room_started", "EV_1", None),
            ("participant_joined", "EV_2", "guest-1"),
            ("participant_left", "EV_3", "guest-1"),
            ("room_finished", "EV_4", None),
            ("track_published", "EV_5", "guest-1"),  # acknowledged, not recorded
        ]
        for event, event_id, identity in sent:
            body, auth = _livekit_webhook(api, event, event_id=event_id, identity=identity)
            r = await livekit.post(
                "/v1/livekit/webhook",
                content=body,
                headers={"Authorization": auth, "Content-Type": "application/webhook+json"},
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"event": event, "recorded": event != "track_published"}
        # LiveKit retrying a webhook it already sent is stored once
        body, auth = _livekit_webhook(api, "participant_joined", event_id="EV_2", identity="guest-1")
        assert (
            await livekit.post("/v1/livekit/webhook", content=body, headers={"Authorization": auth})
        ).status_code == 200

        # refused: a body changed after signing, a token made with another secret, no token
        body, auth = _livekit_webhook(api, "room_finished", event_id="EV_9")
        forged = lk.AccessToken(api.settings.livekit_api_key, "another-secret-another-secret-xx").with_sha256(
            base64.b64encode(hashlib.sha256(body).digest()).decode()
        )
        caplog.set_level("WARNING", logger="auralink.api")
        for content, headers in [
            (body.replace(b"support-42", b"support-43"), {"Authorization": auth}),
            (body, {"Authorization": forged.to_jwt()}),
            (body, {}),
        ]:
            r = await livekit.post("/v1/livekit/webhook", content=content, headers=headers)
            assert r.status_code == 401, r.text
        refusals = [rec for rec in caplog.records if "LiveKit webhook refused" in rec.getMessage()]
        assert len(refusals) == 3
        assert not any("support-4" in rec.getMessage() for rec in caplog.records)

        async with api.db.session() as s:
            rows = list(await s.scalars(select(RoomEvent).order_by(RoomEvent.event_id)))
        assert [(r.event, r.room_name, r.participant_identity) for r in rows] == [
            ("room_started", "support-42", None),
            ("participant_joined", "support-42", "guest-1"),
            ("participant_left", "support-42", "guest-1"),
            ("room_finished", "support-42", None),
        ]
