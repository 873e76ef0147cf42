"""The OpenAI-compatible embedder: batching, normalising, errors that name the setting; the LRU."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from auralink.core.errors import MissingCredential, ProviderError
from auralink.memory import CachedEmbedder, HttpEmbedder


def _server(seen: list[dict[str, object]], status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"body": body, "auth": request.headers.get("authorization")})
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "nope"}})
        data = [{"index": i, "embedding": [float(len(t)), 0.0, 3.0]} for i, t in enumerate(body["input"])]
        return httpx.Response(200, json={"object": "list", "data": data[::-1]})

    return httpx.MockTransport(handler)


async def test_batches_and_normalises() -> None:
    seen: list[dict[str, object]] = []
    e = HttpEmbedder(base_url="http://emb/v1", model="mini", batch_size=2, transport=_server(seen))
    vectors = await e.embed(["abcd", "a", "abcd"])
    await e.aclose()
    assert [len(s["body"]["input"]) for s in seen] == [2, 1]  # type: ignore[index]
    assert seen[0]["body"]["model"] == "mini"  # type: ignore[index]
    assert vectors.shape == (3, 3)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], [0.8, 0.0, 0.6], rtol=1e-5)


async def test_byok_key_comes_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_EMB_KEY", raising=False)
    with pytest.raises(MissingCredential, match="MY_EMB_KEY"):
        HttpEmbedder(base_url="http://emb/v1", model="m", api_key_env="MY_EMB_KEY")
    monkeypatch.setenv("MY_EMB_KEY", "sk-test")
    seen: list[dict[str, object]] = []
    e = HttpEmbedder(base_url="http://emb/v1", model="m", api_key_env="MY_EMB_KEY", transport=_server(seen))
    await e.embed(["x"])
    await e.aclose()
    assert seen[0]["auth"] == "Bearer sk-test"


async def test_failures_name_the_setting() -> None:
    e = HttpEmbedder(base_url="http://emb/v1", model="m", transport=_server([], status=404))
    with pytest.raises(ProviderError, match="AURALINK_MEMORY_EMBEDDINGS_URL") as info:
        await e.embed(["x"])
    assert not info.value.retryable
    await e.aclose()
    down = HttpEmbedder(base_url="http://127.0.0.1:9/v1", model="m")  # nothing listens on the discard port
    with pytest.raises(ProviderError, match="unreachable.*AURALINK_MEMORY_EMBEDDINGS_URL"):
        await down.embed(["x"])
    await down.aclose()


async def test_lru_embeds_a_repeated_query_once() -> None:
    seen: list[dict[str, object]] = []
    cached = CachedEmbedder(
        HttpEmbedder(base_url="http://emb/v1", model="m", transport=_server(seen)), size=2
    )
    first = await cached.embed_one("hello")
    again = await cached.embed_one("hello")
    np.testing.assert_array_equal(first, again)
    assert len(seen) == 1 and cached.hits == 1
    await cached.embed(["a", "b"])  # evicts "hello"
    await cached.embed_one("hello")
    assert len(seen) == 3
    await cached.aclose()
