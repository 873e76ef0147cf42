"""AuraLink's own MCP server: a real API (uvicorn on a port) with calls and memories, reached
by the MCP SDK's streamable-HTTP client with an API key, by ``auralink mcp serve`` over stdio,
and by AuraLink's own connector, the way one AuraLink agent would use another's knowledge."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp.types as mcp_types
import numpy as np
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select
from sse_starlette.sse import AppStatus

from auralink.api.app import create_app
from auralink.api.db import AuditEntry, Call, CallParticipant, CallTurn, Database
from auralink.core import Settings
from auralink.core.spec import MCPServerSpec
from auralink.mcp import start_toolsets
from auralink.memory import ChromaMemoryStore, Embedder, MemoryRecord, MemoryService
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import PASSWORD

pytestmark = pytest.mark.integration

PHONE = "+15551234567"
SAID = "The parcel to Lisbon left the warehouse on Tuesday."


class WordEmbedder(Embedder):
    """Stands in for the embeddings model: each word lights one of 64 dimensions."""

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").replace("?", " ").split():
                vectors[row, hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def _memory(settings: Settings) -> MemoryService:
    embedder = WordEmbedder()
    return MemoryService(
        store=ChromaMemoryStore.embedded(settings.memory_dir, embedder=embedder), embedder=embedder
    )


@dataclass
class Platform:
    url: str
    settings: Settings
    database: Database
    key: str  # a developer key of Acme (may read transcripts)
    viewer_key: str  # an Acme key whose viewer role may not
    other_key: str  # a key of another organisation
    call_id: str


async def _org_key(client: httpx.AsyncClient, name: str, **key: Any) -> tuple[str, dict[str, str]]:
    email = f"owner@{name.lower()}.test"
    body = {"name": name, "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
    made = await client.post("/v1/organisations", json=body)
    assert made.status_code == 201, made.text
    login = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    keys = {}
    for role in ("developer", "viewer"):
        r = await client.post("/v1/keys", json={"name": f"{role} key", "role": role, **key})
        assert r.status_code == 201, r.text
        keys[role] = r.json()["secret"]
    client.cookies.clear()
    return made.json()["organisation"]["id"], keys


async def _record_call(database: Database, org_id: str) -> str:
    started = datetime.now(UTC) - timedelta(minutes=5)
    async with database.session() as session:
        call = Call(
            org_id=org_id,
            room_name="call-parcel",
            room_sid="RM_parcel",
            agent="support",
            source="sip",
            status="ended",
            started_at=started,
            ended_at=started + timedelta(minutes=2),
            duration_s=120.0,
            summary={"text": "A caller asked where their parcel is.", "action_items": ["send tracking link"]},
        )
        session.add(call)
        await session.flush()
        session.add(CallParticipant(call_id=call.id, identity="sip_caller", name="Caller", kind="sip"))
        session.add(CallParticipant(call_id=call.id, identity="agent-support", name="Support", kind="agent"))
        lines = [("user", "sip_caller", "Where is my parcel?"), ("assistant", "agent-support", SAID)]
        for seq, (role, speaker, text) in enumerate(lines):
            session.add(
                CallTurn(
                    call_id=call.id,
                    seq=seq,
                    role=role,
                    speaker=speaker,
                    text=text,
                    spoken_at=started + timedelta(seconds=10 * (seq + 1)),
                )
            )
        await session.commit()
        return call.id


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = Settings(
        _env_file=None,
        LIVEKIT_URL="ws://127.0.0.1:7880",
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        data_dir=tmp_path / "data",
        agents_file=tmp_path / "agents.yaml",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'auralink.db'}",
    )
    app = create_app(settings, web_dist=tmp_path / "no-dist")
    app.state.memories._service = _memory(settings)  # the shared handle, with the fake embedder
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                assert not serving.done(), "the API did not start"
                await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            acme, keys = await _org_key(client, "Acme")
            _, other = await _org_key(client, "Other")
        database = app.state.database
        call_id = await _record_call(database, acme)
        memory = _memory(settings)
        try:
            await memory.store.upsert(
                [
                    MemoryRecord(org_id=acme, subject=f"phone:{PHONE}", kind="fact", text="Lives in Lisbon."),
                    MemoryRecord(
                        org_id=acme, subject=f"phone:{PHONE}", kind="preference", text="Likes jazz."
                    ),
                    MemoryRecord(org_id=acme, subject="identity:bob", kind="fact", text="Lives in Porto."),
                ]
            )
        finally:
            await memory.aclose()
        yield Platform(
            url, settings, database, keys["developer"], keys["viewer"], other["developer"], call_id
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
        await _stop_sse_watcher()


async def _stop_sse_watcher() -> None:
    """sse-starlette (the SDK's SSE streams) polls for uvicorn's exit with a task of its own, which
    sees only a server that installed signal handlers; tell it directly, as a signal would."""
    AppStatus.should_exit = True
    try:
        await asyncio.sleep(0.7)  # it polls every 0.5 s, then ends
    finally:
        AppStatus.should_exit = False


async def _session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _json(result: mcp_types.CallToolResult) -> Any:
    assert not result.is_error, result.content
    [content] = result.content
    assert isinstance(content, mcp_types.TextContent)
    return json.loads(content.text)


def _error(result: mcp_types.CallToolResult) -> str:
    assert result.is_error
    [content] = result.content
    assert isinstance(content, mcp_types.TextContent)
    return content.text


async def _audit_actions(database: Database) -> list[str]:
    async with database.read_session() as session:
        rows = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))
        return [a for a in rows if a.startswith(("transcripts.", "memories."))]


async def test_an_mcp_client_with_a_key_searches_what_the_organisation_knows(platform: Platform) -> None:
    async for session in _session(platform.url, platform.key):
        tools = await session.list_tools()
        assert sorted(t.name for t in tools.tools) == ["get_call", "search_memories", "search_transcripts"]

        found = _json(await session.call_tool("search_transcripts", {"query": "lisbon"}))
        [line] = found["lines"]
        assert line["call_id"] == platform.call_id and line["text"] == SAID
        assert line["speaker"] == "agent-support" and line["spoken_at"]
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert _json(await session.call_tool("search_transcripts", {"query": "lisbon", "since": later})) == {
            "lines": []
        }

        call = _json(await session.call_tool("get_call", {"call_id": platform.call_id}))
        assert call["agent"] == "support" and call["status"] == "ended"
        assert [p["identity"] for p in call["participants"]] == ["sip_caller", "agent-support"]
        assert [t["text"] for t in call["transcript"]] == ["Where is my parcel?", SAID]
        assert call["summary"]["action_items"] == ["send tracking link"]
        assert "no call" in _error(await session.call_tool("get_call", {"call_id": "cal_doesnotexist"}))

        memories = _json(
            await session.call_tool(
                "search_memories", {"subject": f"phone:{PHONE}", "query": "where does she live in Lisbon?"}
            )
        )
        texts = [m["text"] for m in memories["memories"]]
        assert texts[0] == "Lives in Lisbon." and "Lives in Porto." not in texts  # bob's stay his
        assert "subject must look like" in _error(
            await session.call_tool("search_memories", {"subject": "ada", "query": "x"})
        )
    assert await _audit_actions(platform.database) == [
        "transcripts.search",
        "transcripts.search",
        "transcripts.read",
        "memories.search",
    ]


async def test_other_organisations_viewers_and_callers_without_a_key_get_nothing(platform: Platform) -> None:
    async for session in _session(platform.url, platform.other_key):
        assert _json(await session.call_tool("search_transcripts", {"query": "lisbon"})) == {"lines": []}
        assert "no call" in _error(await session.call_tool("get_call", {"call_id": platform.call_id}))
        memories = await session.call_tool(
            "search_memories", {"subject": f"phone:{PHONE}", "query": "Lisbon"}
        )
        assert _json(memories) == {"memories": []}

    async for session in _session(platform.url, platform.viewer_key):
        refused = _error(await session.call_tool("search_transcripts", {"query": "lisbon"}))
        assert "may not transcripts:read" in refused
        assert "may not" in _error(await session.call_tool("get_call", {"call_id": platform.call_id}))

    async with httpx.AsyncClient(base_url=platform.url) as client:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        accept = {"Accept": "application/json, text/event-stream"}
        anonymous = await client.post("/mcp", json=hello, headers=accept)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        forged = await client.post("/mcp", json=hello, headers=accept | {"Authorization": "Bearer al_nope"})
        assert forged.status_code == 401 and "not an AuraLink API key" in forged.json()["error"]["message"]
        hello["params"] = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "curl", "version": "0"},
        }
        keyed = await client.post(
            "/mcp", json=hello, headers=accept | {"Authorization": f"Bearer {platform.key}"}
        )
        assert keyed.status_code == 200 and keyed.headers["mcp-session-id"]  # the curl of docs/mcp.md


async def test_auralink_mcp_serve_speaks_stdio_with_the_key_from_the_environment(
    platform: Platform, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "AURALINK_DATABASE_URL": platform.settings.database_url,
        "AURALINK_DATA_DIR": str(platform.settings.data_dir),
        "AURALINK_API_KEY": platform.key,
    }
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "auralink", "mcp", "serve"], env=env, cwd=tmp_path
    )
    async with (
        stdio_client(server) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = await session.list_tools()
        assert sorted(t.name for t in tools.tools) == ["get_call", "search_memories", "search_transcripts"]
        [line] = _json(await session.call_tool("search_transcripts", {"query": "MY PARCEL"}))["lines"]
        assert line["call_id"] == platform.call_id and line["text"] == "Where is my parcel?"


async def test_an_auralink_agent_connector_uses_another_auralinks_knowledge(
    platform: Platform, tmp_path: Path
) -> None:
    spec = MCPServerSpec(
        name="hq", transport="http", url=f"{platform.url}/mcp", headers_env={"Authorization": "HQ_AUTH"}
    )
    [hq] = await start_toolsets([spec], data_dir=tmp_path, environ={"HQ_AUTH": f"Bearer {platform.key}"})
    try:
        assert sorted(hq.tool_names) == ["get_call", "search_memories", "search_transcripts"]
        outcome = await hq.connector.call_tool("get_call", {"call_id": platform.call_id})
        assert outcome.ok and json.loads(outcome.text)["transcript"][1]["text"] == SAID
    finally:
        await hq.aclose()
