"""MCP connectors against real servers: the npm presets over stdio, and a local streamable-HTTP
server (the Python SDK's MCPServer) standing in for DeepWiki and Supabase, which cannot be
reached from here. Crashes (kill -9) and hangs must come back as answers, never exceptions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit.agents.llm import RawFunctionTool

from auralink.core.spec import MCPServerSpec
from auralink.mcp import Backoff, MCPConnector, MCPServerToolset, launch_for, start_toolsets
from auralink.testing.ports import free_port

pytestmark = pytest.mark.integration

TOKEN = "stand-in-token-7"

# A stand-in for a remote MCP server: refuses requests without the bearer token and the API key.
STAND_IN = textwrap.dedent(
    """
    import asyncio, os, sys
    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from starlette.responses import JSONResponse

    server = MCPServer(name="stand-in")

    @server.tool()
    def ask_question(repo: str, question: str) -> str:
        \"\"\"Answer a question about a repository.\"\"\"
        return f"{repo} answers: {question}"

    @server.tool()
    def delete_project(project: str) -> str:
        \"\"\"Delete a project.\"\"\"
        return f"deleted {project}"

    @server.tool()
    async def slow_report() -> str:
        \"\"\"Takes an hour.\"\"\"
        await asyncio.sleep(3600)
        return "late"

    inner = server.streamable_http_app() if sys.argv[2] == "http" else server.sse_app()
    expected = {b"authorization": f"Bearer {os.environ['EXPECTED_TOKEN']}".encode(), b"x-api-key": b"k-1"}

    async def app(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if any(headers.get(name) != value for name, value in expected.items()):
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        await inner(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


@contextlib.contextmanager
def _stand_in(folder: Path, transport: str) -> Iterator[str]:
    """Run the stand-in in its own process; yield its MCP endpoint's URL."""
    script = folder / "server.py"
    script.write_text(STAND_IN)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port), transport], env={**os.environ, "EXPECTED_TOKEN": TOKEN}
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the stand-in did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/{'mcp' if transport == 'http' else 'sse'}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A streamable-HTTP stand-in for DeepWiki and Supabase, shared by the module."""
    with _stand_in(tmp_path_factory.mktemp("stand-in"), "http") as url:
        yield url


def _tool(toolset: MCPServerToolset, name: str) -> RawFunctionTool[..., Any]:
    tools = {t.info.name: t for t in toolset.tools if isinstance(t, RawFunctionTool)}
    assert name in tools, sorted(tools)
    return tools[name]


def _servers() -> list[int]:
    """Live node processes started by this test process (the npm MCP servers)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended between the listing and the read
            continue
        for pid in children:
            stat = Path(f"/proc/{pid}/stat")
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z" and Path(f"/proc/{pid}/comm").read_text().strip() == "node":
                    pids.append(int(pid))
    return pids


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while pid in _servers():
        assert time.monotonic() < deadline, f"process {pid} survived kill -9"
        time.sleep(0.05)


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[MCPConnector]:
    spec = MCPServerSpec(name="graph", preset="memory")
    connector = MCPConnector(spec, launch=launch_for(spec, data_dir=tmp_path), backoff=Backoff(initial_s=1.0))
    await connector.start()
    yield connector
    await connector.aclose()


async def test_the_memory_preset_keeps_entities_an_agent_can_search(tmp_path: Path) -> None:
    toolsets = await start_toolsets([MCPServerSpec(name="graph", preset="memory")], data_dir=tmp_path)
    try:
        [graph] = toolsets
        created = await _tool(graph, "create_entities")(
            raw_arguments={
                "entities": [{"name": "Ada", "entityType": "person", "observations": ["likes tea"]}]
            }
        )
        assert "Ada" in created
        found = json.loads(await _tool(graph, "search_nodes")(raw_arguments={"query": "tea"}))
        assert [e["name"] for e in found["entities"]] == ["Ada"]
        graph_now = json.loads(await _tool(graph, "read_graph")(raw_arguments={}))
        assert graph_now["entities"][0]["observations"] == ["likes tea"]
    finally:
        for toolset in toolsets:
            await toolset.aclose()
    assert _servers() == []  # the node process is gone with the toolset
    assert (tmp_path / "mcp" / "graph.jsonl").read_text()  # kept in the data dir, not node_modules


async def test_sequential_thinking_answers_a_thought(tmp_path: Path) -> None:
    [thinking] = await start_toolsets(
        [MCPServerSpec(name="think", preset="sequential-thinking")], data_dir=tmp_path
    )
    try:
        answer = await _tool(thinking, "sequentialthinking")(
            raw_arguments={
                "thought": "First, list what the caller asked for.",
                "thoughtNumber": 1,
                "totalThoughts": 2,
                "nextThoughtNeeded": True,
            }
        )
        assert json.loads(answer)["thoughtNumber"] == 1
    finally:
        await thinking.aclose()


async def test_the_filesystem_preset_reads_a_folder_and_cannot_write(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "opening-hours.txt").write_text("Open 9 to 5, Monday to Friday.\n")
    spec = MCPServerSpec(name="docs", preset="filesystem", args=[str(docs)])
    [files] = await start_toolsets([spec], data_dir=tmp_path)
    try:
        assert "write_file" not in files.tool_names and "read_text_file" in files.tool_names
        listing = await _tool(files, "list_directory")(raw_arguments={"path": str(docs)})
        assert "opening-hours.txt" in listing
        text = await _tool(files, "read_text_file")(raw_arguments={"path": str(docs / "opening-hours.txt")})
        assert "Open 9 to 5" in text
        refused = await files.connector.call_tool("write_file", {"path": str(docs / "x"), "content": "x"})
        assert not refused.ok and not (docs / "x").exists()
    finally:
        await files.aclose()


async def test_a_killed_stdio_server_answers_unavailable_then_comes_back(memory: MCPConnector) -> None:
    assert (await memory.call_tool("read_graph", {})).ok
    [server] = _servers()
    os.kill(server, signal.SIGKILL)
    _wait_gone(server)

    outcome = await memory.call_tool("read_graph", {})  # no exception reaches the agent
    assert outcome.unavailable and "read_graph is unavailable right now" in outcome.text

    assert await memory.wait_connected(30), "the supervisor did not restart the server"
    assert memory.connections == 2
    again = await memory.call_tool("search_nodes", {"query": "anything"})
    assert again.ok and "entities" in again.text
    assert len(_servers()) == 1 and server not in _servers()


async def test_a_remote_server_gets_its_secrets_from_env_and_honours_allow_deny(
    stand_in: str, tmp_path: Path
) -> None:
    spec = MCPServerSpec(
        name="wiki",
        transport="http",
        url=stand_in,
        headers_env={"X-Api-Key": "WIKI_KEY"},
        bearer_token_env="WIKI_TOKEN",
        deny=["delete_project"],
    )
    environ = {"WIKI_KEY": "k-1", "WIKI_TOKEN": TOKEN}
    [wiki] = await start_toolsets([spec], data_dir=tmp_path, environ=environ)
    try:
        assert sorted(wiki.tool_names) == ["ask_question", "slow_report"]
        answer = await _tool(wiki, "ask_question")(
            raw_arguments={"repo": "livekit/agents", "question": "why?"}
        )
        assert answer == "livekit/agents answers: why?"
        assert not (await wiki.connector.call_tool("delete_project", {"project": "prod"})).ok
    finally:
        await wiki.aclose()


async def test_one_server_failing_to_start_leaves_the_others_working(stand_in: str, tmp_path: Path) -> None:
    specs = [
        MCPServerSpec(name="wiki", transport="http", url=stand_in, bearer_token_env="WIKI_TOKEN"),
        MCPServerSpec(name="broken", command="/nonexistent/mcp-server"),
        MCPServerSpec(name="missing-secret", preset="supabase"),
        MCPServerSpec(name="graph", preset="memory"),
    ]
    environ = {"WIKI_TOKEN": "wrong-token"}  # refused by the stand-in with 401
    toolsets = await start_toolsets(specs, data_dir=tmp_path, environ=environ)
    try:
        assert [t.connector.name for t in toolsets] == ["graph"]
        assert "entities" in await _tool(toolsets[0], "read_graph")(raw_arguments={})
    finally:
        for toolset in toolsets:
            await toolset.aclose()


async def test_a_hanging_tool_hits_the_timeout_and_the_server_stays_usable(
    stand_in: str, tmp_path: Path
) -> None:
    spec = MCPServerSpec(
        name="wiki",
        transport="http",
        url=stand_in,
        headers_env={"X-Api-Key": "WIKI_KEY"},
        bearer_token_env="WIKI_TOKEN",
        timeout_s=1,
    )
    environ = {"WIKI_KEY": "k-1", "WIKI_TOKEN": TOKEN}
    [wiki] = await start_toolsets([spec], data_dir=tmp_path, environ=environ)
    try:
        started = time.monotonic()
        answer = await _tool(wiki, "slow_report")(raw_arguments={})
        assert time.monotonic() - started < 10
        assert "slow_report is unavailable right now" in answer and "within 1 s" in answer
        assert (await wiki.connector.call_tool("ask_question", {"repo": "a/b", "question": "up?"})).ok
    finally:
        await wiki.aclose()


# A stdio server that starts a helper process of its own and exits cleanly when stdin closes.
PARENT = textwrap.dedent(
    """
    import subprocess, sys
    from mcp.server.mcpserver import MCPServer

    helper = subprocess.Popen(["sleep", "300"])
    with open(sys.argv[1], "w") as f:
        f.write(str(helper.pid))
    server = MCPServer(name="parent")

    @server.tool()
    def status() -> str:
        \"\"\"Say how things are.\"\"\"
        return "fine"

    server.run("stdio")
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_closing_a_stdio_server_kills_its_whole_process_group(tmp_path: Path) -> None:
    script, helper_pid = tmp_path / "parent.py", tmp_path / "helper.pid"
    script.write_text(PARENT)
    spec = MCPServerSpec(name="parent", command=sys.executable, args=[str(script), str(helper_pid)])
    [toolset] = await start_toolsets([spec], data_dir=tmp_path)
    try:
        assert await _tool(toolset, "status")(raw_arguments={}) == "fine"
        helper = int(helper_pid.read_text())
        assert _alive(helper)
    finally:
        await toolset.aclose()
    deadline = time.monotonic() + 10
    while _alive(helper):
        assert time.monotonic() < deadline, "the server's helper process outlived it"
        time.sleep(0.05)


async def test_a_frozen_stdio_server_times_out_and_is_replaced(tmp_path: Path) -> None:
    spec = MCPServerSpec(name="graph", preset="memory", timeout_s=1)
    connector = MCPConnector(spec, launch=launch_for(spec, data_dir=tmp_path), backoff=Backoff(initial_s=0.5))
    await connector.start()
    try:
        [server] = _servers()
        os.kill(server, signal.SIGSTOP)  # alive but answering nothing
        outcome = await connector.call_tool("read_graph", {})
        assert outcome.unavailable and "did not answer within 1 s" in outcome.text
        deadline = time.monotonic() + 30
        while connector.connections < 2:
            assert time.monotonic() < deadline, "the frozen server was not replaced"
            await asyncio.sleep(0.2)
        assert (await connector.call_tool("read_graph", {})).ok
        assert server not in _servers()
    finally:
        await connector.aclose()


async def test_an_sse_server_is_reached_with_its_headers(tmp_path: Path) -> None:
    with _stand_in(tmp_path, "sse") as url:
        spec = MCPServerSpec(
            name="legacy",
            transport="sse",
            url=url,
            headers_env={"X-Api-Key": "LEGACY_KEY"},
            bearer_token_env="LEGACY_TOKEN",
            allow=["ask_question"],
        )
        environ = {"LEGACY_KEY": "k-1", "LEGACY_TOKEN": TOKEN}
        [legacy] = await start_toolsets([spec], data_dir=tmp_path, environ=environ)
        try:
            assert legacy.tool_names == ["ask_question"]
            answer = await _tool(legacy, "ask_question")(raw_arguments={"repo": "a/b", "question": "sse?"})
            assert answer == "a/b answers: sse?"
        finally:
            await legacy.aclose()
