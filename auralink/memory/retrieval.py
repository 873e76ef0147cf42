"""The read path: hybrid ranking of memories inside a voice turn, and the session-start prefetch.

Per user turn, :meth:`Retriever.search` embeds the utterance once (cached), asks the store for a
candidate pool of nearest memories in scope, adds the prefetched profile, and ranks them by

    score = kind_weight * (w_vector * similarity + w_keyword * keyword) + w_recency * recency

where ``keyword`` is a BM25-style overlap of the utterance's words with the memory's (IDF over
the pool, normalised to 0..1) and ``recency`` halves every ``half_life_days``. No LLM is called.
"""

from __future__ import annotations

__all__ = ["KIND_WEIGHTS", "Profile", "RankWeights", "Retriever", "keyword_scores", "tokens"]

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .base import Embedder, MemoryStore
from .types import MemoryKind, MemoryRecord, MemoryScope, ScoredMemory

KIND_WEIGHTS: Mapping[MemoryKind, float] = {"fact": 1.0, "preference": 1.0, "summary": 0.85, "turn": 0.7}

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "as",
        "is",
        "am",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "us",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "so",
        "than",
        "then",
        "there",
        "here",
        "just",
        "also",
        "very",
        "too",
        "please",
        "tell",
        "remind",
        "know",
        "remember",
        "any",
        "some",
        "all",
        "there's",
        "what's",
        "i'm",
        "i've",
        "i'll",
        "it's",
        "don't",
    ]
)


def tokens(text: str) -> list[str]:
    """Lower-case content words, with a crude plural strip (``cats`` -> ``cat``)."""
    out = []
    for raw in _WORD.findall(text.lower()):
        word = raw.split("'")[0] if raw.endswith("'s") else raw
        if word in _STOP or len(word) < 2:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def keyword_scores(query: str, docs: Sequence[str]) -> list[float]:
    """BM25-lite: the IDF-weighted share of the query's words each doc contains (0..1)."""
    q = set(tokens(query))
    if not q or not docs:
        return [0.0] * len(docs)
    doc_sets = [set(tokens(d)) for d in docs]
    n = len(docs)
    idf = {
        t: math.log(1.0 + (n - df + 0.5) / (df + 0.5)) for t in q for df in [sum(t in s for s in doc_sets)]
    }
    total = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in q if t in s) / total for s in doc_sets]


@dataclass(frozen=True, slots=True)
class RankWeights:
    vector: float = 0.75
    keyword: float = 0.2
    recency: float = 0.05
    half_life_days: float = 30.0
    kinds: Mapping[MemoryKind, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))


@dataclass(slots=True)
class Profile:
    """What an agent knows about a subject when a session starts."""

    facts: list[MemoryRecord]  # facts and preferences, newest first
    summaries: list[MemoryRecord]  # recent conversation summaries, newest first
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def records(self) -> list[MemoryRecord]:
        return [*self.facts, *self.summaries]

    def as_text(self) -> str:
        """A compact block for the agent's instructions (empty when nothing is known)."""
        lines = [f"- {r.text}" for r in self.facts]
        lines += [f"- (earlier conversation) {r.text}" for r in self.summaries]
        return "\n".join(lines)


class Retriever:
    """Hybrid top-k retrieval over a :class:`MemoryStore`."""

    def __init__(
        self, *, store: MemoryStore, embedder: Embedder, weights: RankWeights | None = None, pool: int = 24
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.weights = weights or RankWeights()
        self.pool = pool

    async def prefetch(self, scope: MemoryScope, *, facts: int = 20, summaries: int = 3) -> Profile:
        """The subject's profile (facts, preferences) and latest summaries, with their vectors."""
        profile = Profile(
            facts=await self.store.recent(scope, kinds=("fact", "preference"), limit=facts),
            summaries=await self.store.recent(scope, kinds=("summary",), limit=summaries),
        )
        profile.vectors = await self.store.vectors(scope.org_id, [r.id for r in profile.records])
        return profile

    async def search(
        self,
        scope: MemoryScope,
        text: str,
        *,
        top_k: int,
        profile: Profile | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        now: float | None = None,
    ) -> list[ScoredMemory]:
        """The ``top_k`` memories in ``scope`` most relevant to ``text``, best first."""
        vector = await self.embedder.embed_one(text)
        hits = await self.store.search(scope, vector=vector, limit=max(self.pool, top_k), kinds=kinds)
        pool: dict[str, tuple[MemoryRecord, float]] = {h.record.id: (h.record, h.similarity) for h in hits}
        if profile is not None:
            for r in profile.records:
                v = profile.vectors.get(r.id)
                if r.id not in pool and v is not None and (kinds is None or r.kind in kinds):
                    pool[r.id] = (r, float(np.dot(v, vector)))
        return self.rank(text, list(pool.values()), top_k=top_k, now=now)

    def rank(
        self,
        text: str,
        candidates: Sequence[tuple[MemoryRecord, float]],
        *,
        top_k: int,
        now: float | None = None,
    ) -> list[ScoredMemory]:
        """Score ``(record, similarity)`` pairs with the hybrid formula; best ``top_k`` first."""
        w = self.weights
        now = time.time() if now is None else now
        kw = keyword_scores(text, [r.text for r, _ in candidates])
        scored = []
        for (record, sim), k in zip(candidates, kw, strict=True):
            age_days = max(0.0, now - record.updated_at) / 86400.0
            recency = 0.5 ** (age_days / w.half_life_days)
            score = w.kinds.get(record.kind, 1.0) * (w.vector * sim + w.keyword * k) + w.recency * recency
            scored.append(
                ScoredMemory(record=record, score=score, similarity=sim, keyword=k, recency=recency)
            )
        scored.sort(key=lambda s: s.score, reverse=True)
        return scored[:top_k]
