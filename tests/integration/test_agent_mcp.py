"""An agent calls a tool of a real MCP server: `auralink chat` with the `memory` preset.

The LLM is a scripted OpenAI-compatible endpoint in the test (the small local model does not
call tools reliably): its first answer is a ``create_entities`` call, its second a sentence.
The tool call goes through livekit-agents' tool execution to the npm knowledge-graph server
that setup installed, which writes the entity to its file under the data folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from auralink.testing.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

ENTITY = {"name": "Ada", "entityType": "person", "observations": ["likes green tea"]}


class ScriptedLLM:
    """/v1/chat/completions that streams a tool call first, then text once the tool answered."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        answered = any(m.get("role") == "tool" for m in body.get("messages", []))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model", "scripted"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if answered:
            await send({"role": "assistant", "content": "I saved that Ada likes green tea."})
            await send({}, "stop")
        else:
            call = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "create_entities", "arguments": json.dumps({"entities": [ENTITY]})},
            }
            await send({"role": "assistant", "tool_calls": [call]})
            await send({}, "tool_calls")
        await response.write(b"data: [DONE]\n\n")
        return response


@pytest.fixture
def scripted_llm() -> Iterator[tuple[str, ScriptedLLM]]:
    llm = ScriptedLLM()
    port = free_port()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", llm.completions)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1", llm
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_an_agent_stores_a_fact_through_the_memory_mcp_server(
    scripted_llm: tuple[str, ScriptedLLM], tmp_path: Path
) -> None:
    base_url, llm = scripted_llm
    catalogue = tmp_path / "agents.yaml"
    catalogue.write_text(
        f"""\
version: 1
agents:
  - name: keeper
    instructions: You remember what people tell you.
    llm: {{provider: openai, base_url: "{base_url}", model: scripted, api_key_env: SCRIPTED_KEY}}
    mcp:
      - name: notes
        preset: memory
        allow: [create_entities, search_nodes]
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "SCRIPTED_KEY": "test",
        "AURALINK_DATA_DIR": str(tmp_path / "data"),
        "AURALINK_LOG_LEVEL": "WARNING",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "auralink",
            "chat",
            "keeper",
            "--agents",
            str(catalogue),
            "-m",
            "Ada likes green tea.",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[tool] create_entities(" in out.stdout, out.stdout
    assert "keeper> I saved that Ada likes green tea." in out.stdout, out.stdout

    # the model was offered only the allowed tools of the server
    offered = {t["function"]["name"] for t in llm.requests[0].get("tools", [])}
    assert {"create_entities", "search_nodes"} <= offered and "delete_entities" not in offered
    # the tool's answer went back to the model, and the server stored the entity in its file
    tool_messages = [m for m in llm.requests[-1]["messages"] if m.get("role") == "tool"]
    assert tool_messages and "Ada" in json.dumps(tool_messages)
    stored = (tmp_path / "data" / "mcp" / "notes.jsonl").read_text(encoding="utf-8")
    assert "Ada" in stored and "likes green tea" in stored
