"""The retention sweep: memories of subjects who never come back go after their agent's
``memory.retention_days``; agents that keep forever, other agents and new memories stay."""

from __future__ import annotations

import asyncio
import time

from auralink.api.memories import MemoryHandle
from auralink.api.memory_retention import RetentionSweeper
from auralink.memory import LOCAL_ORG, MemoryRecord
from tests.unit.api.test_auth import Api
from tests.unit.api.test_memories import _use_hash_embeddings

CATALOGUE = """\
agents:
  - name: assistant
    instructions: Help.
    memory: {enabled: true, retention_days: 30}
  - name: archivist
    instructions: Keep everything.
    memory: {enabled: true, retention_days: null}
"""

LONG_AGO = time.time() - 90 * 86400


def _old(org: str, agent: str, text: str) -> MemoryRecord:
    return MemoryRecord(
        org_id=org, subject="phone:+15550001", agent=agent, kind="fact", text=text, created_at=LONG_AGO
    )


async def test_sweep_removes_memories_past_each_agents_retention(api: Api) -> None:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    _use_hash_embeddings(api)
    org = await api.signup()
    owner = await api.login(org.email)
    # a database agent of the organisation with its own retention, beside the file's agents
    spec = {"name": "concierge", "instructions": "Hi.", "memory": {"enabled": True, "retention_days": 7}}
    assert (await owner.post("/v1/agents", json=spec)).status_code == 201

    handle: MemoryHandle = api.app.state.memories
    service = await handle.service()
    week_and_a_bit = time.time() - 8 * 86400
    await service.store.add(
        [
            _old(org.id, "assistant", "old, assistant keeps 30 days"),
            _old(org.id, "archivist", "old, archivist keeps forever"),
            _old(org.id, "gone-agent", "old, of an agent that no longer exists"),
            MemoryRecord(
                org_id=org.id,
                subject="s",
                agent="concierge",
                kind="fact",
                text="8 days",
                created_at=week_and_a_bit,
            ),
            MemoryRecord(
                org_id=org.id, subject="s", agent="assistant", kind="fact", text="8 days, assistant"
            ),
            _old(LOCAL_ORG, "assistant", "old terminal chat"),
            MemoryRecord(
                org_id=LOCAL_ORG, subject="s", agent="assistant", kind="fact", text="new terminal chat"
            ),
        ]
    )
    sweeper = RetentionSweeper(
        database=api.db, catalogue=api.app.state.catalogue, memories=handle, settings=api.settings
    )
    policies = await sweeper.policies()
    assert policies[org.id] == {"assistant": 30, "concierge": 7}
    assert policies[LOCAL_ORG] == {"assistant": 30}

    assert await sweeper.sweep() == 3
    left = {r.text for r in await service.store.export(org.id, "phone:+15550001")}
    left |= {r.text for r in await service.store.export(org.id, "s")}
    assert left == {
        "old, archivist keeps forever",
        "old, of an agent that no longer exists",
        "8 days, assistant",
    }
    local = {r.text for r in await service.store.export(LOCAL_ORG, "s")}
    assert local == {"new terminal chat"}
    assert await service.store.export(LOCAL_ORG, "phone:+15550001") == []
    assert await sweeper.sweep() == 0  # nothing more to do


async def test_the_sweep_runs_on_its_own_and_stops_with_the_app(api: Api) -> None:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    _use_hash_embeddings(api)
    handle: MemoryHandle = api.app.state.memories
    service = await handle.service()
    await service.store.add([_old(LOCAL_ORG, "assistant", "old")])
    settings = api.settings.model_copy(update={"memory_retention_sweep_s": 0.05})
    sweeper = RetentionSweeper(
        database=api.db, catalogue=api.app.state.catalogue, memories=handle, settings=settings
    )
    sweeper.start()
    try:
        deadline = time.monotonic() + 20
        while await service.store.export(LOCAL_ORG, "phone:+15550001") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await service.store.export(LOCAL_ORG, "phone:+15550001") == []
    finally:
        await sweeper.aclose()
