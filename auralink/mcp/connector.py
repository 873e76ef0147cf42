"""One MCP server kept alive for an agent: connect, list its allowed tools, call them safely.

``MCPConnector`` runs a supervisor task that owns the connection (a stdio child in its own
process group, or a streamable-HTTP/SSE session). Tool calls never raise because the server is
down or slow: they answer "tool X is unavailable right now" and wake the supervisor, which
checks the server with a ping and restarts it with a capped exponential backoff. ``aclose()``
ends the session; the stdio transport closes stdin, then terminates and kills the whole process
group, so no server outlives its connector.
"""

from __future__ import annotations

__all__ = ["MCPConnector", "ToolOutcome"]

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp.types as mcp_types
from mcp import ClientSession
from mcp.client._transport import TransportStreams
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from auralink.core.errors import ProviderError
from auralink.core.spec import MCPServerSpec
from auralink.mcp.backoff import Backoff
from auralink.mcp.launch import HttpLaunch, Launch, StdioLaunch
from auralink.mcp.policy import ToolPolicy
from auralink.mcp.stdio import stdio_streams

logger = logging.getLogger("auralink.mcp")

_GRACE_S = 2.0  # beyond the spec's timeout before a call is abandoned even if the SDK has not
_CLOSE_S = 15.0  # the stdio transport's own shutdown is bounded by about 6 s


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool call produced, as text for the model. ``unavailable``: the server was down or slow."""

    text: str
    ok: bool
    unavailable: bool = False


class MCPConnector:
    """A supervised connection to one MCP server described by an ``MCPServerSpec``."""

    def __init__(
        self,
        spec: MCPServerSpec,
        *,
        launch: Launch,
        backoff: Backoff | None = None,
        health_interval_s: float = 30.0,
    ) -> None:
        self._spec = spec
        self._launch = launch
        self._backoff = backoff or Backoff()
        self._health_interval_s = health_interval_s
        self._policy = ToolPolicy.for_spec(spec)
        self._session: ClientSession | None = None
        self._tools: list[mcp_types.Tool] = []
        self._task: asyncio.Task[None] | None = None
        self._first_done = asyncio.Event()
        self._start_error: BaseException | None = None
        self._wake = asyncio.Event()  # a call failed, or closing: check the server now
        self._closed = asyncio.Event()
        self._connected = asyncio.Event()
        self.connections = 0  # successful connections so far (1 + restarts)

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def tools(self) -> list[mcp_types.Tool]:
        """The allowed tools as the server listed them at the last connection."""
        return list(self._tools)

    async def start(self) -> None:
        """Connect once; ProviderError if that fails (the connector is then closed)."""
        if self._task is not None:
            raise RuntimeError("MCPConnector.start() called twice")
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")
        try:
            await self._first_done.wait()
        except asyncio.CancelledError:
            await self.aclose()  # the caller gave up: stop the server being started
            raise
        if self._start_error is not None:
            error = self._start_error
            await self.aclose()
            raise ProviderError(
                f"MCP server {self.name!r} did not start: {_describe(error)}", retryable=True
            ) from error

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the server is connected (again); False after ``timeout_s``."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> ToolOutcome:
        """Call ``name``; failures of the server come back as an outcome, never as an exception."""
        if not self._policy.permits(name):
            return ToolOutcome(f"The tool {name} is not allowed for this agent.", ok=False)
        session = self._session
        if session is None:
            return self._unavailable(name)
        timeout = self._spec.timeout_s
        try:
            async with asyncio.timeout(timeout + _GRACE_S):
                result = await session.call_tool(name, arguments or {}, read_timeout_seconds=timeout)
        except Exception as e:
            return self._failure(name, e, session=session)
        return _outcome(name, result)

    def _failure(self, name: str, error: Exception, *, session: ClientSession) -> ToolOutcome:
        """Map a failed call to an outcome; wake the supervisor when the server may be in trouble."""
        timeout = self._spec.timeout_s
        if isinstance(error, MCPError) and error.code not in (REQUEST_TIMEOUT, CONNECTION_CLOSED):
            # the server answered: bad arguments, unknown tool ...
            return ToolOutcome(f"The tool {name} refused the call: {error.message}", ok=False)
        self._wake.set()
        if isinstance(error, TimeoutError) or (isinstance(error, MCPError) and error.code == REQUEST_TIMEOUT):
            logger.warning("MCP tool %s.%s timed out after %.1f s", self.name, name, timeout)
            return self._unavailable(name, why=f"it did not answer within {timeout:g} s")
        # the connection closed or the transport broke under the call: the server is gone
        if self._session is session:
            self._session = None
            self._connected.clear()
        logger.warning("MCP tool %s.%s failed: %s", self.name, name, _describe(error))
        return self._unavailable(name)

    async def aclose(self) -> None:
        """End the session and stop the server (its whole process group for stdio)."""
        self._closed.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        if self._session is not None:  # connected: let the session end gracefully
            try:
                await asyncio.wait_for(asyncio.shield(task), _CLOSE_S)
                return
            except TimeoutError:
                logger.warning("MCP server %s did not close in %.0f s; cancelling", self.name, _CLOSE_S)
        # connecting (or stuck): cancel; the stdio transport still stops the server, shielded
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ------------------------------------------------------------------ supervisor
    async def _supervise(self) -> None:
        attempt = 0
        while not self._closed.is_set():
            connected_before = self.connections
            try:
                await self._run_once()
            except Exception as e:
                if not self._first_done.is_set():
                    self._start_error = e
                    self._first_done.set()
                    return
                logger.warning("MCP server %s failed: %s", self.name, _describe(e))
            finally:
                self._session = None
                self._connected.clear()
            if self._closed.is_set():
                break
            if self.connections > connected_before:
                attempt = 0  # it ran, then went away: start the schedule again
            delay = self._backoff.delay(attempt)
            attempt += 1
            logger.warning("MCP server %s is unavailable; restarting in %.1f s", self.name, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), delay)
        self._first_done.set()

    async def _run_once(self) -> None:
        async with (
            self._streams() as streams,
            ClientSession(streams[0], streams[1], read_timeout_seconds=self._spec.timeout_s) as session,
        ):
            await session.initialize()
            self._tools = [t for t in await _list_all(session) if self._policy.permits(t.name)]
            self._session = session
            self.connections += 1
            if self.connections > 1:
                logger.info("MCP server %s is back (connection %d)", self.name, self.connections)
            self._connected.set()
            self._first_done.set()
            await self._watch(session)

    async def _watch(self, session: ClientSession) -> None:
        """Return when closing, or when the server no longer answers a ping."""
        while not self._closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._health_interval_s)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                async with asyncio.timeout(min(self._spec.timeout_s, 5.0) + _GRACE_S):
                    await session.send_ping()
            except Exception as e:
                logger.warning("MCP server %s stopped answering: %s", self.name, _describe(e))
                return

    @asynccontextmanager
    async def _streams(self) -> AsyncIterator[TransportStreams]:
        launch = self._launch
        if isinstance(launch, StdioLaunch):
            async with stdio_streams(launch) as streams:
                yield streams
        elif isinstance(launch, HttpLaunch) and launch.transport == "sse":
            async with sse_client(
                launch.url, headers=dict(launch.headers), timeout=self._spec.timeout_s
            ) as streams:
                yield streams
        else:
            timeout = httpx2.Timeout(self._spec.timeout_s, read=300.0)
            async with (
                httpx2.AsyncClient(headers=dict(launch.headers), timeout=timeout) as client,
                streamable_http_client(launch.url, http_client=client) as streams,
            ):
                yield streams

    def _unavailable(self, tool: str, *, why: str = "its server is restarting") -> ToolOutcome:
        text = f"The tool {tool} is unavailable right now ({why}); carry on without it."
        return ToolOutcome(text, ok=False, unavailable=True)


async def _list_all(session: ClientSession) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    while True:
        params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def _outcome(name: str, result: Any) -> ToolOutcome:
    if not isinstance(result, mcp_types.CallToolResult):
        return ToolOutcome(f"The tool {name} answered with something other than a result.", ok=False)
    parts: list[str] = []
    for item in result.content:
        text = getattr(item, "text", None)
        parts.append(text if isinstance(text, str) else item.model_dump_json(by_alias=True))
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts) or f"The tool {name} finished without output."
    return ToolOutcome(text, ok=not result.is_error)


def _describe(error: BaseException) -> str:
    """A short reason without tool arguments or payloads (they may hold personal data)."""
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    if isinstance(error, MCPError):
        return f"MCP error {error.code}: {error.message}"
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or error}"
    return type(error).__name__
