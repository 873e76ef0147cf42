"""A stdio MCP server's transport, and the process group that dies with it.

The SDK's ``stdio_client`` starts the server in a new session (its own process group), closes its
stdin on exit and kills the group if it lingers. A server that exits cleanly but leaves children
behind, or one killed from outside, would still leave those children running; so the server's pid
(its group id) is recorded through a tiny ``sh`` wrapper that ``exec``s the real command, and the
group gets SIGKILL once the transport has closed.
"""

from __future__ import annotations

__all__ = ["stdio_streams"]

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp.client._transport import TransportStreams
from mcp.client.stdio import StdioServerParameters, stdio_client

from auralink.mcp.launch import StdioLaunch

# $0 is the pid file; exec keeps the pid, so the recorded pid is the server's and its group's
_RECORD_PID = 'echo $$ > "$0" && exec "$@"'


@asynccontextmanager
async def stdio_streams(launch: StdioLaunch) -> AsyncIterator[TransportStreams]:
    """Start ``launch``'s command; on exit stop it and kill whatever is left of its process group."""
    path = os.pathsep.join(p for p in (launch.env.get("PATH"), os.environ.get("PATH")) if p)
    command = shutil.which(launch.command, path=path or None)
    if command is None:
        raise FileNotFoundError(f"{launch.command}: command not found")
    fd, pid_file = tempfile.mkstemp(prefix="auralink-mcp-", suffix=".pid")
    os.close(fd)
    params = StdioServerParameters(
        command="/bin/sh",
        args=["-c", _RECORD_PID, pid_file, command, *launch.args],
        env=dict(launch.env),
        cwd=launch.cwd,
    )
    try:
        async with stdio_client(params) as streams:
            yield streams
    finally:
        _kill_group(Path(pid_file))


def _kill_group(pid_file: Path) -> None:
    try:
        pgid = int(pid_file.read_text().strip() or 0)
    except (OSError, ValueError):
        pgid = 0
    finally:
        pid_file.unlink(missing_ok=True)
    if pgid > 1:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
