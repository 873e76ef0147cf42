"""AuraLink's own MCP server: memories, call transcripts and summaries for any MCP client.

- :mod:`.knowledge`: the organisation-bound queries behind the tools;
- :mod:`.server`: :class:`KnowledgeServer`, the three tools, their permission check and audit;
- :mod:`.http`: the streamable-HTTP endpoint at ``/mcp`` in the API, behind API-key auth;
- :mod:`.stdio`: ``auralink mcp serve``, the same server over stdio with ``AURALINK_API_KEY``.

It lives in the API package because it reads the API's database (``auralink.mcp`` may not
import ``auralink.api``). See docs/mcp.md, "AuraLink as an MCP server".
"""

from .http import MCP_PATH, McpEndpoint, mount_mcp
from .server import KnowledgeServer, MemoryFactory, PrincipalSource
from .stdio import serve_stdio

__all__ = [
    "MCP_PATH",
    "KnowledgeServer",
    "McpEndpoint",
    "MemoryFactory",
    "PrincipalSource",
    "mount_mcp",
    "serve_stdio",
]
