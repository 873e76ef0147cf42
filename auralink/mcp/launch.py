"""From an ``MCPServerSpec`` to what starts or reaches the server: a command line or a URL.

Presets are filled in here; header secrets are read from the environment variables the spec
names, and a missing one is a ``MissingCredential`` naming the variable. Secret values never
appear in a repr or a log line.
"""

from __future__ import annotations

__all__ = ["HttpLaunch", "Launch", "StdioLaunch", "launch_for"]

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from auralink.core.errors import ConfigError, MissingCredential
from auralink.core.spec import MCPServerSpec
from auralink.mcp.presets import PRESETS, NpmPreset, RemotePreset, default_servers_dir, npm_server_command


@dataclass(frozen=True, slots=True)
class StdioLaunch:
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: Path | None = None


@dataclass(frozen=True, slots=True)
class HttpLaunch:
    url: str
    transport: Literal["http", "sse"] = "http"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


Launch = StdioLaunch | HttpLaunch


def launch_for(
    spec: MCPServerSpec,
    *,
    data_dir: Path,
    servers_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Launch:
    """How to start or reach ``spec``'s server. Raises ConfigError (MissingCredential for a secret)."""
    env = os.environ if environ is None else environ
    if spec.transport == "stdio":
        return _stdio(spec, data_dir=data_dir, servers_dir=servers_dir or default_servers_dir())
    preset = PRESETS.get(spec.preset) if spec.preset else None
    url = spec.url or (preset.url if isinstance(preset, RemotePreset) else None)
    if not url:
        raise ConfigError(f"MCP server {spec.name!r}: a {spec.transport} server needs `url`")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"MCP server {spec.name!r}: `url` must start with http:// or https://")
    headers: dict[str, str] = {}
    for header, var in spec.headers_env.items():
        headers[header] = _secret(env, var, what=f"MCP server {spec.name!r} (header {header})")
    if spec.bearer_token_env:
        token = _secret(env, spec.bearer_token_env, what=f"MCP server {spec.name!r}")
        headers["Authorization"] = f"Bearer {token}"
    transport: Literal["http", "sse"] = "sse" if spec.transport == "sse" else "http"
    return HttpLaunch(url=url, transport=transport, headers=headers)


def _stdio(spec: MCPServerSpec, *, data_dir: Path, servers_dir: Path) -> StdioLaunch:
    preset = PRESETS.get(spec.preset) if spec.preset else None
    env = dict(spec.env)
    if isinstance(preset, NpmPreset):
        command, args = npm_server_command(preset, servers_dir=servers_dir)
        if preset.memory_file and "MEMORY_FILE_PATH" not in env:
            # the server's own default is inside node_modules, which `npm ci` wipes
            folder = data_dir / "mcp"
            folder.mkdir(parents=True, exist_ok=True)
            env["MEMORY_FILE_PATH"] = str((folder / f"{spec.name}.jsonl").absolute())
        extra = (
            [str(Path(a).expanduser().absolute()) for a in spec.args]
            if spec.preset == "filesystem"
            else spec.args
        )
        if spec.preset == "filesystem":
            missing = [a for a in extra if not Path(a).is_dir()]
            if missing:
                raise ConfigError(f"MCP server {spec.name!r}: not a folder: {', '.join(missing)}")
        return StdioLaunch(command=command, args=(*args, *extra), env=env)
    if not spec.command:
        raise ConfigError(f"MCP server {spec.name!r}: a stdio server needs `command`")
    return StdioLaunch(command=spec.command, args=tuple(spec.args), env=env)


def _secret(environ: Mapping[str, str], var: str, *, what: str) -> str:
    value = environ.get(var)
    if not value:
        raise MissingCredential(var, what=what)
    return value
