"""The API's handle on the meeting archive's search index (:mod:`auralink.memory.archive`).

Opened on first use (Chroma in ``<data_dir>/archive``, or the Chroma server when
``AURALINK_MEMORY_BACKEND=http``; embeddings from the memory embeddings endpoint) and closed with
the app. Transcript lines and notes are queued to its :class:`~auralink.memory.ArchiveIndexer`
after the ingest request commits, so indexing never slows the worker's reports. It is also a GDPR
place (``archive_index``): an erase removes the subject's lines from the index.
"""

from __future__ import annotations

__all__ = ["ArchiveErasable", "ArchiveHandle"]

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from auralink.core import Settings
from auralink.core.errors import AuraLinkError
from auralink.memory import ArchiveEntry, ArchiveIndexer, ArchiveStore, CachedEmbedder, HttpEmbedder

from .gdpr.subject import Subject

logger = logging.getLogger("auralink.api")


def open_archive_store(settings: Settings) -> ArchiveStore:
    key_env = settings.memory_embeddings_api_key_env
    embedder = CachedEmbedder(
        HttpEmbedder(
            base_url=settings.memory_embeddings_url or settings.models_base_url,
            model=settings.memory_embeddings_model,
            api_key_env=key_env or None,
        )
    )
    if settings.memory_backend == "http":
        return ArchiveStore.http(settings.chroma_url, embedder=embedder)
    return ArchiveStore.embedded(settings.data_dir / "archive", embedder=embedder)


class ArchiveHandle:
    """One :class:`ArchiveIndexer` (and its store) for the API process, made when first needed."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings
        self._indexer: ArchiveIndexer | None = None
        self._lock = asyncio.Lock()

    def install(self, store: ArchiveStore) -> None:
        """Use ``store`` (tests: another embedder or folder) instead of opening one from settings."""
        self._indexer = ArchiveIndexer(store=store)

    async def indexer(self) -> ArchiveIndexer:
        async with self._lock:
            if self._indexer is None:
                store = await asyncio.to_thread(open_archive_store, self._settings)
                self._indexer = ArchiveIndexer(store=store)
            return self._indexer

    async def store(self) -> ArchiveStore:
        return (await self.indexer()).store

    async def submit(self, entries: Sequence[ArchiveEntry]) -> None:
        """Queue ``entries`` for indexing; a store that cannot open is logged, never raised."""
        if not entries:
            return
        try:
            (await self.indexer()).submit(entries)
        except AuraLinkError as e:
            logger.warning("archive index unavailable; %d entries not indexed: %s", len(entries), e)

    async def flush(self) -> None:
        if self._indexer is not None:
            await self._indexer.flush()

    async def aclose(self) -> None:
        indexer, self._indexer = self._indexer, None
        if indexer is not None:
            await indexer.aclose()


class ArchiveErasable:
    """:class:`~auralink.api.gdpr.Erasable` over the archive index: a subject's lines go.

    The index holds copies of transcript lines, which the ``transcripts`` file already exports,
    so its export is empty. Lines of the subject's one-to-one calls spoken by the agent are
    erased from the database; search looks every hit up there, so they are never shown.
    """

    def __init__(self, handle: ArchiveHandle) -> None:
        self._handle = handle

    async def export(self, subject: Subject) -> dict[str, Any]:
        return {}

    async def erase(self, subject: Subject) -> int:
        speakers = sorted(subject.identities())
        if not speakers:
            return 0
        await self._handle.flush()  # lines queued before the erase go too
        store = await self._handle.store()
        return await store.forget(subject.org_id, speakers=speakers)
