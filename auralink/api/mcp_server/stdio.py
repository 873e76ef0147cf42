"""``auralink mcp serve``: the same MCP server over stdin/stdout, for local MCP clients.

The caller is the API key in ``AURALINK_API_KEY``, checked against the configured database
(``AURALINK_DATABASE_URL``) when the server starts and again on every tool call, so a key
revoked meanwhile stops working at once. stdout carries the protocol; logs go to stderr.
"""

from __future__ import annotations

__all__ = ["serve_stdio"]

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from auralink.api.auth import Principal, authenticate
from auralink.api.db import Database, current_revision
from auralink.api.memories import MemoryHandle
from auralink.core import MissingCredential, ServiceFailed, Settings

from .server import KnowledgeServer, ToolContext

logger = logging.getLogger("auralink.api")


async def _key_principal(session: AsyncSession, secret: str) -> Principal:
    # the API's own check of a Bearer key (shape, hash, revoked, expired), as for an HTTP request
    request = Request({"type": "http", "headers": [(b"authorization", f"Bearer {secret}".encode())]})
    return await authenticate(request, session)


async def _serve(settings: Settings, secret: str) -> None:
    async with Database(url=settings.database_url) as database:
        try:
            if await current_revision(database) is None:
                raise ServiceFailed("database", "it has no AuraLink schema yet; run `auralink db upgrade`")
            async with database.read_session() as session:
                principal = await _key_principal(session, secret)
        except SQLAlchemyError as e:
            raise ServiceFailed("database", f"cannot read the API keys: {type(e).__name__}") from None

        async def each_call(ctx: ToolContext, session: AsyncSession) -> Principal:
            return await _key_principal(session, secret)

        memory = MemoryHandle(settings=settings)  # opened on the first memory search
        server = KnowledgeServer(database=lambda: database, principal=each_call, memory=memory.service)
        logger.info("MCP server on stdio for organisation %s (key %s)", principal.org_id, principal.key_id)
        try:
            await server.mcp.run_stdio_async()
        finally:
            await memory.aclose()


def serve_stdio(settings: Settings) -> int:
    """Serve MCP on stdio until the client closes stdin; 0 then."""
    secret = settings.api_key.get_secret_value().strip() if settings.api_key else ""
    if not secret:
        raise MissingCredential("AURALINK_API_KEY", what="`auralink mcp serve`")
    asyncio.run(_serve(settings, secret))
    return 0
