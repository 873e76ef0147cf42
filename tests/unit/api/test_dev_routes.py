"""The dev API as the page uses it: health, the agent list, sessions with signed tokens, errors."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from livekit import api

from auralink.api import create_app
from auralink.core import MissingCredential, Settings

KEY = "test-key"
SECRET = "0123456789abcdef0123456789abcdef-test-secret"

CATALOGUE = """\
version: 1
agents:
  - name: assistant
    description: A friendly general helper
    instructions: You are a helpful assistant.
    greeting: Hello! How can I help?
  - name: barista
    description: Takes coffee orders
    language: fr
    instructions: Tu prends les commandes de café.
"""


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(CATALOGUE, encoding="utf-8")
    return path


@pytest.fixture
def settings(agents_file: Path) -> Settings:
    return Settings(
        _env_file=None,
        LIVEKIT_URL="ws://127.0.0.1:7880",
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
        agents_file=agents_file,
        data_dir=agents_file.parent / "data",  # never the repo's own .auralink/
        default_agent="assistant",
        worker_agent_name="auralink-test",
    )


@pytest.fixture
def web_dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text(
        "<!doctype html><title>AuraLink</title><h1>AuraLink</h1>", encoding="utf-8"
    )
    (dist / "app.js").write_text("console.log('page');", encoding="utf-8")
    return dist


@pytest.fixture
async def client(settings: Settings, web_dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, web_dist=web_dist)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c,
    ):
        yield c


def _verify(token: str) -> api.access_token.Claims:
    return api.TokenVerifier(KEY, SECRET).verify(token)


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_agents_lists_the_catalogue(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/dev/agents")
    assert r.status_code == 200
    assert r.json() == [
        {
            "name": "assistant",
            "description": "A friendly general helper",
            "language": "en",
            "greeting": "Hello! How can I help?",
            "default": True,
        },
        {
            "name": "barista",
            "description": "Takes coffee orders",
            "language": "fr",
            "greeting": None,
            "default": False,
        },
    ]


async def test_agents_follow_edits_of_the_catalogue(client: httpx.AsyncClient, agents_file: Path) -> None:
    assert [a["name"] for a in (await client.get("/v1/dev/agents")).json()] == ["assistant", "barista"]
    agents_file.write_text(
        CATALOGUE + "  - name: tutor\n    instructions: Teach patiently and briefly.\n", encoding="utf-8"
    )
    st = agents_file.stat()
    os.utime(agents_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    names = [a["name"] for a in (await client.get("/v1/dev/agents")).json()]
    assert names == ["assistant", "barista", "tutor"]


async def test_broken_catalogue_is_reported_with_line_and_field(
    client: httpx.AsyncClient, agents_file: Path
) -> None:
    agents_file.write_text(
        "version: 1\nagents:\n  - name: Bad Name\n    instructions: hi\n", encoding="utf-8"
    )
    r = await client.get("/v1/dev/agents")
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "SpecError"
    assert f"{agents_file}:3" in error["message"]
    assert "agents[0].name" in error["message"]


async def test_session_for_the_default_agent_carries_a_dispatching_token(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    r = await client.post("/v1/dev/sessions", json={})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["url"] == "ws://127.0.0.1:7880"
    assert body["agent"] == "assistant"
    assert body["room"].startswith("web-") and len(body["room"]) > len("web-")
    assert body["identity"]

    claims = _verify(body["token"])
    assert claims.identity == body["identity"]
    assert claims.name == body["identity"]
    assert claims.video is not None
    assert claims.video.room_join is True
    assert claims.video.room == body["room"]
    assert claims.video.can_publish is True
    assert claims.video.can_subscribe is True
    assert claims.video.can_publish_data is True
    assert claims.video.room_admin is None and claims.video.room_create is None

    assert claims.room_config is not None
    dispatches = list(claims.room_config.agents)
    assert len(dispatches) == 1
    assert dispatches[0].agent_name == "auralink-test"
    assert json.loads(dispatches[0].metadata) == {"agent": "assistant"}

    raw = jwt.decode(body["token"], SECRET, algorithms=["HS256"], issuer=KEY)
    assert 3600 - 5 <= raw["exp"] - raw["nbf"] <= 3600 + 5


async def test_session_with_a_chosen_agent_identity_and_name(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/dev/sessions", json={"agent": "barista", "identity": "alice-1", "name": "Alice Martin"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["agent"], body["identity"]) == ("barista", "alice-1")
    claims = _verify(body["token"])
    assert (claims.identity, claims.name) == ("alice-1", "Alice Martin")
    assert claims.room_config is not None
    assert json.loads(claims.room_config.agents[0].metadata) == {"agent": "barista"}


async def test_every_session_gets_its_own_room(client: httpx.AsyncClient) -> None:
    rooms = {(await client.post("/v1/dev/sessions", json={})).json()["room"] for _ in range(5)}
    assert len(rooms) == 5


async def test_token_is_not_accepted_with_another_secret(client: httpx.AsyncClient) -> None:
    token = (await client.post("/v1/dev/sessions", json={})).json()["token"]
    with pytest.raises(jwt.InvalidSignatureError):
        api.TokenVerifier(KEY, "another-secret-of-sufficient-length-000").verify(token)


async def test_unknown_agent_is_404_naming_the_known_ones(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/dev/sessions", json={"agent": "nobody"})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "UnknownAgent"
    assert "'nobody'" in error["message"]
    assert "assistant" in error["message"] and "barista" in error["message"]


async def test_unknown_default_agent_is_404(settings: Settings, web_dist: Path) -> None:
    app = create_app(settings.model_copy(update={"default_agent": "ghost"}), web_dist=web_dist)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c,
    ):
        r = await c.post("/v1/dev/sessions", json={})
    assert r.status_code == 404
    assert "'ghost'" in r.json()["error"]["message"]


async def test_bad_body_is_422_naming_each_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/dev/sessions", json={"agent": 7, "identity": "", "nickname": "x"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "ValidationError"
    fields = {f["field"] for f in error["fields"]}
    assert fields == {"agent", "identity", "nickname"}
    for name in ("agent", "identity", "nickname"):
        assert name in error["message"]


async def test_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/dev/sessions", content=b"agent=assistant", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["type"] == "ValidationError"


async def test_the_built_page_is_served_at_root(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "<h1>AuraLink</h1>" in r.text
    js = await client.get("/app.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]


async def test_missing_build_says_how_to_make_one(settings: Settings, tmp_path: Path) -> None:
    app = create_app(settings, web_dist=tmp_path / "nowhere")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c,
    ):
        page = await c.get("/")
        health = await c.get("/healthz")
    assert page.status_code == 503
    assert "text/html" in page.headers["content-type"]
    assert "scripts/setup.sh" in page.text and "npm run build" in page.text
    assert health.status_code == 200


async def test_lifespan_opens_one_livekit_client_and_closes_it(settings: Settings, web_dist: Path) -> None:
    app = create_app(settings, web_dist=web_dist)
    async with app.router.lifespan_context(app):
        client = app.state.livekit
        assert isinstance(client, api.LiveKitAPI)
        session = client._session  # the aiohttp session the client owns
        assert not session.closed
    assert session.closed
    assert app.state.livekit is None


def test_missing_keys_are_named_before_serving(agents_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LIVEKIT_API_SECRET", "AURALINK_LIVEKIT_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(
        _env_file=None, LIVEKIT_API_KEY=KEY, agents_file=agents_file, data_dir=agents_file.parent / "data"
    )
    with pytest.raises(MissingCredential, match="LIVEKIT_API_SECRET"):
        create_app(settings)
