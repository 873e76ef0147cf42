"""``auralink mcp serve``: AuraLink's own MCP server on stdio (see docs/mcp.md).

An MCP client (Claude Desktop, an IDE, another AuraLink agent) starts this command and speaks
MCP over its stdin/stdout; the tools act for the API key in ``AURALINK_API_KEY`` against the
database in ``AURALINK_DATABASE_URL``. Nothing but the protocol is written to stdout.
"""

from __future__ import annotations

__all__ = ["serve"]

from auralink.core import Settings


def serve(settings: Settings) -> int:
    from auralink.api.mcp_server import serve_stdio

    return serve_stdio(settings)
