"""The Chroma implementation of :class:`~auralink.memory.base.MemoryStore`.

Embedded by default (``chromadb.PersistentClient`` in ``<data_dir>/memory``); a Chroma server
(``chroma run``) through ``chromadb.HttpClient`` when ``AURALINK_MEMORY_BACKEND=http``. Chroma
never embeds anything itself (its default embedding function would download a model): every
vector comes from our :class:`~auralink.memory.base.Embedder`. Telemetry is off.

Layout: ``per_org`` (default) keeps one collection per organisation, filtered by subject inside
it; ``shared`` keeps one collection for everyone, filtered by organisation and subject. Both
confine every read and delete to one organisation; bench/memory_bench.py compares their speed.
Chroma's client is synchronous, so calls run on a small private thread pool.
"""

from __future__ import annotations

__all__ = ["ChromaMemoryStore", "Layout"]

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from auralink.core.errors import ProviderError, ServiceFailed

from .base import Embedder, MemoryStore
from .types import MemoryKind, MemoryRecord, MemoryScope, ScoredMemory

logger = logging.getLogger("auralink.memory")

Layout = Literal["per_org", "shared"]
T = TypeVar("T")

_SHARED = "auralink-memory"
_PREFIX = "auralink-mem-"
_WRITE_BATCH = 4000


def embedded_client(path: Path, *, what: str) -> ClientAPI:
    """An embedded Chroma (``PersistentClient``) in ``path``, telemetry off; ``what`` names the
    store in the error (memory, archive)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
    except Exception as e:  # chromadb raises many untyped errors
        raise ServiceFailed(f"{what} (embedded Chroma)", f"cannot open {path}: {e}") from e


def http_client(url: str, *, what: str) -> ClientAPI:
    """A Chroma server's client (``HttpClient``) for ``url`` (AURALINK_CHROMA_URL), telemetry off."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ServiceFailed(f"{what} (Chroma server)", f"AURALINK_CHROMA_URL {url!r} is not an http(s) URL")
    try:
        return chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as e:
        raise ServiceFailed(
            f"{what} (Chroma server)", f"cannot reach {url} (AURALINK_CHROMA_URL): {e}"
        ) from e


async def run_chroma(pool: ThreadPoolExecutor, fn: Callable[[], T], *, what: str) -> T:
    """``fn`` (blocking Chroma calls) on ``pool``; Chroma's untyped errors become ProviderError."""
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)
    except (ProviderError, ServiceFailed):
        raise
    except Exception as e:  # chromadb and its HTTP client raise untyped errors
        raise ProviderError(f"{what} (Chroma) failed: {type(e).__name__}: {e}", retryable=True) from e


def _where(*conditions: dict[str, Any] | None) -> dict[str, Any] | None:
    parts = [c for c in conditions if c]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _meta(r: MemoryRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "org": r.org_id,
        "subject": r.subject,
        "agent": r.agent,
        "conversation": r.conversation,
        "kind": r.kind,
        "created_at": float(r.created_at),
        "updated_at": float(r.updated_at),
        "importance": float(r.importance),
        "slot": r.slot,
    }
    if r.metadata:
        meta["meta"] = json.dumps(r.metadata, separators=(",", ":"))
    return meta


def _record(id_: str, text: str | None, meta: Any) -> MemoryRecord:
    m = dict(meta or {})
    return MemoryRecord(
        id=id_,
        org_id=str(m.get("org", "")),
        subject=str(m.get("subject", "")),
        agent=str(m.get("agent", "")),
        conversation=str(m.get("conversation", "")),
        kind=cast(MemoryKind, m.get("kind", "fact")),
        text=text or "",
        created_at=float(m.get("created_at", 0.0)),
        updated_at=float(m.get("updated_at", 0.0)),
        importance=float(m.get("importance", 0.5)),
        slot=str(m.get("slot", "")),
        metadata=json.loads(m["meta"]) if m.get("meta") else {},
    )


class ChromaMemoryStore(MemoryStore):
    """Memories in Chroma. Build with :meth:`embedded` or :meth:`http`, or pass a client."""

    def __init__(self, *, client: ClientAPI, embedder: Embedder, layout: Layout = "per_org") -> None:
        self._client = client
        self._embedder = embedder
        self.layout: Layout = layout
        self._collections: dict[str, Collection] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memory-chroma")
        self._closed = False

    # ----------------------------------------------------------------- construction
    @classmethod
    def embedded(cls, path: Path, *, embedder: Embedder, layout: Layout = "per_org") -> ChromaMemoryStore:
        return cls(client=embedded_client(path, what="memory"), embedder=embedder, layout=layout)

    @classmethod
    def http(cls, url: str, *, embedder: Embedder, layout: Layout = "per_org") -> ChromaMemoryStore:
        return cls(client=http_client(url, what="memory"), embedder=embedder, layout=layout)

    # ----------------------------------------------------------------- plumbing
    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise ProviderError("the memory store is closed")
        return await run_chroma(self._pool, fn, what="memory store")

    def _name(self, org_id: str) -> str:
        if self.layout == "shared":
            return _SHARED
        return _PREFIX + hashlib.sha256(org_id.encode()).hexdigest()[:24]

    def _collection(self, org_id: str) -> Collection:
        name = self._name(org_id)
        col = self._collections.get(name)
        if col is None:
            col = self._client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self._collections[name] = col
        return col

    def _all_collections(self) -> list[Collection]:
        names = [c.name for c in self._client.list_collections()]
        return [
            self._client.get_collection(n, embedding_function=None)
            for n in names
            if n == _SHARED or n.startswith(_PREFIX)
        ]

    def _org_filter(self, org_id: str) -> dict[str, Any] | None:
        return {"org": org_id} if self.layout == "shared" else None

    def _scope_where(
        self, scope: MemoryScope, kinds: Sequence[MemoryKind] | None = None
    ) -> dict[str, Any] | None:
        return _where(
            self._org_filter(scope.org_id),
            {"subject": scope.subject} if scope.subject is not None else None,
            {"agent": scope.agent} if scope.agent is not None else None,
            ({"kind": kinds[0]} if len(kinds) == 1 else {"kind": {"$in": list(kinds)}}) if kinds else None,
        )

    # ----------------------------------------------------------------- writes
    async def upsert(self, records: Sequence[MemoryRecord], *, vectors: np.ndarray | None = None) -> None:
        if not records:
            return
        if vectors is None:
            vectors = await self._embedder.embed([r.text for r in records])
        by_org: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_org.setdefault(r.org_id, []).append(i)

        def write() -> None:
            for org_id, idx in by_org.items():
                col = self._collection(org_id)
                for start in range(0, len(idx), _WRITE_BATCH):
                    part = idx[start : start + _WRITE_BATCH]
                    col.upsert(
                        ids=[records[i].id for i in part],
                        embeddings=vectors[part],
                        documents=[records[i].text for i in part],
                        metadatas=[_meta(records[i]) for i in part],
                    )

        await self._run(write)

    async def delete(self, org_id: str, ids: Sequence[str]) -> None:
        if ids:
            await self._run(
                lambda: self._collection(org_id).delete(ids=list(ids), where=self._org_filter(org_id))
            )

    async def forget_subject(self, org_id: str, subject: str) -> int:
        where = _where(self._org_filter(org_id), {"subject": subject})

        def forget() -> int:
            col = self._collection(org_id)
            ids = col.get(where=where, include=[])["ids"]
            if ids:
                col.delete(ids=ids)
            return len(ids)

        n = await self._run(forget)
        logger.info("memory: forgot %s memories of one subject in org %s", n, org_id)
        return n

    async def purge_expired(
        self, *, older_than: float, org_id: str | None = None, agent: str | None = None
    ) -> int:
        def purge() -> int:
            old = {"updated_at": {"$lt": float(older_than)}}
            of_agent = {"agent": agent} if agent is not None else None
            if org_id is not None:
                cols = [self._collection(org_id)]
                where = _where(self._org_filter(org_id), old, of_agent)
            else:
                cols = self._all_collections()
                where = _where(old, of_agent)
            total = 0
            for col in cols:
                ids = col.get(where=where, include=[])["ids"]
                if ids:
                    col.delete(ids=ids)
                total += len(ids)
            return total

        return await self._run(purge)

    # ----------------------------------------------------------------- reads
    async def search(
        self,
        scope: MemoryScope,
        *,
        vector: np.ndarray,
        limit: int,
        kinds: Sequence[MemoryKind] | None = None,
    ) -> list[ScoredMemory]:
        where = self._scope_where(scope, kinds)

        def query() -> Any:
            return self._collection(scope.org_id).query(
                query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
                n_results=limit,
                where=where,
                include=["documents", "metadatas", "distances"],
            )

        res = await self._run(query)
        ids, docs, metas, dists = res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
        return [
            ScoredMemory(record=_record(i, d, m), score=1.0 - float(x), similarity=1.0 - float(x))
            for i, d, m, x in zip(ids, docs, metas, dists, strict=True)
        ]

    async def _get(self, org_id: str, where: dict[str, Any] | None) -> list[MemoryRecord]:
        def get() -> Any:
            return self._collection(org_id).get(where=where, include=["documents", "metadatas"])

        res = await self._run(get)
        docs = res["documents"] or [None] * len(res["ids"])
        metas = res["metadatas"] or [None] * len(res["ids"])
        return [_record(i, d, m) for i, d, m in zip(res["ids"], docs, metas, strict=True)]

    async def recent(
        self, scope: MemoryScope, *, kinds: Sequence[MemoryKind], limit: int
    ) -> list[MemoryRecord]:
        records = await self._get(scope.org_id, self._scope_where(scope, kinds))
        records.sort(key=lambda r: r.updated_at, reverse=True)
        return records[:limit]

    async def vectors(self, org_id: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}

        def get() -> Any:
            return self._collection(org_id).get(
                ids=list(ids), where=self._org_filter(org_id), include=["embeddings"]
            )

        res = await self._run(get)
        embeddings = res["embeddings"]
        if embeddings is None:
            return {}
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(res["ids"], embeddings, strict=True)}

    async def export(self, org_id: str, subject: str) -> list[MemoryRecord]:
        records = await self._get(org_id, _where(self._org_filter(org_id), {"subject": subject}))
        records.sort(key=lambda r: (r.created_at, r.id))
        return records

    async def count(self, scope: MemoryScope | None = None) -> int:
        def count() -> int:
            if scope is None:
                return sum(c.count() for c in self._all_collections())
            where = self._scope_where(scope)
            col = self._collection(scope.org_id)
            return col.count() if where is None else len(col.get(where=where, include=[])["ids"])

        return await self._run(count)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._collections.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown, True)
