"""Recently resolved share links, by code: what ``GET /j/<code>/info`` answers, kept briefly.

The join page asks for a link's info on every visit; a popular link would otherwise cost a
database round trip per visitor. An entry lives ``ttl_s`` seconds (never past the link's own
expiry) and is dropped at once, in this process, when the link is changed, revoked or used
(:meth:`LinkCache.forget`); another API process sees a change within ``ttl_s``. Concurrent
misses of one code share a single database read (:meth:`LinkCache.resolve`), so an entry that
expires under load costs one query, not one per waiting visitor. Only the info answer is
cached: opening a link and starting a session always read and write the database.
"""

from __future__ import annotations

__all__ = ["CachedLink", "LinkCache"]

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from .schemas import LinkInfo, LinkState


@dataclass(frozen=True, slots=True)
class CachedLink:
    """What the info route answers for a code: the info, or why there is none (None = no link)."""

    info: LinkInfo | None
    state: LinkState | None


class LinkCache:
    """A bounded, time-limited map from link code to :class:`CachedLink`; one per app."""

    def __init__(self, *, ttl_s: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, CachedLink]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[CachedLink | None]] = {}

    async def resolve(self, code: str, load: Callable[[], Awaitable[CachedLink]]) -> CachedLink:
        """The cached answer, or ``load()``'s (stored by ``load`` itself with :meth:`put`);
        callers that miss while a load of the same code runs wait for that one (and load on
        their own if it failed)."""
        cached = self.get(code)
        if cached is not None:
            return cached
        pending = self._loading.get(code)
        if pending is not None:
            shared = await asyncio.shield(pending)
            return shared if shared is not None else await load()
        future: asyncio.Future[CachedLink | None] = asyncio.get_running_loop().create_future()
        self._loading[code] = future
        result: CachedLink | None = None
        try:
            result = await load()
            return result
        finally:
            del self._loading[code]
            future.set_result(result)  # None when the load failed: waiters try themselves

    def get(self, code: str) -> CachedLink | None:
        entry = self._entries.get(code)
        if entry is None:
            return None
        until, cached = entry
        if time.monotonic() >= until:
            del self._entries[code]
            return None
        return cached

    def put(self, code: str, cached: CachedLink, *, expires_at: datetime | None, now: datetime) -> None:
        if self.ttl_s <= 0:
            return
        ttl = self.ttl_s
        if expires_at is not None:
            ttl = min(ttl, max(0.0, (expires_at - now).total_seconds()))
        self._entries[code] = (time.monotonic() + ttl, cached)
        self._entries.move_to_end(code)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, code: str) -> None:
        self._entries.pop(code, None)

    def __len__(self) -> int:
        return len(self._entries)
