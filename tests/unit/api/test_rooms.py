"""Rooms and tokens without a LiveKit server: validation, roles, organisations, token grants,
and a clear 502 when LiveKit cannot be reached. tests/integration/test_rooms_livekit.py runs
the same routes against a real livekit-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from livekit import api as lk
from sqlalchemy import select

from auralink.api import create_app
from auralink.api.db import Room
from auralink.core import Settings
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import Api, Org
from tests.unit.api.test_links import CATALOGUE

KEY = "test-key"
SECRET = "0123456789abcdef0123456789abcdef-test-secret"


@asynccontextmanager
async def rooms_api(settings: Settings) -> AsyncIterator[Api]:
    """The app for ``settings`` with its lifespan running, and the catalogue of test_links."""
    settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    app = create_app(settings, web_dist=settings.data_dir / "no-dist")
    harness = Api(app, settings)
    async with app.router.lifespan_context(app):
        try:
            yield harness
        finally:
            await harness.aclose()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(
        _env_file=None,
        LIVEKIT_URL=f"ws://127.0.0.1:{free_port()}",  # nothing listens there
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
        data_dir=tmp_path / "data",
        agents_file=tmp_path / "agents.yaml",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'auralink.db'}",
        worker_agent_name="auralink-test",
    )
    async with rooms_api(settings) as harness:
        yield harness


async def _owner(api: Api) -> tuple[Org, httpx.AsyncClient]:
    org = await api.signup()
    return org, await api.login(org.email)


async def _stored_room(api: Api, org: Org, name: str = "standup") -> None:
    """A room as the create route stores it (LiveKit is not running in these tests)."""
    async with api.db.session() as s:
        s.add(Room(org_id=org.id, name=name, agents=["assistant"]))
        await s.commit()


async def test_an_unreachable_livekit_answers_502_and_keeps_no_room(api: Api) -> None:
    _, owner = await _owner(api)
    r = await owner.post("/v1/rooms", json={"name": "standup", "agents": ["assistant"]})
    assert r.status_code == 502, r.text
    assert r.json()["error"]["type"] == "ProviderError"
    assert "LiveKit is not reachable to create the room 'standup'" in r.json()["error"]["message"]
    assert (await owner.get("/v1/rooms")).json() == []
    async with api.db.session() as s:
        assert list(await s.scalars(select(Room))) == []


async def test_bad_room_and_token_bodies_name_the_field(api: Api) -> None:
    org, owner = await _owner(api)
    for body, field in (
        ({"agents": ["nobody"]}, "agents.0"),
        ({"agents": ["assistant", "assistant"]}, "agents"),
        ({"name": "has spaces"}, "name"),
        ({"empty_timeout": 1}, "empty_timeout"),
        ({"agents": ["a"] * 9}, "agents"),
        ({"colour": "red"}, "colour"),
    ):
        r = await owner.post("/v1/rooms", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["fields"][0]["field"] == field, (body, r.text)
    await _stored_room(api, org)
    token_cases: list[tuple[dict[str, object], str]] = [
        ({}, "identity"),
        ({"identity": "a b"}, "identity"),
        ({"identity": "ada", "ttl": 10}, "ttl"),
        ({"identity": "ada", "ttl": 10**6}, "ttl"),
    ]
    for token_body, field in token_cases:
        r = await owner.post("/v1/rooms/standup/tokens", json=token_body)
        assert r.status_code == 422, (token_body, r.text)
        assert r.json()["error"]["fields"][0]["field"] == field


async def test_tokens_carry_the_grants_asked_for(api: Api) -> None:
    org, owner = await _owner(api)
    await _stored_room(api, org)
    r = await owner.post(
        "/v1/rooms/standup/tokens", json={"identity": "ada", "name": "Ada", "can_publish": False, "ttl": 600}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["room"], body["identity"], body["url"]) == ("standup", "ada", api.settings.livekit_url)
    claims = lk.TokenVerifier(KEY, SECRET).verify(body["token"])
    assert claims.identity == "ada" and claims.name == "Ada"
    video = claims.video
    assert video is not None and video.room_join and video.room == "standup"
    assert video.can_subscribe and not video.can_publish and not video.can_publish_data
    raw = jwt.decode(body["token"], SECRET, algorithms=["HS256"], issuer=KEY)
    assert 600 - 5 <= raw["exp"] - raw["nbf"] <= 600 + 5

    speaker = (await owner.post("/v1/rooms/standup/tokens", json={"identity": "bob"})).json()
    video = lk.TokenVerifier(KEY, SECRET).verify(speaker["token"]).video
    assert video is not None and video.can_publish and video.can_publish_data
    assert lk.TokenVerifier(KEY, SECRET).verify(speaker["token"]).name == "bob"


async def test_roles_fence_rooms_and_other_organisations_get_404(api: Api) -> None:
    org, owner = await _owner(api)
    await _stored_room(api, org)
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert [r["name"] for r in (await viewer.get("/v1/rooms")).json()] == ["standup"]
    assert (await viewer.get("/v1/rooms/standup")).json()["agents"] == ["assistant"]
    assert (await viewer.post("/v1/rooms", json={})).status_code == 403
    assert (await viewer.post("/v1/rooms/standup/tokens", json={"identity": "v"})).status_code == 403
    assert (await viewer.delete("/v1/rooms/standup")).status_code == 403
    developer = await api.member(owner, "developer", "d@acme.test")
    assert (await developer.post("/v1/rooms/standup/tokens", json={"identity": "d"})).status_code == 201
    scoped = api.client(key=(await api.key(owner, scopes=["rooms:read"]))["secret"])
    assert (await scoped.get("/v1/rooms")).status_code == 200
    assert (await scoped.post("/v1/rooms/standup/tokens", json={"identity": "k"})).status_code == 403

    other = await api.login((await api.signup("Globex")).email)
    assert (await other.get("/v1/rooms")).json() == []
    for r in (
        await other.get("/v1/rooms/standup"),
        await other.post("/v1/rooms/standup/tokens", json={"identity": "spy"}),
        await other.get("/v1/rooms/standup/participants"),
        await other.delete("/v1/rooms/standup"),
        await other.get("/v1/rooms/no-such-room"),
    ):
        assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    # the name is taken on the shared LiveKit server, so another organisation cannot reuse it
    clash = await other.post("/v1/rooms", json={"name": "standup"})
    assert clash.status_code == 409 and "already exists" in clash.json()["error"]["message"]


async def test_participants_and_end_report_an_unreachable_livekit(api: Api) -> None:
    org, owner = await _owner(api)
    await _stored_room(api, org)
    r = await owner.get("/v1/rooms/standup/participants")
    assert r.status_code == 502 and "list the participants of 'standup'" in r.json()["error"]["message"]
    r = await owner.delete("/v1/rooms/standup")
    assert r.status_code == 502 and "end the room 'standup'" in r.json()["error"]["message"]
    assert (await owner.get("/v1/rooms/standup")).status_code == 200  # still there to end later
