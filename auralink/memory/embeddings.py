"""Embeddings over HTTP from any OpenAI-compatible ``/v1/embeddings`` endpoint, and a query cache.

By default the endpoint is AuraLink's own model server (all-MiniLM-L6-v2 int8, 384 dimensions);
BYOK points ``AURALINK_MEMORY_EMBEDDINGS_URL``/``_MODEL`` at another server and names the env var
holding its key in ``AURALINK_MEMORY_EMBEDDINGS_API_KEY_ENV``. Failures are wrapped into
:class:`~auralink.core.errors.ProviderError` naming the setting to check.
"""

from __future__ import annotations

__all__ = ["CachedEmbedder", "HttpEmbedder"]

import os
from collections import OrderedDict
from collections.abc import Sequence

import httpx
import numpy as np

from auralink.core.errors import MissingCredential, ProviderError, ProviderTimeout

from .base import Embedder

_URL_SETTING = "AURALINK_MEMORY_EMBEDDINGS_URL"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: np.ndarray = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
    return out


class HttpEmbedder(Embedder):
    """POSTs batches of texts to ``<base_url>/embeddings``; vectors come back L2-normalised."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        batch_size: int = 128,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers: dict[str, str] = {}
        if api_key_env:
            key = os.environ.get(api_key_env, "").strip()
            if not key:
                raise MissingCredential(api_key_env, what="the memory embeddings endpoint")
            headers["Authorization"] = f"Bearer {key}"
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._batch = max(1, batch_size)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        parts = [
            await self._post(list(texts[i : i + self._batch])) for i in range(0, len(texts), self._batch)
        ]
        return _normalise(np.concatenate(parts, axis=0))

    async def _post(self, texts: list[str]) -> np.ndarray:
        where = (
            f"{self.base_url}/embeddings (model {self.model!r}; check {_URL_SETTING} and the model setting)"
        )
        try:
            r = await self._http.post("/embeddings", json={"input": texts, "model": self.model})
        except httpx.TimeoutException as e:
            raise ProviderTimeout(f"memory embeddings timed out at {where}") from e
        except httpx.TransportError as e:
            raise ProviderError(f"memory embeddings unreachable at {where}: {e}", retryable=True) from e
        if r.status_code != 200:
            raise ProviderError(
                f"memory embeddings failed at {where}: HTTP {r.status_code} {r.text[:200]}",
                retryable=r.status_code >= 500 or r.status_code == 429,
            )
        try:
            data = sorted(r.json()["data"], key=lambda d: d["index"])
            vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise ProviderError(f"memory embeddings: unexpected response from {where}") from e
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ProviderError(
                f"memory embeddings: {vectors.shape[0]} vectors for {len(texts)} texts from {where}"
            )
        return vectors

    async def aclose(self) -> None:
        await self._http.aclose()


class CachedEmbedder(Embedder):
    """An in-process LRU of embeddings in front of another embedder (repeated queries cost nothing)."""

    def __init__(self, inner: Embedder, *, size: int = 2048) -> None:
        self.inner = inner
        self._size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        if missing:
            for text, vector in zip(missing, await self.inner.embed(missing), strict=True):
                self._cache[text] = vector
        out = []
        for text in texts:
            self._cache.move_to_end(text)
            out.append(self._cache[text])
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)

    def clear(self) -> None:
        self._cache.clear()

    async def aclose(self) -> None:
        self._cache.clear()
        await self.inner.aclose()
