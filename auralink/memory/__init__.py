"""Long-term memory for agents: a store interface, Chroma behind it, embeddings, scoping, erasure.

Read path (inside a voice turn, no LLM): :class:`Retriever` ``prefetch`` at session start and
``search`` per user turn. Write path (off the hot path): :class:`MemoryWriter` for turns, and
:class:`MemoryService.remember_conversation` for extracted facts and preferences, de-duplicated
against what is stored. See docs/memory.md.
"""

from .archive import ArchiveEntry, ArchiveHit, ArchiveIndexer, ArchiveStore
from .base import Embedder, MemoryStore
from .chroma import ChromaMemoryStore, Layout
from .dedupe import plan_upserts
from .embeddings import CachedEmbedder, HttpEmbedder
from .extraction import Extracted, Extractor, LLMExtractor, RuleExtractor
from .retrieval import KIND_WEIGHTS, Profile, RankWeights, Retriever
from .service import MemoryService
from .types import LOCAL_ORG, MEMORY_KINDS, MemoryKind, MemoryRecord, MemoryScope, ScoredMemory, Subject
from .writer import MemoryWriter

__all__ = [
    "KIND_WEIGHTS",
    "LOCAL_ORG",
    "MEMORY_KINDS",
    "ArchiveEntry",
    "ArchiveHit",
    "ArchiveIndexer",
    "ArchiveStore",
    "CachedEmbedder",
    "ChromaMemoryStore",
    "Embedder",
    "Extracted",
    "Extractor",
    "HttpEmbedder",
    "LLMExtractor",
    "Layout",
    "MemoryKind",
    "MemoryRecord",
    "MemoryScope",
    "MemoryService",
    "MemoryStore",
    "MemoryWriter",
    "Profile",
    "RankWeights",
    "Retriever",
    "RuleExtractor",
    "ScoredMemory",
    "Subject",
    "plan_upserts",
]
