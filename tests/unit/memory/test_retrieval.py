"""Hybrid ranking: relevance first, then kind and recency; keyword overlap as a second signal."""

from __future__ import annotations

import time

from auralink.memory import ChromaMemoryStore, Embedder, MemoryKind, MemoryRecord, MemoryScope, Retriever
from auralink.memory.retrieval import keyword_scores, tokens

SCOPE = MemoryScope(org_id="org_a", subject="identity:u")


def _rec(text: str, kind: MemoryKind = "fact", age_days: float = 1.0) -> MemoryRecord:
    return MemoryRecord(
        org_id="org_a",
        subject="identity:u",
        kind=kind,
        text=text,
        created_at=time.time() - age_days * 86400,
    )


async def test_the_relevant_memory_comes_first(store: ChromaMemoryStore, embedder: Embedder) -> None:
    await store.add(
        [
            _rec("I am allergic to peanuts."),
            _rec("My room number is 412."),
            _rec("I prefer window seats.", "preference"),
            _rec("Can you check the train times?", "turn"),
        ]
    )
    top = await Retriever(store=store, embedder=embedder).search(SCOPE, "which room number am I in", top_k=2)
    assert top[0].record.text == "My room number is 412."
    assert top[0].score > top[1].score
    assert 0 < top[0].similarity <= 1 and top[0].keyword > 0


def test_kind_and_recency_break_ties_between_equally_similar_memories(embedder: Embedder) -> None:
    retriever = Retriever(store=None, embedder=embedder)  # type: ignore[arg-type]
    fact, turn = _rec("dentist on Friday"), _rec("dentist on Friday", "turn")
    old, new = _rec("dentist on Friday", age_days=200), _rec("dentist on Friday", age_days=1)
    assert retriever.rank("dentist", [(turn, 0.8), (fact, 0.8)], top_k=2)[0].record is fact
    assert retriever.rank("dentist", [(old, 0.8), (new, 0.8)], top_k=2)[0].record is new


def test_keyword_overlap_rewards_rare_shared_words() -> None:
    assert tokens("What's my dog's name?") == ["dog", "name"]
    scores = keyword_scores(
        "order A12345 status", ["my order number is A12345", "the order arrived", "hello"]
    )
    assert scores[0] > scores[1] > scores[2] == 0.0


async def test_prefetch_brings_profile_and_recent_summaries(
    store: ChromaMemoryStore, embedder: Embedder
) -> None:
    await store.add(
        [
            _rec("My name is Ada.", age_days=3),
            _rec("I love jazz.", "preference", age_days=1),
            _rec("Asked about a refund.", "summary", age_days=10),
            _rec("Booked a table.", "summary", age_days=2),
            _rec("hello there", "turn"),
        ]
    )
    retriever = Retriever(store=store, embedder=embedder)
    profile = await retriever.prefetch(SCOPE, summaries=1)
    assert [r.text for r in profile.facts] == ["I love jazz.", "My name is Ada."]
    assert [r.text for r in profile.summaries] == ["Booked a table."]
    assert "My name is Ada." in profile.as_text()
    # the profile takes part in per-turn ranking even when the store search skips it
    hits = await retriever.search(SCOPE, "what is my name", top_k=1, profile=profile, kinds=("fact",))
    assert hits[0].record.text == "My name is Ada."
