"""The MCP server inside the API: streamable HTTP at ``/mcp``, behind API-key auth.

Every request must carry ``Authorization: Bearer al_...``; the key is checked like any API
request (unknown, revoked or expired keys answer 401 before the MCP transport sees the request)
and the principal rides on the request to the tools. An MCP session belongs to the key that
opened it: another key presenting its session id is told the session does not exist. The SDK's
session manager runs inside the API's lifespan (:meth:`McpEndpoint.running`).
"""

from __future__ import annotations

__all__ = ["MCP_PATH", "McpEndpoint", "mount_mcp"]

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from auralink.api.auth import Principal, authenticate
from auralink.api.db import Database
from auralink.api.errors import NotAuthenticated
from auralink.api.memories import MemoryHandle
from auralink.core import ServiceFailed, Settings

from .server import KnowledgeServer, MemoryFactory, ToolContext

logger = logging.getLogger("auralink.api")

MCP_PATH = "/mcp"
_PRINCIPAL = "auralink.principal"


class McpEndpoint:
    """The ASGI app at ``/mcp``. ``memory`` may be replaced (tests give a fake embedder)."""

    def __init__(self, *, app: FastAPI, memory: MemoryFactory) -> None:
        self._app = app
        self.knowledge = KnowledgeServer(
            database=self._database, principal=_request_principal, memory=memory, client_ip=_client_ip
        )
        self._manager: StreamableHTTPSessionManager | None = None

    @property
    def memory(self) -> MemoryFactory:
        return self.knowledge.memory

    @memory.setter
    def memory(self, factory: MemoryFactory) -> None:
        self.knowledge.memory = factory

    def _database(self) -> Database:
        database = getattr(self._app.state, "database", None)
        assert isinstance(database, Database), "the database is opened in the app's lifespan"
        return database

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve MCP sessions until the block ends (then every open session is ended).

        The SDK's session manager holds a task group, which must end in the task it began in;
        the app's lifespan may be entered and left by different tasks (test harnesses do), so
        the manager runs in a task of its own, started and awaited here.
        """
        # a new manager per run: the SDK's manager runs once; the API may be started again in tests
        self.knowledge.mcp.streamable_http_app(
            # keys, not cookies, authenticate here, so a rebound DNS name gains nothing
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = self.knowledge.mcp.session_manager
        started, stop = asyncio.Event(), asyncio.Event()

        async def serve() -> None:
            async with manager.run():
                self._manager = manager
                started.set()
                try:
                    await stop.wait()
                finally:
                    self._manager = None

        task = asyncio.create_task(serve(), name="mcp-sessions")
        waiting = asyncio.create_task(started.wait())
        try:
            await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()  # it failed to start: raise why
            yield
        finally:
            waiting.cancel()
            stop.set()
            ended, _ = await asyncio.gather(task, waiting, return_exceptions=True)
            if isinstance(ended, Exception):
                logger.warning("MCP session manager failed: %s", type(ended).__name__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if scope["type"] != "http" or manager is None:
            raise ServiceFailed("MCP endpoint", "it is not running (the API is starting or stopping)")
        request = Request(scope, receive)
        if not request.headers.get("authorization"):
            raise NotAuthenticated("send an API key: Authorization: Bearer al_...")
        async with self._database().read_session() as session:
            principal = await authenticate(request, session)
        if principal.key_id is None:  # pragma: no cover - a Bearer header always names a key
            raise NotAuthenticated("the MCP endpoint takes API keys only")
        scope.setdefault("state", {})[_PRINCIPAL] = principal
        # the SDK binds each MCP session to this identity: no other key can use its session id
        token = AccessToken(token=principal.key_id, client_id=principal.key_id, scopes=[])
        scope["user"] = AuthenticatedUser(token)
        await manager.handle_request(scope, receive, send)


def _request(ctx: ToolContext) -> Request | None:
    request: Any = ctx.request_context.request
    return request if isinstance(request, Request) else None


async def _request_principal(ctx: ToolContext, session: AsyncSession) -> Principal:
    """The principal :class:`McpEndpoint` authenticated for this very HTTP request."""
    request = _request(ctx)
    principal = request.scope.get("state", {}).get(_PRINCIPAL) if request is not None else None
    if not isinstance(principal, Principal):
        raise NotAuthenticated("send an API key: Authorization: Bearer al_...")
    return principal


def _client_ip(ctx: ToolContext) -> str | None:
    request = _request(ctx)
    return request.client.host if request is not None and request.client else None


def mount_mcp(app: FastAPI, settings: Settings) -> McpEndpoint:
    """Serve the MCP endpoint at ``/mcp`` (``app.state.mcp``); run it with :meth:`McpEndpoint.running`."""
    handle: MemoryHandle = app.state.memories  # the API's one memory service, closed with the app
    endpoint = McpEndpoint(app=app, memory=handle.service)
    # a plain route (not a mount): `/mcp` itself is the endpoint, with no redirect to `/mcp/`
    app.router.routes.append(Route(MCP_PATH, endpoint, include_in_schema=False))
    app.state.mcp = endpoint
    return endpoint
