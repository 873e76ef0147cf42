"""AuraLink's own MCP server: what the platform knows, as three tools for any MCP client.

    search_memories(subject, query, top_k)    long-term memory of one person (MemoryService.recall)
    search_transcripts(query, limit, since)   transcript lines of the organisation's calls
    get_call(call_id)                         one call: metadata, participants, transcript, summary

Every tool acts for one API key: its organisation bounds what is seen, and its role and scopes
must allow ``transcripts:read`` (memories are what was said in calls, so the same permission
guards them). Each call is a sensitive read written to the audit log (ids and counts only).
Who the caller is comes from a :data:`PrincipalSource`: the HTTP endpoint (:mod:`.http`)
authenticates each request, the stdio runner (:mod:`.stdio`) re-checks its key on each call, so
a revoked key stops working at once. Results are JSON text.
"""

from __future__ import annotations

__all__ = ["KnowledgeServer", "MemoryFactory", "PrincipalSource", "ToolContext"]

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AwareDatetime, Field
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.audit import AuditContext, audit_read, bind
from auralink.api.auth import Principal
from auralink.api.db import Database
from auralink.api.errors import ApiError
from auralink.api.permissions import Action
from auralink.core import AuraLinkError
from auralink.memory import MemoryService, Subject

from .knowledge import call_record, memory_hits, transcript_hits

logger = logging.getLogger("auralink.api")

ToolContext = Context[Any, Any]
PrincipalSource = Callable[[ToolContext, AsyncSession], Awaitable[Principal]]
"""Who is calling, given the tool call's context and a database session; raises
:class:`~auralink.api.errors.NotAuthenticated` for an unusable key."""
MemoryFactory = Callable[[], Awaitable[MemoryService]]
"""The memory service the tools use; owned (and closed) by whoever provides it: the API's
shared :class:`~auralink.api.memories.MemoryHandle`, or the stdio server's own."""

_INSTRUCTIONS = (
    "AuraLink's knowledge of one organisation: its call transcripts and summaries and what its "
    "agents remember about people. Search transcripts by words said, open a call by its id "
    "(cal_...), and search memories of one person (identity:<participant>, phone:<E.164> or member:<id>)."
)
_DATABASE_DOWN = "the database is not answering; try again shortly"


class KnowledgeServer:
    """The MCP server (``.mcp``) over one database, for callers named by ``principal``."""

    def __init__(
        self,
        *,
        database: Callable[[], Database],
        principal: PrincipalSource,
        memory: MemoryFactory,
        client_ip: Callable[[ToolContext], str | None] | None = None,
    ) -> None:
        self._database = database
        self._principal = principal
        self.memory = memory
        self._client_ip = client_ip
        self.mcp: MCPServer[Any] = MCPServer(name="auralink", instructions=_INSTRUCTIONS, version="0.1.0")
        self._register()

    # ------------------------------------------------------------------ tools
    def _register(self) -> None:
        async def search_memories(
            subject: Annotated[
                str,
                Field(
                    min_length=3,
                    max_length=300,
                    description="who: identity:<participant>, phone:<E.164 number> or member:<id>",
                ),
            ],
            query: Annotated[str, Field(min_length=1, max_length=500, description="what to look for")],
            ctx: ToolContext,
            top_k: Annotated[int, Field(ge=1, le=50, description="how many memories at most")] = 5,
        ) -> str:
            """What the organisation's agents remember about one person, nearest to ``query`` first."""
            try:
                key = Subject.parse(subject.strip()).key
            except ValueError:
                raise ToolError(
                    "subject must look like identity:<participant>, phone:<number> or member:<id>"
                ) from None
            principal = await self._authorise(ctx)
            try:
                memory = await self.memory()
                hits = await memory_hits(
                    memory, org_id=principal.org_id, subject=key, query=query, top_k=top_k
                )
            except AuraLinkError as e:
                raise ToolError(f"memory is unavailable: {e}") from None
            await self._audit(ctx, principal, "memories.search", detail={"results": len(hits)})
            return _text({"memories": hits})

        async def search_transcripts(
            query: Annotated[
                str, Field(min_length=1, max_length=200, description="words said (case does not matter)")
            ],
            ctx: ToolContext,
            limit: Annotated[int, Field(ge=1, le=200, description="how many lines at most")] = 20,
            since: Annotated[
                AwareDatetime | None, Field(description="only lines spoken at or after this time (ISO 8601)")
            ] = None,
        ) -> str:
            """Transcript lines of the organisation's calls that contain ``query``, newest first."""
            principal = await self._authorise(ctx)
            async with self._reading() as session:
                lines = await transcript_hits(
                    session, org_id=principal.org_id, query=query, limit=limit, since=since
                )
            await self._audit(ctx, principal, "transcripts.search", detail={"lines": len(lines)})
            return _text({"lines": lines})

        async def get_call(
            call_id: Annotated[str, Field(min_length=1, max_length=64, description="the call's id, cal_...")],
            ctx: ToolContext,
        ) -> str:
            """One call: agent, times, status, participants, every transcript line, and its summary."""
            principal = await self._authorise(ctx)
            async with self._reading() as session:
                record = await call_record(session, org_id=principal.org_id, call_id=call_id)
            if record is None:
                raise ToolError(f"no call {call_id!r} in your organisation")
            await self._audit(ctx, principal, "transcripts.read", record["id"])
            return _text(record)

        for tool in (search_memories, search_transcripts, get_call):
            self.mcp.add_tool(tool, structured_output=False)

    # ------------------------------------------------------------------ plumbing
    def _reading(self) -> AsyncSession:
        return self._database().read_session()

    async def _authorise(self, ctx: ToolContext) -> Principal:
        """The caller, if they may read transcripts; else the call fails with the reason."""
        try:
            async with self._reading() as session:
                principal = await self._principal(ctx, session)
        except ApiError as e:
            raise ToolError(str(e)) from None
        except SQLAlchemyError:
            raise ToolError(_DATABASE_DOWN) from None
        if not principal.can(Action.TRANSCRIPTS_READ):
            who = "this API key" if principal.key_id else f"the {principal.role.value} role"
            raise ToolError(f"{who} may not {Action.TRANSCRIPTS_READ.value}")
        return principal

    async def _audit(
        self,
        ctx: ToolContext,
        principal: Principal,
        what: str,
        target: str = "",
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record the read (``via: mcp``); if that fails the caller gets nothing."""
        database = self._database()
        ip = self._client_ip(ctx) if self._client_ip is not None else None
        try:
            async with AsyncExitStack() as stack:
                if database.write_lock is not None:
                    await stack.enter_async_context(database.write_lock)
                session = await stack.enter_async_context(database.session())
                bind(session, AuditContext(actor=principal.actor, org_id=principal.org_id, ip=ip))
                await audit_read(session, what, target, detail={"via": "mcp", **(detail or {})})
        except SQLAlchemyError:
            logger.warning("MCP %s by %s not audited: the database failed", what, principal.actor)
            raise ToolError(_DATABASE_DOWN) from None


def _text(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False)
