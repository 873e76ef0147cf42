"""A scripted OpenAI-compatible chat endpoint for tests: it records every request it gets and
streams back either a tool call or a fixed sentence, so agent logic around the LLM (tools,
memory, context) can be tested without a model deciding anything.

    with ScriptedLLM.serve(reply="Noted.", tool_call=("create_entities", {...})) as llm:
        ... agents.yaml: llm: {provider: openai, base_url: <llm.base_url>, ...}
        llm.requests  # the JSON bodies the agent sent
"""

from __future__ import annotations

__all__ = ["ScriptedLLM"]

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from .ports import free_port


class ScriptedLLM:
    """``/v1/chat/completions``: a tool call first (if given, until a tool answered), then ``reply``."""

    def __init__(self, *, reply: str, tool_call: tuple[str, dict[str, Any]] | None = None) -> None:
        self.reply = reply
        self.tool_call = tool_call
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""

    @classmethod
    @contextmanager
    def serve(
        cls, *, reply: str, tool_call: tuple[str, dict[str, Any]] | None = None
    ) -> Iterator[ScriptedLLM]:
        """Run it on a free loopback port, in a thread of its own, for the ``with`` block."""
        llm = cls(reply=reply, tool_call=tool_call)
        port = free_port()
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", llm._completions)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        thread = threading.Thread(target=loop.run_forever, name="scripted-llm", daemon=True)
        thread.start()
        llm.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            yield llm
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.run_until_complete(runner.cleanup())
            loop.close()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        answered = any(m.get("role") == "tool" for m in body.get("messages", []))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model", "scripted"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if self.tool_call is not None and not answered:
            name, arguments = self.tool_call
            call = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            await send({"role": "assistant", "tool_calls": [call]})
            await send({}, "tool_calls")
        else:
            await send({"role": "assistant", "content": self.reply})
            await send({}, "stop")
        await response.write(b"data: [DONE]\n\n")
        return response

    def texts(self, index: int = -1) -> str:
        """Everything request ``index`` carried in its messages, as one string (for assertions)."""
        return json.dumps(self.requests[index].get("messages", []))
