"""MCP connectors: agents.yaml ``mcp:`` entries turned into supervised servers and agent tools.

    launch_for(spec)        spec (+ preset, + secrets from env) -> StdioLaunch | HttpLaunch
    MCPConnector            one server: start, allowed tools, call_tool that never raises for a
                            dead or hung server, restart with capped exponential backoff, aclose
    start_toolsets(specs)   livekit-agents Toolsets for an Agent; servers that fail are skipped

Only this package and ``auralink.agents`` import ``livekit.agents``.
"""

from __future__ import annotations

__all__ = [
    "PRESETS",
    "Backoff",
    "HttpLaunch",
    "Launch",
    "MCPConnector",
    "MCPServerToolset",
    "StdioLaunch",
    "ToolOutcome",
    "ToolPolicy",
    "default_servers_dir",
    "launch_for",
    "start_toolsets",
]

from auralink.mcp.backoff import Backoff
from auralink.mcp.connector import MCPConnector, ToolOutcome
from auralink.mcp.launch import HttpLaunch, Launch, StdioLaunch, launch_for
from auralink.mcp.policy import ToolPolicy
from auralink.mcp.presets import PRESETS, default_servers_dir
from auralink.mcp.toolset import MCPServerToolset, start_toolsets
