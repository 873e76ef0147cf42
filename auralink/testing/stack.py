"""Settings for a private local stack (own ports, keys, data folder and agent name).

Tests and benchmarks start the real services through :class:`auralink.cli.stack.Stack` with these,
so they never collide with a developer's running ``auralink up``.
"""

from __future__ import annotations

__all__ = ["private_stack_settings"]

import random
import secrets
from pathlib import Path

from auralink.core import Settings

from .ports import free_port


def private_stack_settings(data_dir: Path, *, agents_file: Path, idle_processes: int = 2) -> Settings:
    lk_port = free_port()
    udp = random.randrange(52000, 59000, 200)  # noqa: S311 - a port range, not a secret
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        agents_file=agents_file,
        livekit_url=f"ws://127.0.0.1:{lk_port}",
        livekit_api_key="ALtest" + secrets.token_hex(4),
        livekit_api_secret=secrets.token_urlsafe(32),
        livekit_port=lk_port,
        livekit_rtc_tcp_port=free_port(),
        livekit_udp_port_start=udp,
        livekit_udp_port_end=udp + 150,
        redis_port=free_port(),
        models_port=free_port(),
        chroma_port=free_port(),
        piper_port=free_port(),
        api_port=free_port(),
        worker_port=free_port(),
        worker_agent_name="auralink-test-" + secrets.token_hex(3),
        worker_idle_processes=idle_processes,
    )
