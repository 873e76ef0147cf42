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
from livekit.agents import Agent
from livekit.agents.voice.run_result import (
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    RunResult,
)

from auralink.core import AgentSpec, ConfigError, ServiceFailed, Settings, UnknownAgent, load_catalogue
from auralink.core.spec import LocalLLM
from auralink.mcp import MCPServerToolset, start_toolsets
from auralink.memory import MemoryService, Subject

from .agent import build_agent
from .memory import LOCAL_ORG, ConversationMemory
from .session import build_session


def run_chat(
    settings: Settings,
    *,
    agent: str | None,
    agents_file: Path | None,
    messages: list[str] | None,
    subject: str | None = None,
) -> int:
    catalogue = load_catalogue(agents_file or settings.agents_file)
    name = agent or settings.default_agent
    spec = catalogue.get(name)
    if spec is None:
        raise UnknownAgent(name, catalogue.names)
    with _model_server_for(spec, settings) as effective:
        return asyncio.run(_chat(spec, effective, messages, _subject(spec, subject)))


def _subject(spec: AgentSpec, given: str | None) -> Subject | None:
    if not spec.memory.enabled:
        return None
    if given is None:
        print("(memory is on for this agent; pass --subject identity:<you> to use it)", file=sys.stderr)
        return None
    try:
        return Subject.parse(given)
    except ValueError as e:
        raise ConfigError(f"--subject: {e}") from None


async def _chat(
    spec: AgentSpec, settings: Settings, messages: list[str] | None, subject: Subject | None
) -> int:
    toolsets = await start_toolsets(spec.mcp, data_dir=settings.data_dir) if spec.mcp else []
    service = MemoryService.from_settings(settings) if subject is not None else None
    memory = None
    if service is not None and subject is not None:
        conversation = f"chat-{int(time.time())}"
        memory = ConversationMemory(
            service=service, spec=spec, org_id=LOCAL_ORG, subject=subject, conversation=conversation
        )
    try:
        return await _converse(spec, settings, messages, toolsets, memory)
    finally:
        if memory is not None and service is not None:
            await memory.finish()
            await service.aclose()
        for toolset in toolsets:
            await toolset.aclose()


async def _converse(
    spec: AgentSpec,
    settings: Settings,
    messages: list[str] | None,
    toolsets: list[MCPServerToolset],
    memory: ConversationMemory | None,
) -> int:
    known = await memory.start() if memory is not None else ""
    session = build_session(spec, settings=settings, vad_model=None, text_only=True, tools=toolsets)
    async with session:
        agent = build_agent(spec, memory=memory, known=known)
        await session.start(agent=agent)
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
            if memory is not None:  # typed turns skip on_user_turn_completed: remember and recall here
                await _recall_into(agent, memory, text)
            _print_events(spec, await session.run(user_input=text))


def _print_events(spec: AgentSpec, result: RunResult[None]) -> None:
    for ev in result.events:
        if isinstance(ev, FunctionCallEvent):
            print(f"  [tool] {ev.item.name}({ev.item.arguments})")
        elif isinstance(ev, FunctionCallOutputEvent):
            print(f"  [tool result] {ev.item.output}")
        elif isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant":
            print(f"{spec.name}> {ev.item.text_content or ''}")


async def _recall_into(agent: Agent, memory: ConversationMemory, text: str) -> None:
    memory.record_user_turn(text)
    note = await memory.context_for(text)
    if note:
        ctx = agent.chat_ctx.copy()
        ctx.add_message(role="system", content=note)
        await agent.update_chat_ctx(ctx)


@contextlib.contextmanager
def _model_server_for(spec: AgentSpec, settings: Settings) -> Iterator[Settings]:
    """Yield settings whose model server is reachable, starting one (LLM and/or embeddings for
    memory) if needed."""
    needed = []
    if isinstance(spec.llm, LocalLLM) and not spec.langgraph:
        needed.append("llm")
    if spec.memory.enabled and not settings.memory_embeddings_url:
        needed.append("embeddings")
    if not needed or _healthy(settings.models_base_url):
        yield settings
        return
    port = _free_port()
    env = dict(os.environ, AURALINK_MODELS_PORT=str(port), AURALINK_MODELS_URL="")
    print(f"(starting the local model server on port {port} for this chat…)", file=sys.stderr)
    only = ",".join(needed)
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", only, "--port", str(port)],
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
