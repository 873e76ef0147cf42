"""Build the livekit ``Agent`` for an AgentSpec: the plain agent, or a bot builder's own class."""

from __future__ import annotations

__all__ = ["build_agent", "load_graph"]

import importlib
from typing import Any

from livekit.agents import Agent

from auralink.core import AgentSpec, ConfigError

from .meeting.stage import ModerationStage
from .memory import ConversationMemory, with_memory
from .memory_tools import memory_tools
from .moderated import with_moderation
from .tools import build_tools


def build_agent(
    spec: AgentSpec,
    *,
    memory: ConversationMemory | None = None,
    known: str = "",
    moderation: ModerationStage | None = None,
) -> Agent:
    """An ``Agent`` with the spec's instructions and tools.

    With ``class: module:Class`` the bot builder's ``Agent`` subclass is used; it is constructed
    with ``instructions=`` and ``tools=`` keywords and keeps its own ``@function_tool`` methods.
    With ``memory`` the class recalls memories on every user turn (:mod:`.memory`), ``known``
    (the prefetched profile) is added to the instructions, and the agent gets the ``remember``,
    ``recall`` and ``forget`` tools (:mod:`.memory_tools`). With ``moderation`` each user turn is
    screened first, before memory and the LLM see it (:mod:`.moderated`).
    """
    tools = build_tools(spec.tools)
    instructions = f"{spec.instructions}\n\n{known}" if known else spec.instructions
    cls: type[Agent] = Agent
    if spec.agent_class is not None:
        found = _import(spec.agent_class, field="class")
        if not (isinstance(found, type) and issubclass(found, Agent)):
            raise ConfigError(f"class: {spec.agent_class!r} is not a livekit.agents.Agent subclass")
        cls = found
    if memory is not None:
        cls = with_memory(cls)
        # remember / recall / forget, unless the spec or the class already has a tool of that name
        taken = {_tool_name(t) for t in tools} | set(dir(cls))
        tools += [t for t in memory_tools(memory) if t.info.name not in taken]
    if moderation is not None:
        cls = with_moderation(cls)  # outermost: memory and the LLM get the redacted turn
    try:
        agent = cls(instructions=instructions, tools=tools)
    except TypeError as e:
        raise ConfigError(
            f"class: {spec.agent_class} must accept instructions= and tools= keyword arguments ({e})"
        ) from None
    if memory is not None:
        agent.auralink_memory = memory  # type: ignore[attr-defined]
    if moderation is not None:
        agent.auralink_moderation = moderation  # type: ignore[attr-defined]
    return agent


def _tool_name(tool: Any) -> str:
    info = getattr(tool, "info", None)
    return str(getattr(info, "name", "") or getattr(tool, "__name__", ""))


def load_graph(ref: str) -> Any:
    """Call the ``module:factory`` named by ``langgraph:`` and return its compiled graph."""
    factory = _import(ref, field="langgraph")
    if not callable(factory):
        raise ConfigError(f"langgraph: {ref!r} is not callable")
    graph = factory()
    if not hasattr(graph, "astream"):
        raise ConfigError(f"langgraph: {ref!r} did not return a compiled LangGraph graph")
    return graph


def _import(ref: str, *, field: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{field}: cannot import {ref!r}: {e}") from None
