"""The remember / recall / forget tools, called directly, over a real embedded Chroma store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit.agents import FunctionTool

from auralink.agents import build_agent
from auralink.agents.memory import ConversationMemory
from auralink.agents.memory_tools import memory_tools
from auralink.core import AgentSpec
from auralink.memory import ChromaMemoryStore, Embedder, MemoryRecord, MemoryService, Subject

ORG = "org_a"
ADA, BOB = Subject("identity", "ada"), Subject("identity", "bob")
_WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder(Embedder):
    """Bag of hashed words: texts sharing words are similar; deterministic, no model."""

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, h % 256] += 1.0
            out[row, 0] += 0.01
        normed: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
        return normed


def _spec() -> AgentSpec:
    return AgentSpec.model_validate(
        {"name": "keeper", "instructions": "Help.", "memory": {"enabled": True, "top_k": 5}}
    )


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[MemoryService]:
    embedder = HashEmbedder()
    s = MemoryService(store=ChromaMemoryStore.embedded(tmp_path / "m", embedder=embedder), embedder=embedder)
    try:
        yield s
    finally:
        await s.aclose()


def _tools(service: MemoryService, subject: Subject = ADA) -> dict[str, FunctionTool]:
    memory = ConversationMemory(service=service, spec=_spec(), org_id=ORG, subject=subject, conversation="c1")
    return {t.info.name: t for t in memory_tools(memory)}


async def _texts(service: MemoryService, subject: Subject) -> list[str]:
    return sorted(r.text for r in await service.store.export(ORG, subject.key))


async def _call(tool: FunctionTool, **kwargs: Any) -> str:
    answer: str = await tool(**kwargs)
    return answer


async def test_remember_then_recall_finds_it(service: MemoryService) -> None:
    tools = _tools(service)
    answer = await _call(tools["remember"], fact="I prefer a window seat.", kind="preference")
    assert answer == "Remembered: I prefer a window seat."
    [record] = await service.store.export(ORG, ADA.key)
    assert (record.kind, record.agent, record.conversation) == ("preference", "keeper", "c1")
    found = await _call(tools["recall"], query="seat")
    assert "I prefer a window seat." in found
    assert "Nothing" in await _call(_tools(service, BOB)["recall"], query="seat")  # not Bob's


async def test_a_changed_name_updates_the_one_name_fact(service: MemoryService) -> None:
    tools = _tools(service)
    await _call(tools["remember"], fact="My name is Jon.")
    answer = await _call(tools["remember"], fact="My name is John Smith.")
    assert "replaces" in answer
    assert await _texts(service, ADA) == ["My name is John Smith."]
    # a slot the model names works the same for sentences the rules do not know
    await _call(tools["remember"], fact="Ada's favourite colour is teal.", slot="favourite colour")
    await _call(tools["remember"], fact="These days it is green.", slot="Favourite_Colour")
    assert await _texts(service, ADA) == ["My name is John Smith.", "These days it is green."]


async def _seed(service: MemoryService) -> None:
    await _call(_tools(service)["remember"], fact="My name is Ada.")
    await _call(_tools(service)["remember"], fact="I hate coffee.", kind="preference")
    await _call(_tools(service)["remember"], fact="I love green tea.", kind="preference")
    await _call(_tools(service, BOB)["remember"], fact="I hate coffee.", kind="preference")


async def test_forget_without_confirm_lists_and_removes_nothing(service: MemoryService) -> None:
    await _seed(service)
    answer = await _call(_tools(service)["forget"], what="coffee", confirm=False)
    assert "I hate coffee." in answer and "green tea" not in answer and "confirm" in answer
    assert len(await _texts(service, ADA)) == 3


async def test_forget_with_confirm_removes_only_this_subjects_matching_memories(
    service: MemoryService,
) -> None:
    await _seed(service)
    forget = _tools(service)["forget"]
    # confirming what was never listed only lists it
    assert "Nothing was removed yet" in await _call(forget, what="coffee", confirm=True)
    assert len(await _texts(service, ADA)) == 3
    await _call(forget, what="coffee", confirm=False)
    answer = await _call(forget, what="coffee", confirm=True)
    assert answer.startswith("Forgotten (1)") and "I hate coffee." in answer
    assert await _texts(service, ADA) == ["I love green tea.", "My name is Ada."]
    assert await _texts(service, BOB) == ["I hate coffee."]
    assert "coffee" not in await _call(_tools(service)["recall"], query="coffee")


async def test_scoped_delete_never_touches_another_subject(service: MemoryService) -> None:
    await _seed(service)
    bobs = [r.id for r in await service.store.export(ORG, BOB.key)]
    assert await service.forget_ids(ORG, ADA.key, bobs) == 0
    assert await _texts(service, BOB) == ["I hate coffee."]


async def test_forget_everything_erases_the_subject_after_confirmation(service: MemoryService) -> None:
    await _seed(service)
    service.record_turn(MemoryRecord(org_id=ORG, subject=ADA.key, kind="turn", text="hello there"))
    forget = _tools(service)["forget"]
    preview = await _call(forget, what="Everything about me.", confirm=False)
    assert "all 4 memories" in preview and "My name is Ada." in preview
    assert len(await _texts(service, ADA)) == 4
    answer = await _call(forget, what="everything", confirm=True)
    assert "erased (4 memories)" in answer
    assert await _texts(service, ADA) == []
    assert await _texts(service, BOB) == ["I hate coffee."]


async def test_a_failing_store_answers_with_a_sentence(service: MemoryService) -> None:
    tools = _tools(service)
    await service.store.aclose()
    for name, kwargs in [
        ("remember", {"fact": "My name is Ada."}),
        ("recall", {"query": "name"}),
        ("forget", {"what": "name", "confirm": True}),
    ]:
        answer = await _call(tools[name], **kwargs)
        assert "not available" in answer, answer


async def test_build_agent_with_memory_has_the_three_tools(service: MemoryService) -> None:
    memory = ConversationMemory(service=service, spec=_spec(), org_id=ORG, subject=ADA, conversation="c1")
    with_memory = build_agent(_spec(), memory=memory)
    names = {t.info.name for t in with_memory.tools if isinstance(t, FunctionTool)}
    assert {"remember", "recall", "forget"} <= names
    without = build_agent(_spec())
    assert not {"remember", "recall", "forget"} & {
        t.info.name for t in without.tools if isinstance(t, FunctionTool)
    }
