"""An agent remembers a subject across conversations, and nobody else's (`auralink chat`).

The LLM is a scripted endpoint that records what the agent sends it; embeddings come from the
real local model server (started by `auralink chat` for the agent's memory) and memories are kept
in the embedded Chroma store under a temporary data folder. Conversation 1 (Ada) states facts;
conversation 2 (Ada again) must carry them to the model, both in the instructions (the prefetched
profile, with a summary of conversation 1) and next to the user's question (per-turn recall);
conversation 3 (Bob) must not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auralink.testing.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM.serve(reply="Noted.") as scripted:
        yield scripted


def keeper_catalogue(folder: Path, llm: ScriptedLLM) -> Path:
    """agents.yaml with one agent, `keeper`: the scripted LLM, memory on."""
    catalogue = folder / "agents.yaml"
    catalogue.write_text(
        f"""\
version: 1
agents:
  - name: keeper
    instructions: You are a friendly concierge.
    llm: {{provider: openai, base_url: "{llm.base_url}", model: scripted, api_key_env: SCRIPTED_KEY}}
    memory: {{enabled: true, top_k: 3}}
""",
        encoding="utf-8",
    )
    return catalogue


def chat(catalogue: Path, data: Path, subject: str, *messages: str) -> subprocess.CompletedProcess[str]:
    """`auralink chat keeper --subject …` with ``messages``, data in ``data``."""
    argv = [
        sys.executable,
        "-m",
        "auralink",
        "chat",
        "keeper",
        "--agents",
        str(catalogue),
        "--subject",
        subject,
    ]
    for m in messages:
        argv += ["-m", m]
    env = {
        **os.environ,
        "SCRIPTED_KEY": "test",
        "AURALINK_DATA_DIR": str(data),
        "AURALINK_LOG_LEVEL": "WARNING",
    }
    env.pop("AURALINK_MODELS_URL", None)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)


def test_facts_from_one_conversation_reach_the_next_with_the_same_subject_only(
    llm: ScriptedLLM, tmp_path: Path
) -> None:
    catalogue = keeper_catalogue(tmp_path, llm)
    data = tmp_path / "data"

    first = chat(
        catalogue, data, "identity:ada", "Hi, my name is Ada.", "I love green tea and I hate coffee."
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "green tea" not in llm.texts(0)  # nothing known yet

    before = len(llm.requests)
    second = chat(catalogue, data, "identity:ada", "What should I drink this afternoon?")
    assert second.returncode == 0, second.stderr[-3000:]
    seen = llm.texts(before)
    assert "green tea" in seen and "Ada" in seen, seen
    # and the first conversation's dated summary is in the profile the agent starts with
    assert "Conversation on 20" in seen and "I love green tea and I hate coffee." in seen, seen
    system_notes = [
        m["content"]
        for m in llm.requests[before]["messages"]
        if m.get("role") == "system" and "relevant to what was just said" in str(m.get("content"))
    ]
    assert system_notes and "green tea" in str(system_notes), llm.requests[before]["messages"]

    before = len(llm.requests)
    third = chat(catalogue, data, "identity:bob", "What should I drink this afternoon?")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "green tea" not in llm.texts(before) and "Ada" not in llm.texts(before)
