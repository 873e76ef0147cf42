"""``auralink chat``: a text conversation with an agent in the terminal, no LiveKit needed.

It runs the same Agent, tools and LLM as a call (an ``AgentSession`` without room I/O). When the
agent uses the local LLM and no model server is reachable, it starts one (LLM only) for the
length of the chat.
"""

from __future__ import annotations

__all__ = ["run_chat"]

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from livekit.agents.voice.run_result import (
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    RunResult,
)

from auralink.core import AgentSpec, ServiceFailed, Settings, UnknownAgent, load_catalogue
from auralink.core.spec import LocalLLM
from auralink.mcp import MCPServerToolset, start_toolsets

from .agent import build_agent
from .session import build_session


def run_chat(
    settings: Settings, *, agent: str | None, agents_file: Path | None, messages: list[str] | None
) -> int:
    catalogue = load_catalogue(agents_file or settings.agents_file)
    name = agent or settings.default_agent
    spec = catalogue.get(name)
    if spec is None:
        raise UnknownAgent(name, catalogue.names)
    with _model_server_for(spec, settings) as effective:
        return asyncio.run(_chat(spec, effective, messages))


async def _chat(spec: AgentSpec, settings: Settings, messages: list[str] | None) -> int:
    toolsets = await start_toolsets(spec.mcp, data_dir=settings.data_dir) if spec.mcp else []
    try:
        return await _converse(spec, settings, messages, toolsets)
    finally:
        for toolset in toolsets:
            await toolset.aclose()


async def _converse(
    spec: AgentSpec, settings: Settings, messages: list[str] | None, toolsets: list[MCPServerToolset]
) -> int:
    session = build_session(spec, settings=settings, vad_model=None, text_only=True, tools=toolsets)
    async with session:
        await session.start(agent=build_agent(spec))
        if spec.greeting:
            print(f"{spec.name}> {spec.greeting}")
        scripted = list(messages) if messages is not None else None
        while True:
            if scripted is not None:
                if not scripted:
                    return 0
                text = scripted.pop(0)
                print(f"you> {text}")
            else:
                try:
                    text = await asyncio.to_thread(input, "you> ")
                except EOFError:
                    print()
                    return 0
            if text.strip() in {"/quit", "/exit"}:
                return 0
            if not text.strip():
                continue
            result: RunResult[None] = await session.run(user_input=text)
            for ev in result.events:
                if isinstance(ev, FunctionCallEvent):
                    print(f"  [tool] {ev.item.name}({ev.item.arguments})")
                elif isinstance(ev, FunctionCallOutputEvent):
                    print(f"  [tool result] {ev.item.output}")
                elif isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant":
                    print(f"{spec.name}> {ev.item.text_content or ''}")


@contextlib.contextmanager
def _model_server_for(spec: AgentSpec, settings: Settings) -> Iterator[Settings]:
    """Yield settings whose model server is reachable, starting an LLM-only one if needed."""
    if not isinstance(spec.llm, LocalLLM) or spec.langgraph or _healthy(settings.models_base_url):
        yield settings
        return
    port = _free_port()
    env = dict(os.environ, AURALINK_MODELS_PORT=str(port), AURALINK_MODELS_URL="")
    print(f"(starting the local model server on port {port} for this chat…)", file=sys.stderr)
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", "llm", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-800:] if proc.stderr else ""
                raise ServiceFailed("model server", f"exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise ServiceFailed("model server", "not healthy after 120 s")
            time.sleep(0.3)
        yield settings.model_copy(update={"models_url": url})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(base_url.removesuffix("/v1") + "/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
