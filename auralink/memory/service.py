"""The memory an agent (or the API) uses: one object over the store, retriever, writer and extractor.

memory = MemoryService.from_settings(get_settings())
profile = await memory.prefetch(scope)                      # session start
hits = await memory.recall(scope, utterance, top_k=5, profile=profile)   # each user turn
memory.record_turn(record)                                  # never blocks
await memory.remember_conversation(org_id=..., subject=..., user_turns=[...], summary=...)
await memory.remember(org_id=..., subject=..., item=Extracted("fact", "My name is Ada.", slot="name"))
await memory.forget_ids(org_id, subject, [record_id, ...])  # only that subject's
await memory.forget_subject(org_id, subject)                # erasure
await memory.aclose()
"""

from __future__ import annotations

__all__ = ["MemoryService"]

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from auralink.core.errors import MissingCredential
from auralink.core.settings import Settings

from .base import Embedder, MemoryStore
from .chroma import ChromaMemoryStore, Layout
from .dedupe import DEFAULT_THRESHOLD, plan_upserts
from .embeddings import CachedEmbedder, HttpEmbedder
from .extraction import Extracted, Extractor, LLMExtractor, RuleExtractor
from .retrieval import Profile, Retriever
from .types import MemoryKind, MemoryRecord, MemoryScope, ScoredMemory
from .writer import MemoryWriter

logger = logging.getLogger("auralink.memory")


class MemoryService:
    def __init__(
        self,
        *,
        store: MemoryStore,
        embedder: Embedder,
        extractor: Extractor | None = None,
        dedupe_threshold: float = DEFAULT_THRESHOLD,
        max_queue: int = 1000,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.extractor = extractor or RuleExtractor()
        self.retriever = Retriever(store=store, embedder=embedder)
        self.writer = MemoryWriter(store=store, max_queue=max_queue)
        self.dedupe_threshold = dedupe_threshold

    @classmethod
    def from_settings(cls, settings: Settings, *, layout: Layout = "per_org") -> MemoryService:
        """Embedded Chroma or a Chroma server, the configured embeddings and extractor."""
        key_env = settings.memory_embeddings_api_key_env
        embedder = CachedEmbedder(
            HttpEmbedder(
                base_url=settings.memory_embeddings_url or settings.models_base_url,
                model=settings.memory_embeddings_model,
                api_key_env=key_env or None,
            )
        )
        if settings.memory_backend == "http":
            store = ChromaMemoryStore.http(settings.chroma_url, embedder=embedder, layout=layout)
        else:
            store = ChromaMemoryStore.embedded(settings.memory_dir, embedder=embedder, layout=layout)
        extractor: Extractor = RuleExtractor()
        if settings.memory_extraction_model:
            api_key = None
            if settings.memory_extraction_api_key_env:
                api_key = os.environ.get(settings.memory_extraction_api_key_env, "").strip()
                if not api_key:
                    raise MissingCredential(settings.memory_extraction_api_key_env, what="memory extraction")
            extractor = LLMExtractor(
                base_url=settings.memory_extraction_url or settings.models_base_url,
                model=settings.memory_extraction_model,
                api_key=api_key,
            )
        return cls(store=store, embedder=embedder, extractor=extractor)

    # ------------------------------------------------------------------ read path
    async def prefetch(self, scope: MemoryScope) -> Profile:
        return await self.retriever.prefetch(scope)

    async def recall(
        self,
        scope: MemoryScope,
        text: str,
        *,
        top_k: int = 5,
        profile: Profile | None = None,
        kinds: Sequence[MemoryKind] | None = None,
    ) -> list[ScoredMemory]:
        return await self.retriever.search(scope, text, top_k=top_k, profile=profile, kinds=kinds)

    # ------------------------------------------------------------------ write path
    def record_turn(self, record: MemoryRecord) -> bool:
        """Queue a record (usually a ``turn``) for the background writer; never blocks."""
        return self.writer.submit(record)

    async def remember_conversation(
        self,
        *,
        org_id: str,
        subject: str,
        user_turns: Sequence[str],
        agent: str = "",
        conversation: str = "",
        summary: str | None = None,
        summarize: bool = False,
    ) -> list[MemoryRecord]:
        """Extract facts and preferences, merge them with what is stored, and store the summary
        (with ``summarize`` and no ``summary`` given: the extractor's, dated)."""
        items = await self.extractor.extract(user_turns)
        if summary is None and summarize:
            made = await self.extractor.summarize(user_turns)
            if made:
                summary = f"Conversation on {time.strftime('%Y-%m-%d', time.gmtime())}: {made}"
        records, vectors = await plan_upserts(
            store=self.store,
            embedder=self.embedder,
            org_id=org_id,
            subject=subject,
            items=items,
            agent=agent,
            conversation=conversation,
            threshold=self.dedupe_threshold,
        )
        if records:
            await self.store.upsert(records, vectors=vectors)
        if summary and summary.strip():
            note = MemoryRecord(
                org_id=org_id,
                subject=subject,
                agent=agent,
                conversation=conversation,
                kind="summary",
                text=summary.strip(),
            )
            await self.store.upsert([note])
            records.append(note)
        logger.info("memory: stored %s records for conversation %s", len(records), conversation or "-")
        return records

    async def remember(
        self, *, org_id: str, subject: str, item: Extracted, agent: str = "", conversation: str = ""
    ) -> MemoryRecord:
        """Store one fact or preference now, merged with what is stored like an extracted one
        (same slot or a near-identical statement: the stored record is updated, not duplicated)."""
        records, vectors = await plan_upserts(
            store=self.store,
            embedder=self.embedder,
            org_id=org_id,
            subject=subject,
            items=[item],
            agent=agent,
            conversation=conversation,
            threshold=self.dedupe_threshold,
        )
        await self.store.upsert(records, vectors=vectors)
        return records[0]

    # ------------------------------------------------------------------ subject rights
    async def forget_subject(self, org_id: str, subject: str) -> int:
        """Erase everything of one subject, including records still queued for writing."""
        queued = await self.writer.forget_subject(org_id, subject)
        stored = await self.store.forget_subject(org_id, subject)
        if isinstance(self.embedder, CachedEmbedder):
            self.embedder.clear()  # cached utterances may be theirs
        return queued + stored

    async def forget_ids(self, org_id: str, subject: str, ids: Sequence[str]) -> int:
        """Delete those of ``ids`` that are memories of this subject in this organisation; ids of
        anyone else's memories are ignored. Returns how many were deleted."""
        await self.writer.flush()
        theirs = {r.id for r in await self.store.export(org_id, subject)}
        doomed = [i for i in dict.fromkeys(ids) if i in theirs]
        await self.store.delete(org_id, doomed)
        return len(doomed)

    async def expire_subject(
        self, org_id: str, subject: str, *, retention_days: int, now: float | None = None
    ) -> int:
        """Delete this subject's memories last changed more than ``retention_days`` ago (an
        agent's ``memory.retention_days``); how many went."""
        cutoff = (now if now is not None else time.time()) - retention_days * 86400
        records = await self.store.export(org_id, subject)
        old = [r.id for r in records if max(r.created_at, r.updated_at) < cutoff]
        if old:
            await self.store.delete(org_id, old)
        return len(old)

    async def export(self, org_id: str, subject: str) -> list[dict[str, Any]]:
        await self.writer.flush()
        return [r.to_export() for r in await self.store.export(org_id, subject)]

    async def purge_expired(
        self, *, retention_days: int, org_id: str | None = None, agent: str | None = None
    ) -> int:
        """Delete memories (of one organisation and agent, when given) not changed for
        ``retention_days``; how many went. The API's retention sweep calls this per agent."""
        await self.writer.flush()
        return await self.store.purge_expired(
            older_than=time.time() - retention_days * 86400, org_id=org_id, agent=agent
        )

    async def aclose(self) -> None:
        try:
            await self.writer.aclose()
            await self.extractor.aclose()
        finally:
            await self.store.aclose()
            await self.embedder.aclose()
