"""The Chroma store keeps organisations and subjects apart, forgets, exports and purges."""

from __future__ import annotations

import time

from auralink.memory import ChromaMemoryStore, Embedder, MemoryRecord, MemoryScope


def _rec(org: str, subject: str, text: str, **kw: object) -> MemoryRecord:
    return MemoryRecord(org_id=org, subject=subject, kind="fact", text=text, **kw)  # type: ignore[arg-type]


async def _seed(store: ChromaMemoryStore) -> None:
    await store.add(
        [
            _rec("org_a", "phone:+441", "My dog is called Biscuit."),
            _rec("org_a", "phone:+441", "I live in Leeds."),
            _rec("org_a", "phone:+442", "My dog is called Rocky."),
            _rec("org_b", "phone:+441", "My dog is called Pepper."),
        ]
    )


async def test_search_never_returns_another_subject_or_organisation(
    store: ChromaMemoryStore, embedder: Embedder
) -> None:
    await _seed(store)
    vector = await embedder.embed_one("what is my dog called")
    hits = await store.search(MemoryScope(org_id="org_a", subject="phone:+441"), vector=vector, limit=10)
    assert hits[0].record.text == "My dog is called Biscuit."
    assert {h.record.text for h in hits} == {"My dog is called Biscuit.", "I live in Leeds."}
    other_org = await store.search(MemoryScope(org_id="org_b", subject="phone:+441"), vector=vector, limit=10)
    assert [h.record.text for h in other_org] == ["My dog is called Pepper."]
    nobody = await store.search(MemoryScope(org_id="org_c", subject="phone:+441"), vector=vector, limit=10)
    assert nobody == []
    whole_org = await store.search(MemoryScope(org_id="org_a"), vector=vector, limit=10)
    assert {h.record.subject for h in whole_org} == {"phone:+441", "phone:+442"}


async def test_forget_subject_leaves_nothing_of_them_and_keeps_the_others(
    store: ChromaMemoryStore, embedder: Embedder
) -> None:
    await _seed(store)
    assert await store.forget_subject("org_a", "phone:+441") == 2
    vector = await embedder.embed_one("dog Leeds Biscuit")
    for scope in (MemoryScope(org_id="org_a", subject="phone:+441"), MemoryScope(org_id="org_a")):
        texts = [h.record.text for h in await store.search(scope, vector=vector, limit=50)]
        assert "My dog is called Biscuit." not in texts and "I live in Leeds." not in texts
    assert await store.export("org_a", "phone:+441") == []
    assert (
        await store.recent(MemoryScope(org_id="org_a", subject="phone:+441"), kinds=("fact",), limit=9) == []
    )
    # the same number in another organisation, and other callers, are untouched
    assert [r.text for r in await store.export("org_b", "phone:+441")] == ["My dog is called Pepper."]
    assert await store.count() == 2


async def test_export_lists_every_memory_of_the_subject_oldest_first(store: ChromaMemoryStore) -> None:
    now = time.time()
    await store.add(
        [
            _rec("org_a", "member:m1", "second", created_at=now - 10, metadata={"source": "call"}),
            _rec("org_a", "member:m1", "first", created_at=now - 100),
            _rec("org_a", "member:m2", "not theirs"),
        ]
    )
    exported = [r.to_export() for r in await store.export("org_a", "member:m1")]
    assert [e["text"] for e in exported] == ["first", "second"]
    assert exported[1]["metadata"] == {"source": "call"}
    assert {e["subject"] for e in exported} == {"member:m1"}


async def test_retention_purge_deletes_only_what_is_older(store: ChromaMemoryStore) -> None:
    now = time.time()
    await store.add(
        [
            _rec("org_a", "identity:u", "old one", created_at=now - 400 * 86400),
            _rec("org_a", "identity:u", "fresh one", created_at=now - 5 * 86400),
            _rec("org_b", "identity:u", "old elsewhere", created_at=now - 400 * 86400),
        ]
    )
    assert await store.purge_expired(older_than=now - 365 * 86400, org_id="org_a") == 1
    assert [r.text for r in await store.export("org_a", "identity:u")] == ["fresh one"]
    assert await store.purge_expired(older_than=now - 365 * 86400) == 1
    assert await store.count() == 1


async def test_upsert_with_the_same_id_replaces_and_recent_sorts_newest_first(
    store: ChromaMemoryStore,
) -> None:
    first = _rec("org_a", "identity:u", "I like tea.", created_at=100.0)
    await store.add([first, _rec("org_a", "identity:u", "I live in Lyon.", created_at=200.0)])
    await store.upsert([first.updated(text="I like green tea.", updated_at=300.0)])
    recent = await store.recent(MemoryScope(org_id="org_a", subject="identity:u"), kinds=("fact",), limit=5)
    assert [r.text for r in recent] == ["I like green tea.", "I live in Lyon."]
    assert recent[0].created_at == 100.0
    assert await store.count(MemoryScope(org_id="org_a", subject="identity:u")) == 2
