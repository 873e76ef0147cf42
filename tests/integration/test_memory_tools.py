"""The `remember` tool through `auralink chat`: the model calls it, the fact is in the store.

The LLM is a scripted endpoint that calls ``remember`` once per conversation and then replies;
embeddings come from the real local model server (started by `auralink chat`) and memories are
kept in the embedded Chroma store under a temporary data folder. The same fact remembered in a
second conversation updates the stored one instead of adding another, and reaches the model in
that conversation's instructions.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from auralink.agents.memory import LOCAL_ORG
from auralink.memory import ChromaMemoryStore, Embedder, MemoryRecord
from auralink.testing.scripted_llm import ScriptedLLM
from tests.integration.test_agent_memory import chat, keeper_catalogue

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FACT = "My favourite colour is teal."


class _NoEmbedder(Embedder):
    """Reading the store back needs no embeddings."""

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("not used")


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM.serve(reply="I will keep that in mind.", tool_call=("remember", {"fact": FACT})) as s:
        yield s


def _chat(catalogue: Path, data: Path, message: str) -> subprocess.CompletedProcess[str]:
    return chat(catalogue, data, "identity:ada", message)


def _stored(data: Path) -> list[MemoryRecord]:
    async def read() -> list[MemoryRecord]:
        store = ChromaMemoryStore.embedded(data / "memory", embedder=_NoEmbedder())
        try:
            return await store.export(LOCAL_ORG, "identity:ada")
        finally:
            await store.aclose()

    return asyncio.run(read())


def test_the_model_remembers_a_fact_with_the_remember_tool(llm: ScriptedLLM, tmp_path: Path) -> None:
    catalogue = keeper_catalogue(tmp_path, llm)
    data = tmp_path / "data"

    first = _chat(catalogue, data, "Please keep a note of the colour I like.")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "[tool] remember" in first.stdout and f"Remembered: {FACT}" in first.stdout, first.stdout
    tools = {t["function"]["name"] for t in llm.requests[0].get("tools", [])}
    assert {"remember", "recall", "forget"} <= tools, tools
    facts = [r for r in _stored(data) if r.kind in ("fact", "preference")]
    assert [(r.kind, r.text, r.agent) for r in facts] == [("fact", FACT, "keeper")]
    # the conversation also leaves its dated summary (not a fact: the next call's profile shows it)
    assert [r.kind for r in _stored(data) if r.kind == "summary"] == ["summary"]

    before = len(llm.requests)
    second = _chat(catalogue, data, "Note the colour again, please.")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "teal" in llm.texts(before)  # the prefetched profile, in the instructions
    facts = [r for r in _stored(data) if r.kind in ("fact", "preference")]
    assert [r.text for r in facts] == [FACT]  # updated in place, not added twice
