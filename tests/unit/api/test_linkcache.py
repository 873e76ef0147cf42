"""The join-page link cache: entries expire, concurrent misses share one load, failures don't stick."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from auralink.api.linkcache import CachedLink, LinkCache
from auralink.api.schemas import LinkInfo, LinkState

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
INFO = CachedLink(
    info=LinkInfo(code="c", title="Coffee", agent="barista", passcode_required=False), state=None
)


async def test_fifty_concurrent_misses_cost_one_load() -> None:
    cache = LinkCache(ttl_s=5)
    loads = 0

    async def load() -> CachedLink:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        cache.put("c", INFO, expires_at=None, now=NOW)
        return INFO

    answers = await asyncio.gather(*(cache.resolve("c", load) for _ in range(50)))
    assert loads == 1 and all(a is INFO for a in answers)
    assert await cache.resolve("c", load) is INFO and loads == 1  # now a hit


async def test_a_failed_load_is_not_shared_or_kept() -> None:
    cache = LinkCache(ttl_s=5)
    calls = 0

    async def load() -> CachedLink:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError("database down")
        return CachedLink(info=None, state=LinkState.REVOKED)

    results = await asyncio.gather(*(cache.resolve("c", load) for _ in range(3)), return_exceptions=True)
    assert isinstance(results[0], ConnectionError)
    assert all(isinstance(r, CachedLink) and r.state is LinkState.REVOKED for r in results[1:])
    assert len(cache) == 0  # load stores through put(); these loads stored nothing


def test_entries_live_no_longer_than_the_ttl_or_the_links_expiry() -> None:
    cache = LinkCache(ttl_s=60)
    cache.put("soon", INFO, expires_at=NOW + timedelta(seconds=0), now=NOW)
    assert cache.get("soon") is None
    cache.put("c", INFO, expires_at=None, now=NOW)
    assert cache.get("c") is INFO
    cache.forget("c")
    assert cache.get("c") is None
    off = LinkCache(ttl_s=0)
    off.put("c", INFO, expires_at=None, now=NOW)
    assert off.get("c") is None


@pytest.mark.parametrize("size", [3])
def test_the_cache_is_bounded(size: int) -> None:
    cache = LinkCache(ttl_s=60, max_entries=size)
    for i in range(size + 2):
        cache.put(f"c{i}", INFO, expires_at=None, now=NOW)
    assert len(cache) == size and cache.get("c0") is None and cache.get(f"c{size + 1}") is INFO


async def test_a_stale_entry_is_answered_at_once_and_refreshed_in_the_background() -> None:
    cache = LinkCache(ttl_s=0.05)
    cache.put("c", INFO, expires_at=None, now=NOW)
    await asyncio.sleep(0.06)  # past fresh (at most 0.05 s), inside stale (at least 0.0875 s)
    assert cache.get("c") is None
    newer = CachedLink(info=None, state=LinkState.REVOKED)
    loads = 0

    async def slow_load() -> CachedLink:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.02)
        cache.put("c", newer, expires_at=None, now=NOW)
        return newer

    answers = await asyncio.gather(*(cache.resolve("c", slow_load) for _ in range(10)))
    assert all(a is INFO for a in answers)  # nobody waited for the database
    await asyncio.sleep(0.05)
    assert loads == 1 and await cache.resolve("c", slow_load) is newer
    await cache.aclose()
