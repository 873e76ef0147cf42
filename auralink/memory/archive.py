"""The searchable meeting archive's vector index: transcript lines and meeting notes per organisation.

One Chroma collection per organisation (``auralink-archive-<sha256(org)[:24]>``, apart from the
long-term memory's ``auralink-mem-`` collections), each entry keyed by its id in the API's
database (a transcript line's ``trn_…``, a call's notes ``notes:<call id>``) with the call, the
kind (``line`` or ``notes``), the speaker, the agent and the time as metadata. The database stays
the source of truth: a hit names an id the caller looks up there, so a line erased from the
database is never shown even before its vector goes.

:class:`ArchiveIndexer` keeps indexing off the request path: :meth:`~ArchiveIndexer.submit` never
waits, one background task embeds and writes queued entries in batches, :meth:`~ArchiveIndexer.flush`
waits for what is queued, :meth:`~ArchiveIndexer.aclose` writes it and stops.
"""

from __future__ import annotations

__all__ = ["ArchiveEntry", "ArchiveHit", "ArchiveIndexer", "ArchiveStore"]

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection

from auralink.core.errors import AuraLinkError, ProviderError

from .base import Embedder
from .chroma import embedded_client, http_client, run_chroma

logger = logging.getLogger("auralink.memory")

T = TypeVar("T")
ArchiveKind = Literal["line", "notes"]
_PREFIX = "auralink-archive-"


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One thing to find again: a transcript line or a call's notes (``at``: POSIX seconds)."""

    id: str
    org_id: str
    call_id: str
    kind: ArchiveKind
    text: str
    at: float
    speaker: str = ""
    agent: str = ""


@dataclass(frozen=True, slots=True)
class ArchiveHit:
    id: str
    call_id: str
    kind: ArchiveKind
    score: float  # cosine similarity, -1..1


def _where(*conditions: dict[str, Any] | None) -> dict[str, Any] | None:
    parts = [c for c in conditions if c]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


class ArchiveStore:
    """Archive entries in Chroma; build with :meth:`embedded` or :meth:`http`, or pass a client."""

    def __init__(self, *, client: ClientAPI, embedder: Embedder) -> None:
        self._client = client
        self.embedder = embedder
        self._collections: dict[str, Collection] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-chroma")
        self._closed = False

    @classmethod
    def embedded(cls, path: Path, *, embedder: Embedder) -> ArchiveStore:
        return cls(client=embedded_client(path, what="archive"), embedder=embedder)

    @classmethod
    def http(cls, url: str, *, embedder: Embedder) -> ArchiveStore:
        return cls(client=http_client(url, what="archive"), embedder=embedder)

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise ProviderError("the archive index is closed")
        return await run_chroma(self._pool, fn, what="archive index")

    def _collection(self, org_id: str) -> Collection:
        name = _PREFIX + hashlib.sha256(org_id.encode()).hexdigest()[:24]
        col = self._collections.get(name)
        if col is None:
            col = self._client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self._collections[name] = col
        return col

    async def upsert(self, entries: Sequence[ArchiveEntry]) -> None:
        """Embed and write ``entries`` (an id written again replaces what it held)."""
        entries = [e for e in entries if e.text.strip()]
        if not entries:
            return
        vectors = await self.embedder.embed([e.text for e in entries])
        by_org: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            by_org.setdefault(e.org_id, []).append(i)

        def write() -> None:
            for org_id, idx in by_org.items():
                self._collection(org_id).upsert(
                    ids=[entries[i].id for i in idx],
                    embeddings=vectors[idx],
                    documents=[entries[i].text for i in idx],
                    metadatas=[
                        {
                            "call": entries[i].call_id,
                            "kind": entries[i].kind,
                            "speaker": entries[i].speaker,
                            "agent": entries[i].agent,
                            "at": float(entries[i].at),
                        }
                        for i in idx
                    ],
                )

        await self._run(write)

    async def search(
        self,
        org_id: str,
        query: str,
        *,
        limit: int,
        since: float | None = None,
        until: float | None = None,
        agent: str | None = None,
    ) -> list[ArchiveHit]:
        """The ``limit`` entries of the organisation nearest in meaning to ``query``, best first."""
        vector = (await self.embedder.embed([query]))[0]
        where = _where(
            {"at": {"$gte": float(since)}} if since is not None else None,
            {"at": {"$lt": float(until)}} if until is not None else None,
            {"agent": agent} if agent is not None else None,
        )

        def query_() -> Any:
            col = self._collection(org_id)
            if col.count() == 0:
                return None
            return col.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
                n_results=limit,
                where=where,
                include=["metadatas", "distances"],
            )

        res = await self._run(query_)
        if res is None:
            return []
        metas = res["metadatas"][0] if res["metadatas"] else []
        return [
            ArchiveHit(
                id=i,
                call_id=str((m or {}).get("call", "")),
                kind="notes" if (m or {}).get("kind") == "notes" else "line",
                score=1.0 - float(d),
            )
            for i, m, d in zip(res["ids"][0], metas, res["distances"][0], strict=True)
        ]

    async def delete(self, org_id: str, ids: Sequence[str]) -> None:
        if ids:
            await self._run(lambda: self._collection(org_id).delete(ids=list(ids)))

    async def forget(self, org_id: str, *, speakers: Sequence[str] = (), calls: Sequence[str] = ()) -> int:
        """Remove the organisation's entries spoken by ``speakers`` and all of ``calls``; how many."""
        conditions: list[dict[str, Any]] = [
            *([{"speaker": {"$in": list(speakers)}}] if speakers else []),
            *([{"call": {"$in": list(calls)}}] if calls else []),
        ]
        if not conditions:
            return 0
        where: dict[str, Any] = conditions[0] if len(conditions) == 1 else {"$or": conditions}

        def forget() -> int:
            col = self._collection(org_id)
            ids = col.get(where=where, include=[])["ids"]
            if ids:
                col.delete(ids=ids)
            return len(ids)

        return await self._run(forget)

    async def count(self, org_id: str) -> int:
        return await self._run(lambda: self._collection(org_id).count())

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._collections.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown, True)
        await self.embedder.aclose()


class ArchiveIndexer:
    """Indexes archive entries off the request path: a bounded queue and one writer task."""

    def __init__(self, *, store: ArchiveStore, max_queue: int = 10_000, batch_size: int = 64) -> None:
        self.store = store
        self._queue: asyncio.Queue[ArchiveEntry] = asyncio.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0
        self.failed = 0

    def submit(self, entries: Sequence[ArchiveEntry]) -> int:
        """Queue ``entries`` without waiting; returns how many were queued (the rest are dropped)."""
        queued = 0
        for entry in entries:
            if self._closing:
                self.dropped += 1
                continue
            try:
                self._queue.put_nowait(entry)
                queued += 1
            except asyncio.QueueFull:
                self.dropped += 1
        if self.dropped and queued < len(entries):
            logger.warning("archive index queue full; %s entries dropped so far", self.dropped)
        if queued and self._task is None:
            self._task = asyncio.create_task(self._run(), name="archive-indexer")
        return queued

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or failed)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.store.upsert(batch)
                self.written += len(batch)
            except AuraLinkError as e:
                self.failed += len(batch)
                logger.warning("archive index: %d entries not written: %s", len(batch), type(e).__name__)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def aclose(self) -> None:
        """Write what is queued (unless the store fails), stop the task, close the store."""
        self._closing = True
        if self._task is not None:
            with contextlib.suppress(AuraLinkError, TimeoutError):
                await asyncio.wait_for(self.flush(), timeout=30)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.store.aclose()
