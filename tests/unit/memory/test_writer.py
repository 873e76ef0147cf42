"""The background writer never blocks the caller, batches, and writes everything on close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from auralink.core.errors import ProviderError
from auralink.memory import ChromaMemoryStore, MemoryRecord, MemoryScope, MemoryWriter


def _turn(i: int, subject: str = "identity:u") -> MemoryRecord:
    return MemoryRecord(org_id="org_a", subject=subject, kind="turn", text=f"turn number {i}")


async def test_close_writes_everything_queued(store: ChromaMemoryStore) -> None:
    writer = MemoryWriter(store=store, batch_size=8)
    assert all(writer.submit(_turn(i)) for i in range(50))
    await writer.aclose()
    assert writer.written == 50 and writer.pending == 0
    assert await store.count(MemoryScope(org_id="org_a", subject="identity:u")) == 50
    assert not writer.submit(_turn(51))  # closed: refused, counted, nothing raised
    assert writer.dropped == 1


class _SlowStore(ChromaMemoryStore):
    def __init__(self, inner: ChromaMemoryStore) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.batches: list[int] = []

    async def upsert(self, records: Sequence[MemoryRecord], *, vectors: np.ndarray | None = None) -> None:
        await self.release.wait()
        self.batches.append(len(records))
        await self.inner.upsert(records, vectors=vectors)


async def test_submit_never_waits_for_a_slow_store_and_drops_when_full(store: ChromaMemoryStore) -> None:
    slow = _SlowStore(store)
    async with MemoryWriter(store=slow, max_queue=10, batch_size=4) as writer:
        loop = asyncio.get_running_loop()
        started = loop.time()
        accepted = [writer.submit(_turn(i)) for i in range(30)]
        assert loop.time() - started < 0.5
        assert accepted.count(True) == 10 and writer.dropped == 20
        slow.release.set()
    assert sum(slow.batches) == 10 and max(slow.batches) <= 4


class _FailingStore(_SlowStore):
    async def upsert(self, records: Sequence[MemoryRecord], *, vectors: np.ndarray | None = None) -> None:
        raise ProviderError("embeddings down", retryable=True)


async def test_a_failing_store_is_counted_and_does_not_stop_the_writer(store: ChromaMemoryStore) -> None:
    async with MemoryWriter(store=_FailingStore(store), batch_size=5) as writer:
        for i in range(12):
            writer.submit(_turn(i))
        await writer.flush()
        assert writer.failed == 12
