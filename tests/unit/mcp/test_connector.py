"""A connector whose server is missing or not running answers, and never raises into the agent."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from auralink.core.errors import ProviderError
from auralink.core.spec import MCPServerSpec
from auralink.mcp import MCPConnector, MCPServerToolset, StdioLaunch, start_toolsets


def _connector(**fields: object) -> MCPConnector:
    spec = MCPServerSpec.model_validate({"name": "tickets", "command": "/nonexistent/tickets-mcp", **fields})
    return MCPConnector(spec, launch=StdioLaunch(command="/nonexistent/tickets-mcp"))


async def test_a_server_that_cannot_start_is_a_provider_error_naming_it() -> None:
    connector = _connector()
    with pytest.raises(ProviderError, match=r"MCP server 'tickets' did not start: .*command not found"):
        await connector.start()
    assert not connector.connected


async def test_calls_before_the_server_runs_answer_unavailable() -> None:
    outcome = await _connector().call_tool("find_ticket", {"id": "T-1"})
    assert outcome.unavailable and not outcome.ok
    assert outcome.text.startswith("The tool find_ticket is unavailable right now")


async def test_a_denied_tool_is_refused_without_reaching_the_server() -> None:
    outcome = await _connector(deny=["close_ticket"]).call_tool("close_ticket", {})
    assert not outcome.ok and not outcome.unavailable and "not allowed" in outcome.text


async def test_a_toolset_whose_server_fails_has_no_tools_and_does_not_raise() -> None:
    toolset = MCPServerToolset(connector=_connector())
    assert (await toolset.setup()) is toolset
    assert toolset.tools == [] and not toolset.ready
    assert (await toolset.setup()) is toolset  # the agent may set it up again
    await toolset.aclose()


async def test_start_toolsets_skips_servers_it_cannot_launch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    specs = [
        MCPServerSpec(name="db", preset="supabase"),
        MCPServerSpec(name="tickets", command="/nonexistent/tickets-mcp"),
    ]
    assert await start_toolsets(specs, data_dir=tmp_path, environ={}) == []
    assert "MCP server db skipped" in caplog.text and "SUPABASE_ACCESS_TOKEN" in caplog.text
    assert "MCP server tickets skipped" in caplog.text


async def test_giving_up_on_a_start_stops_the_server_being_started(tmp_path: Path) -> None:
    # `sleep` never speaks MCP, so the handshake waits for the spec's timeout (60 s)
    spec = MCPServerSpec(name="mute", command="sleep", args=["600"], timeout_s=60)
    connector = MCPConnector(spec, launch=StdioLaunch(command="sleep", args=("600",)))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(connector.start(), 1.0)
    assert not connector.connected
    assert not [p for p in _children() if p.endswith("sleep")]


def _children() -> list[str]:
    names = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    names.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return names
