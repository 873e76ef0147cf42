"""End of conversation: facts are extracted and merged with what is stored; erasure and export."""

from __future__ import annotations

from auralink.memory import MemoryRecord, MemoryScope, MemoryService

ORG, WHO = "org_a", "phone:+447700900123"
SCOPE = MemoryScope(org_id=ORG, subject=WHO)


async def _remember(service: MemoryService, *turns: str, conversation: str = "c1") -> None:
    await service.remember_conversation(
        org_id=ORG, subject=WHO, user_turns=list(turns), conversation=conversation
    )


async def test_restated_facts_update_instead_of_piling_up(service: MemoryService) -> None:
    await _remember(service, "My name is Jon.", "I love Thai curry.", "I live in Leeds.")
    first = {r.text: r for r in await service.store.export(ORG, WHO)}
    await _remember(service, "Actually my name is John Smith.", "I love Thai curry!", conversation="c2")
    after = await service.store.export(ORG, WHO)
    texts = sorted(r.text for r in after)
    assert texts == ["I live in Leeds.", "I love Thai curry.", "My name is John Smith."]
    name = next(r for r in after if r.slot == "name")
    assert name.id == first["My name is Jon."].id and name.conversation == "c2"
    assert name.created_at == first["My name is Jon."].created_at < name.updated_at


async def test_a_different_fact_is_added(service: MemoryService) -> None:
    await _remember(service, "I love Thai curry.")
    await _remember(service, "I hate loud hold music.", conversation="c2")
    assert await service.store.count(SCOPE) == 2


async def test_summary_is_stored_and_prefetched(service: MemoryService) -> None:
    await service.remember_conversation(
        org_id=ORG, subject=WHO, user_turns=["my name is Ada"], summary="Ada asked to move her booking."
    )
    profile = await service.prefetch(SCOPE)
    assert [r.text for r in profile.summaries] == ["Ada asked to move her booking."]
    assert [r.text for r in profile.facts] == ["My name is Ada."]


async def test_forget_erases_stored_and_queued_memories_then_nothing_is_returned(
    service: MemoryService,
) -> None:
    await _remember(service, "My name is Ada.", "I love jazz.")
    other = MemoryRecord(org_id=ORG, subject="phone:+15550000", kind="fact", text="My name is Bo.")
    await service.store.add([other])
    # queued and not yet written: forget must drop it too
    service.record_turn(MemoryRecord(org_id=ORG, subject=WHO, kind="turn", text="my name is Ada, hello"))
    assert await service.forget_subject(ORG, WHO) >= 3
    await service.writer.flush()
    for query in ("what is my name", "jazz", "Ada"):
        assert await service.recall(SCOPE, query, top_k=10) == []
        org_wide = await service.recall(MemoryScope(org_id=ORG), query, top_k=10)
        assert [h.record.subject for h in org_wide] == ["phone:+15550000"]
    assert await service.export(ORG, WHO) == []


async def test_export_returns_json_ready_records(service: MemoryService) -> None:
    await _remember(service, "My name is Ada.")
    service.record_turn(MemoryRecord(org_id=ORG, subject=WHO, kind="turn", text="hello"))
    exported = await service.export(ORG, WHO)  # flushes the writer first
    assert sorted((e["kind"], e["text"]) for e in exported) == [
        ("fact", "My name is Ada."),
        ("turn", "hello"),
    ]
    assert all(e["subject"] == WHO and e["org_id"] == ORG for e in exported)


async def test_retention_purge_by_days(service: MemoryService) -> None:
    await service.store.add(
        [
            MemoryRecord(org_id=ORG, subject=WHO, kind="turn", text="old", created_at=1_000.0),
            MemoryRecord(org_id=ORG, subject=WHO, kind="turn", text="new"),
        ]
    )
    assert await service.purge_expired(retention_days=30, org_id=ORG) == 1
    assert [e["text"] for e in await service.export(ORG, WHO)] == ["new"]


async def test_a_subjects_memories_past_retention_go_and_nobody_elses(service: MemoryService) -> None:
    await service.store.add(
        [
            MemoryRecord(org_id=ORG, subject=WHO, kind="fact", text="old fact", created_at=1_000.0),
            MemoryRecord(org_id=ORG, subject=WHO, kind="fact", text="old but updated", created_at=1_000.0),
            MemoryRecord(org_id=ORG, subject=WHO, kind="fact", text="new fact"),
            MemoryRecord(
                org_id=ORG, subject="identity:bob", kind="fact", text="bob's old", created_at=1_000.0
            ),
        ]
    )
    updated = next(r for r in await service.store.export(ORG, WHO) if r.text == "old but updated")
    await service.store.upsert([updated.updated(updated_at=9e9)])
    assert await service.expire_subject(ORG, WHO, retention_days=30) == 1
    assert sorted(e["text"] for e in await service.export(ORG, WHO)) == ["new fact", "old but updated"]
    assert [e["text"] for e in await service.export(ORG, "identity:bob")] == ["bob's old"]


async def test_a_conversation_leaves_a_dated_summary_the_next_one_starts_with(
    service: MemoryService,
) -> None:
    await service.remember_conversation(
        org_id=ORG,
        subject=WHO,
        user_turns=["Hello.", "I need to move my dentist appointment to Thursday morning.", "Thanks, bye."],
        summarize=True,
    )
    profile = await service.prefetch(SCOPE)
    [summary] = [r.text for r in profile.summaries]
    assert summary.startswith("Conversation on 20") and "dentist appointment to Thursday" in summary
    assert "Hello" not in summary and summary in profile.as_text()


async def test_small_talk_leaves_no_summary(service: MemoryService) -> None:
    await service.remember_conversation(
        org_id=ORG, subject=WHO, user_turns=["Hi.", "Okay thanks.", "Bye."], summarize=True
    )
    assert (await service.prefetch(SCOPE)).summaries == []


async def test_retention_purge_per_agent_leaves_other_agents_memories(service: MemoryService) -> None:
    await service.store.add(
        [
            MemoryRecord(org_id=ORG, subject=WHO, agent="concierge", kind="fact", text="a", created_at=1e3),
            MemoryRecord(org_id=ORG, subject=WHO, agent="support", kind="fact", text="b", created_at=1e3),
            MemoryRecord(
                org_id="org_b", subject=WHO, agent="concierge", kind="fact", text="c", created_at=1e3
            ),
        ]
    )
    assert await service.purge_expired(retention_days=30, org_id=ORG, agent="concierge") == 1
    assert [e["text"] for e in await service.export(ORG, WHO)] == ["b"]
    assert [e["text"] for e in await service.export("org_b", WHO)] == ["c"]
