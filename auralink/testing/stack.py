"""Settings for a private local stack (own ports, keys, data folder, agent name and SIP ports).

Tests and benchmarks start the real services through :class:`auralink.cli.stack.Stack` with these,
so they never collide with a developer's running ``auralink up``. Telephony (livekit-sip) is on
when setup has built livekit-sip, so the session stack of the tests runs it too.
"""

from __future__ import annotations

__all__ = ["have_livekit_sip", "private_stack_settings"]

import random
import secrets
from pathlib import Path

from auralink.cli.services import find_tool
from auralink.core import ServiceFailed, Settings

from .ports import free_port


def have_livekit_sip() -> bool:
    """Whether setup built livekit-sip (an optional step) into ``.tools/bin`` or PATH."""
    try:
        find_tool("livekit-sip", service="sip")
    except ServiceFailed:
        return False
    return True


def private_stack_settings(
    data_dir: Path, *, agents_file: Path, idle_processes: int = 2, telephony: bool | None = None
) -> Settings:
    """``telephony`` runs livekit-sip in the stack; by default when it is built."""
    lk_port = free_port()
    udp = random.randrange(52000, 59000, 200)  # noqa: S311 - a port range, not a secret
    rtp = random.randrange(40000, 47000, 200)  # noqa: S311 - livekit-sip's RTP ports, apart from udp
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
        telephony_enabled=have_livekit_sip() if telephony is None else telephony,
        sip_port=free_port(),
        sip_rtp_port_start=rtp,
        sip_rtp_port_end=rtp + 100,
        webhook_allow_private_networks=True,  # tests run their webhook receivers on loopback
    )
