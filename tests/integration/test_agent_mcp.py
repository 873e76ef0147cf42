"""An agent calls a tool of a real MCP server: `auralink chat` with the `memory` preset.

The LLM is a scripted OpenAI-compatible endpoint in the test (the small local model does not
call tools reliably): its first answer is a ``create_entities`` call, its second a sentence.
The tool call goes through livekit-agents' tool execution to the npm knowledge-graph server
that setup installed, which writes the entity to its file under the data folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit.agents.voice.run_result import ChatMessageEvent, FunctionCallOutputEvent

from auralink.agents.agent import build_agent
from auralink.agents.session import build_session
from auralink.core import AgentSpec, Settings
from auralink.mcp import start_toolsets
from auralink.testing.scripted_llm import ScriptedLLM
from tests.integration.test_mcp_servers import _servers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

ENTITY = {"name": "Ada", "entityType": "person", "observations": ["likes green tea"]}


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedLLM]:
    reply = "I saved that Ada likes green tea."
    with ScriptedLLM.serve(reply=reply, tool_call=("create_entities", {"entities": [ENTITY]})) as llm:
        yield llm


def test_an_agent_stores_a_fact_through_the_memory_mcp_server(
    scripted_llm: ScriptedLLM, tmp_path: Path
) -> None:
    llm = scripted_llm
    base_url = llm.base_url
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


async def test_a_killed_mcp_server_leaves_the_conversation_going(
    scripted_llm: ScriptedLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the server before the agent's tool call: the call answers "unavailable" to the
    model, the model's reply still comes, and the session goes on."""
    monkeypatch.setenv("SCRIPTED_KEY", "test")
    spec = AgentSpec.model_validate(
        {
            "name": "keeper",
            "instructions": "You remember what people tell you.",
            "llm": {
                "provider": "openai",
                "base_url": scripted_llm.base_url,
                "model": "x",
                "api_key_env": "SCRIPTED_KEY",
            },
            "mcp": [{"name": "notes", "preset": "memory", "allow": ["create_entities", "search_nodes"]}],
        }
    )
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    before = set(_servers())
    toolsets = await start_toolsets(spec.mcp, data_dir=settings.data_dir)
    try:
        assert len(toolsets) == 1
        (server,) = set(_servers()) - before
        os.kill(server, signal.SIGKILL)
        session = build_session(spec, settings=settings, vad_model=None, text_only=True, tools=toolsets)
        async with session:
            await session.start(agent=build_agent(spec))
            result = await session.run(user_input="Ada likes green tea.")
            outputs = [ev.item.output for ev in result.events if isinstance(ev, FunctionCallOutputEvent)]
            replies = [ev.item.text_content for ev in result.events if isinstance(ev, ChatMessageEvent)]
            assert outputs and "unavailable" in outputs[0], outputs
            assert replies == ["I saved that Ada likes green tea."]
            again = await session.run(user_input="Thanks!")  # the conversation goes on
            assert any(isinstance(ev, ChatMessageEvent) for ev in again.events)
    finally:
        for toolset in toolsets:
            await toolset.aclose()
