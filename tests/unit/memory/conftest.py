"""Fixtures for memory unit tests: a deterministic embedder and an embedded Chroma store in tmp_path."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from auralink.memory import ChromaMemoryStore, Embedder, MemoryService

DIMS = 256
_WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder(Embedder):
    """Bag of hashed words (and their 4-letter prefixes): texts sharing words are similar. No model."""

    def __init__(self) -> None:
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                for token in (word, word[:4]):
                    h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
                    out[row, h % DIMS] += 1.0
            out[row, 0] += 0.01  # never all-zero
        normed: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
        return normed


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(params=["per_org", "shared"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: HashEmbedder
) -> AsyncIterator[ChromaMemoryStore]:
    s = ChromaMemoryStore.embedded(tmp_path / "memory", embedder=embedder, layout=request.param)
    try:
        yield s
    finally:
        await s.aclose()


@pytest.fixture
async def service(tmp_path: Path, embedder: HashEmbedder) -> AsyncIterator[MemoryService]:
    s = MemoryService(
        store=ChromaMemoryStore.embedded(tmp_path / "svc", embedder=embedder), embedder=embedder
    )
    try:
        yield s
    finally:
        await s.aclose()
