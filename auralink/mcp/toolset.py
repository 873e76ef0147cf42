"""MCP servers as livekit-agents tools: one ``Toolset`` per server, built from agents.yaml specs.

Each server's allowed tools become raw function tools whose schema is the server's own. A call
to a server that is down answers "unavailable" (a plain result the model reads and moves past);
a tool that reports an error raises ``ToolError`` so the model sees it as a failed call.
``start_toolsets`` connects every server of an agent at once and skips, with a log line, the ones
that cannot start, so one broken server never keeps the agent from its other tools.

livekit-agents' own ``MCPToolset``/``MCPServer`` are not used: they neither restart a crashed
server nor turn a dead or hung server into an answer, and the calls go through ``MCPConnector``
instead, which does.
"""

from __future__ import annotations

__all__ = ["MCPServerToolset", "start_toolsets"]

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from livekit.agents.llm import RawFunctionTool, ToolError, Toolset, function_tool
from mcp.types import Tool as MCPTool

from auralink.core.errors import AuraLinkError, ConfigError
from auralink.core.spec import MCPServerSpec
from auralink.mcp.backoff import Backoff
from auralink.mcp.connector import MCPConnector
from auralink.mcp.launch import launch_for

logger = logging.getLogger("auralink.mcp")


class MCPServerToolset(Toolset):
    """The tools of one MCP server; ``setup()`` connects, ``aclose()`` stops the server."""

    def __init__(self, *, connector: MCPConnector) -> None:
        self._connector = connector
        self._ready = False
        self._set_up = False
        super().__init__(id=f"mcp-{connector.name}")

    @property
    def connector(self) -> MCPConnector:
        return self._connector

    @property
    def ready(self) -> bool:
        """Whether the server started and its tools are listed."""
        return self._ready

    async def setup(self) -> Self:
        """Connect and list the tools. Never raises: a server that fails to start has no tools."""
        if self._set_up:
            return self
        self._set_up = True
        try:
            await self._connector.start()
        except AuraLinkError as e:
            logger.warning("MCP server %s skipped: %s", self._connector.name, e)
            self._tools = []
            return self
        self._tools = [self._function_tool(tool) for tool in self._connector.tools]
        self._ready = True
        return self

    def without(self, names: set[str]) -> None:
        """Drop tools by name (another server of the same agent already offers them)."""
        self._tools = [
            t for t in self._tools if not (isinstance(t, RawFunctionTool) and t.info.name in names)
        ]

    @property
    def tool_names(self) -> list[str]:
        return [t.info.name for t in self._tools if isinstance(t, RawFunctionTool)]

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            self._ready = False
            self._tools = []
            await self._connector.aclose()

    def _function_tool(self, tool: MCPTool) -> RawFunctionTool[..., Any]:
        connector, name = self._connector, tool.name

        async def call(raw_arguments: dict[str, Any]) -> str:
            outcome = await connector.call_tool(name, raw_arguments)
            if outcome.ok or outcome.unavailable:
                return outcome.text
            raise ToolError(outcome.text)

        schema: dict[str, Any] = {
            "name": name,
            "description": tool.description or tool.title or name,
            "parameters": tool.input_schema,
        }
        return function_tool(call, raw_schema=schema)


async def start_toolsets(
    specs: Sequence[MCPServerSpec],
    *,
    data_dir: Path,
    servers_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    backoff: Backoff | None = None,
) -> list[MCPServerToolset]:
    """Start every server in ``specs`` concurrently; return the toolsets of those that started.

    A spec that cannot be launched (missing secret, npm server not installed) or a server that
    fails to start is logged and left out; the caller owns the returned toolsets (``aclose``).
    A tool name offered by two servers keeps the first server's tool.
    """
    toolsets: list[MCPServerToolset] = []
    for spec in specs:
        try:
            launch = launch_for(spec, data_dir=data_dir, servers_dir=servers_dir, environ=environ)
        except ConfigError as e:
            logger.warning("MCP server %s skipped: %s", spec.name, e)
            continue
        toolsets.append(MCPServerToolset(connector=MCPConnector(spec, launch=launch, backoff=backoff)))
    await asyncio.gather(*(t.setup() for t in toolsets))
    started = [t for t in toolsets if t.ready]
    seen: set[str] = set()
    for toolset in started:
        duplicated = seen.intersection(toolset.tool_names)
        if duplicated:
            logger.warning(
                "MCP server %s: tools %s already come from another server; left out",
                toolset.connector.name,
                ", ".join(sorted(duplicated)),
            )
            toolset.without(duplicated)
        seen.update(toolset.tool_names)
    return started
