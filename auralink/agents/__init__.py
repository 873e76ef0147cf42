"""Agents: the worker, spec → AgentSession factory, provider selection, tools, text chat.

Only this package and ``auralink.mcp`` import ``livekit.agents``.
"""

from .agent import build_agent
from .providers import build_llm, build_stt, build_tts
from .session import build_session, turn_handling
from .worker import METRICS_TOPIC, resolve_spec

__all__ = [
    "METRICS_TOPIC",
    "build_agent",
    "build_llm",
    "build_session",
    "build_stt",
    "build_tts",
    "resolve_spec",
    "turn_handling",
]
