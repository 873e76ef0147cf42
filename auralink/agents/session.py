"""Assemble an ``AgentSession`` for an AgentSpec: providers, VAD and local turn handling.

Turn detection is always explicit and local (livekit-agents' default turn detector would call
LiveKit's cloud in dev mode); interruptions use VAD, not the hosted adaptive model.
"""

from __future__ import annotations

__all__ = ["build_session", "turn_handling"]

from collections.abc import Sequence
from typing import Any

from livekit.agents import AgentSession, llm, vad
from livekit.agents.voice.turn import TurnHandlingOptions

from auralink.core import AgentSpec, Settings

from .agent import load_graph
from .providers import build_llm, build_stt, build_tts


def turn_handling(spec: AgentSpec) -> TurnHandlingOptions:
    detection: Any
    if spec.turn.detection == "eot":
        from livekit.agents.inference import TurnDetector

        detection = TurnDetector(version="v1-mini")  # on-device model, never the cloud v1
    else:
        detection = spec.turn.detection
    return TurnHandlingOptions(
        turn_detection=detection,
        endpointing={
            "mode": "fixed",
            "min_delay": spec.turn.min_endpointing_delay,
            "max_delay": spec.turn.max_endpointing_delay,
        },
        interruption={
            "enabled": spec.interruptions.enabled,
            "mode": "vad",
            "min_duration": spec.interruptions.min_duration,
            "min_words": spec.interruptions.min_words,
            "resume_false_interruption": spec.interruptions.resume_false_interruption,
        },
        preemptive_generation={"enabled": spec.turn.preemptive_generation},
    )


def build_brain(spec: AgentSpec, *, settings: Settings) -> llm.LLM[Any]:
    if spec.langgraph:
        from livekit.plugins import langchain

        return langchain.LLMAdapter(load_graph(spec.langgraph))
    return build_llm(spec.llm, settings=settings)


def build_session(
    spec: AgentSpec,
    *,
    settings: Settings,
    vad_model: vad.VAD | None,
    text_only: bool = False,
    tools: Sequence[Any] = (),
) -> AgentSession[Any]:
    """An AgentSession for ``spec``; ``text_only`` leaves out speech (for ``auralink chat``).

    ``tools`` are session-wide (the MCP toolsets from :func:`auralink.mcp.start_toolsets`), so
    they live for the whole call, not one agent's turn at the microphone."""
    if text_only:
        return AgentSession(
            llm=build_brain(spec, settings=settings),
            turn_handling=TurnHandlingOptions(turn_detection="manual"),
            tools=list(tools),
        )
    return AgentSession(
        stt=build_stt(spec.stt, settings=settings, language=spec.language),
        llm=build_brain(spec, settings=settings),
        tts=build_tts(spec.tts, settings=settings),
        vad=vad_model,
        turn_handling=turn_handling(spec),
        user_away_timeout=None,
        tools=list(tools),
    )
