"""The write path off the hot path: a bounded queue drained in batches by one background task.

:meth:`MemoryWriter.submit` never blocks or awaits: when the queue is full the record is dropped
and counted (``dropped``), so a slow embeddings server can never stall a voice turn.
:meth:`MemoryWriter.aclose` writes what is queued, then stops the task. :meth:`forget_subject`
drops a subject's queued records and waits for any batch in flight, so a forget that follows it
leaves nothing of that subject behind.
"""

from __future__ import annotations

__all__ = ["MemoryWriter"]

import asyncio
import contextlib
import logging

from auralink.core.errors import AuraLinkError

from .base import MemoryStore
from .types import MemoryRecord

logger = logging.getLogger("auralink.memory")


class MemoryWriter:
    """Use ``async with MemoryWriter(store=...) as w: w.submit(record)``."""

    def __init__(self, *, store: MemoryStore, max_queue: int = 1000, batch_size: int = 128) -> None:
        self.store = store
        self._queue: asyncio.Queue[MemoryRecord] = asyncio.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._lock = asyncio.Lock()  # held while a batch is written
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0
        self.failed = 0

    async def __aenter__(self) -> MemoryWriter:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="memory-writer")

    def submit(self, record: MemoryRecord) -> bool:
        """Queue a record; False (and counted as dropped) if the queue is full or the writer closing."""
        if self._closing:
            self.dropped += 1
            return False
        self.start()
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning(
                "memory writer queue full; dropped a %s record (%s dropped so far)", record.kind, self.dropped
            )
            return False
        return True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or failed)."""
        await self._queue.join()

    async def forget_subject(self, org_id: str, subject: str) -> int:
        """Drop queued records of this subject and wait for the batch in flight; returns how many."""
        kept: list[MemoryRecord] = []
        dropped = 0
        while not self._queue.empty():
            r = self._queue.get_nowait()
            self._queue.task_done()
            if r.org_id == org_id and r.subject == subject:
                dropped += 1
            else:
                kept.append(r)
        for r in kept:
            self._queue.put_nowait(r)
        async with self._lock:
            return dropped

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._lock:
                    await self.store.upsert(batch)
                self.written += len(batch)
            except AuraLinkError as e:
                self.failed += len(batch)
                logger.warning(
                    "memory writer: a batch of %s records failed: %s", len(batch), type(e).__name__
                )
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def aclose(self) -> None:
        """Write what is queued, then stop the background task."""
        self._closing = True
        if self._task is None:
            return
        if not self._task.done():
            await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
