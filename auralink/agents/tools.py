"""Function tools an agent can be given from agents.yaml: built-ins by name, or Python by import path."""

from __future__ import annotations

__all__ = ["build_tools"]

import datetime as dt
import importlib
import logging
from typing import Any

from livekit.agents import FunctionTool, RunContext, function_tool, get_job_context

from auralink.core import ConfigError
from auralink.core.spec import ToolSpec

from .phone import call_line

logger = logging.getLogger("auralink.agents")


@function_tool
async def current_time() -> str:
    """Return the current date and time (UTC), for questions about today's date or the time."""
    return dt.datetime.now(dt.UTC).strftime("%A %d %B %Y, %H:%M UTC")


@function_tool
async def end_call(context: RunContext[Any]) -> str:
    """End the conversation when the user says goodbye or asks to hang up."""
    await context.wait_for_playout()
    try:
        job = get_job_context()
    except RuntimeError:  # text chat: no room to leave
        return "The conversation is over."
    if any(call_line(p) is not None for p in job.room.remote_participants.values()):
        # a phone line stays up until its room goes: delete it, every leg hangs up
        try:
            await job.delete_room()
        except Exception as e:  # the job still ends; livekit-server closes the empty room later
            logger.warning("end_call: deleting room %s failed: %s", job.room.name, type(e).__name__)
    job.shutdown(reason="agent ended the call")
    return "Call ended."


_BUILTINS: dict[str, Any] = {"current_time": current_time, "end_call": end_call}


def build_tools(specs: list[ToolSpec]) -> list[Any]:
    """Resolve tool entries; an import problem names the entry and what is wrong."""
    tools: list[Any] = []
    for i, spec in enumerate(specs):
        if spec.builtin is not None:
            tools.append(_BUILTINS[spec.builtin])
            continue
        assert spec.python is not None
        module_name, _, attr = spec.python.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"tools[{i}].python: cannot import {spec.python!r}: {e}") from None
        if not callable(obj):
            raise ConfigError(f"tools[{i}].python: {spec.python!r} is not a function")
        # a plain function becomes a tool; its docstring is the description the LLM sees
        tools.append(obj if _is_tool(obj) else function_tool(obj))
    return tools


def _is_tool(obj: Any) -> bool:
    return isinstance(obj, FunctionTool) or hasattr(obj, "__livekit_tool_info")
