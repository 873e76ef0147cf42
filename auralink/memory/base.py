"""The interfaces of long-term memory: :class:`Embedder` and :class:`MemoryStore`.

Implementations: :class:`auralink.memory.embeddings.HttpEmbedder` (any OpenAI-compatible
``/v1/embeddings``) and :class:`auralink.memory.chroma.ChromaMemoryStore`. Tests use fakes that
subclass these.
"""

from __future__ import annotations

__all__ = ["Embedder", "MemoryStore"]

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from .types import MemoryKind, MemoryRecord, MemoryScope, ScoredMemory


class Embedder(ABC):
    """Turns texts into unit-length float32 vectors (cosine similarity = dot product)."""

    @abstractmethod
    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dimensions)`` float32, each row L2-normalised."""

    async def embed_one(self, text: str) -> np.ndarray:
        vectors: np.ndarray = await self.embed([text])
        return np.asarray(vectors[0], dtype=np.float32)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""


class MemoryStore(ABC):
    """Where memories live. Every read and delete is confined to one organisation."""

    @abstractmethod
    async def upsert(self, records: Sequence[MemoryRecord], *, vectors: np.ndarray | None = None) -> None:
        """Add records, replacing any with the same id; embeds their texts unless ``vectors`` is given."""

    async def add(self, records: Sequence[MemoryRecord], *, vectors: np.ndarray | None = None) -> None:
        await self.upsert(records, vectors=vectors)

    @abstractmethod
    async def search(
        self,
        scope: MemoryScope,
        *,
        vector: np.ndarray,
        limit: int,
        kinds: Sequence[MemoryKind] | None = None,
    ) -> list[ScoredMemory]:
        """The ``limit`` memories in ``scope`` nearest to ``vector`` (score = cosine similarity)."""

    @abstractmethod
    async def recent(
        self, scope: MemoryScope, *, kinds: Sequence[MemoryKind], limit: int
    ) -> list[MemoryRecord]:
        """The most recently updated memories of these kinds, newest first."""

    @abstractmethod
    async def vectors(self, org_id: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of these memories (missing ids are left out)."""

    @abstractmethod
    async def export(self, org_id: str, subject: str) -> list[MemoryRecord]:
        """Every memory of one subject, oldest first."""

    @abstractmethod
    async def forget_subject(self, org_id: str, subject: str) -> int:
        """Delete every memory of one subject; returns how many were deleted."""

    @abstractmethod
    async def delete(self, org_id: str, ids: Sequence[str]) -> None:
        """Delete these memories of one organisation."""

    @abstractmethod
    async def purge_expired(
        self, *, older_than: float, org_id: str | None = None, agent: str | None = None
    ) -> int:
        """Delete memories last updated before ``older_than`` (epoch seconds), of one
        organisation and one agent when given; returns the count."""

    @abstractmethod
    async def count(self, scope: MemoryScope | None = None) -> int:
        """How many memories the scope holds (all organisations if ``None``)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the client and its threads."""
