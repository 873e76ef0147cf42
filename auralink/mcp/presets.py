"""The MCP presets: what ``preset: memory`` (and the others) in agents.yaml start or reach.

The npm servers (memory, sequential-thinking, filesystem) are installed by ``scripts/setup.sh``
into ``mcp-servers/node_modules`` with ``npm ci`` and started with ``node`` over stdio; nothing is
fetched at run time. DeepWiki and Supabase are remote streamable-HTTP servers.
"""

from __future__ import annotations

__all__ = [
    "PRESETS",
    "NpmPreset",
    "RemotePreset",
    "default_servers_dir",
    "npm_server_command",
]

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from auralink.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class NpmPreset:
    """A server from npm, started as ``node <its bin script> <args>``."""

    package: str
    bin_name: str
    deny: frozenset[str] = field(default_factory=frozenset)
    """Tools refused unless the spec's ``allow`` names them (the filesystem preset is read-only)."""
    memory_file: bool = False
    """Whether the server keeps a file given by MEMORY_FILE_PATH (defaulted into the data dir)."""


@dataclass(frozen=True, slots=True)
class RemotePreset:
    """A remote streamable-HTTP server; the spec may override the URL."""

    url: str


PRESETS: dict[str, NpmPreset | RemotePreset] = {
    "memory": NpmPreset(
        package="@modelcontextprotocol/server-memory", bin_name="mcp-server-memory", memory_file=True
    ),
    "sequential-thinking": NpmPreset(
        package="@modelcontextprotocol/server-sequential-thinking",
        bin_name="mcp-server-sequential-thinking",
    ),
    "filesystem": NpmPreset(
        package="@modelcontextprotocol/server-filesystem",
        bin_name="mcp-server-filesystem",
        deny=frozenset({"write_file", "edit_file", "create_directory", "move_file"}),
    ),
    "deepwiki": RemotePreset(url="https://mcp.deepwiki.com/mcp"),
    "supabase": RemotePreset(url="https://mcp.supabase.com/mcp"),
}


def default_servers_dir() -> Path:
    """``mcp-servers/`` at the root of this checkout, where setup runs ``npm ci``."""
    return Path(__file__).resolve().parents[2] / "mcp-servers"


def npm_server_command(preset: NpmPreset, *, servers_dir: Path) -> tuple[str, list[str]]:
    """``(node, [script])`` for an installed npm server; ConfigError naming the fix otherwise."""
    node = shutil.which("node")
    if node is None:
        raise ConfigError(f"the {preset.package} MCP server needs Node.js (`node` is not on PATH)")
    package_dir = servers_dir / "node_modules" / preset.package
    manifest = package_dir / "package.json"
    try:
        bins = json.loads(manifest.read_text())["bin"]
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(
            f"the MCP server {preset.package} is not installed in {servers_dir} (run scripts/setup.sh)"
        ) from e
    script = bins.get(preset.bin_name) if isinstance(bins, dict) else bins
    if not isinstance(script, str) or not (package_dir / script).is_file():
        raise ConfigError(f"{manifest} names no runnable `{preset.bin_name}` (run scripts/setup.sh again)")
    return node, [str((package_dir / script).resolve())]
