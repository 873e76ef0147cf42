"""GDPR reaches the long-term memory store: a subject's memories are in the export, erase
removes them (and only theirs), and the follow-up export has none."""

from __future__ import annotations

import numpy as np

from auralink.memory import MemoryRecord, MemoryService
from tests.unit.api.test_auth import Api
from tests.unit.api.test_gdpr import _erase, _export

PHONE = "+15551234567"


async def _remember(api: Api, org_id: str, subject: str, *texts: str) -> None:
    service = MemoryService.from_settings(api.settings)
    try:
        records = [MemoryRecord(org_id=org_id, subject=subject, kind="fact", text=t) for t in texts]
        vectors = np.full((len(records), 384), 0.05, dtype=np.float32)  # stored as given: no embedder
        await service.store.upsert(records, vectors=vectors)
    finally:
        await service.aclose()


async def test_memories_are_exported_and_erased_with_the_subject(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    other_org = await api.signup("Other")
    await _remember(api, org.id, f"phone:{PHONE}", "Lives in Lisbon.", "Has a dog called Rex.")
    await _remember(api, org.id, "identity:bob", "Likes jazz.")
    await _remember(api, other_org.id, f"phone:{PHONE}", "Someone else's number, another organisation.")

    archive = await _export(owner, "phone", PHONE)
    texts = sorted(m["text"] for m in archive["memories"]["memories"])
    assert texts == ["Has a dog called Rex.", "Lives in Lisbon."]

    erased = await _erase(owner, "phone", PHONE)
    assert erased["erased"]["memories"] == 2
    after = await _export(owner, "phone", PHONE)
    assert not after["memories"] and after["manifest"]["total"] == 0  # the follow-up export: none
    bob = await _export(owner, "identity", "bob")
    assert [m["text"] for m in bob["memories"]["memories"]] == ["Likes jazz."]
    service = MemoryService.from_settings(api.settings)
    try:
        assert len(await service.export(other_org.id, f"phone:{PHONE}")) == 1  # other organisations untouched
    finally:
        await service.aclose()
