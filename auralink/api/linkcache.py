"""Recently resolved share links, by code: what ``GET /j/<code>/info`` answers, kept briefly.

The join page asks for a link's info on every visit; a popular link would otherwise cost a
database round trip per visitor. An entry lives ``ttl_s`` seconds (never past the link's own
expiry) and is dropped at once, in this process, when the link is changed, revoked or used
(:meth:`LinkCache.forget`); another API process sees a change within twice ``ttl_s``. Concurrent
misses of one code share a single database read (:meth:`LinkCache.resolve`), so an entry that
expires under load costs one query, not one per waiting visitor. Only the info answer is
cached: opening a link and starting a session always read and write the database.
"""

from __future__ import annotations

__all__ = ["CachedLink", "LinkCache"]

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from auralink.core.tasks import TaskSet

from .schemas import LinkInfo, LinkState

logger = logging.getLogger("auralink.api")


@dataclass(frozen=True, slots=True)
class CachedLink:
    """What the info route answers for a code: the info, or why there is none (None = no link)."""

    info: LinkInfo | None
    state: LinkState | None


class LinkCache:
    """A bounded, time-limited map from link code to :class:`CachedLink`; one per app.

    An entry is *fresh* for ``ttl_s`` (less a random quarter, so entries made together do not
    expire together), then *stale* for another ``ttl_s``: while one request reloads a stale
    entry, the others get the stale answer at once instead of queueing behind the database.
    Entries never outlive the link's own expiry.
    """

    def __init__(self, *, ttl_s: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, float, CachedLink]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[CachedLink | None]] = {}
        self._tasks = TaskSet()

    async def resolve(self, code: str, load: Callable[[], Awaitable[CachedLink]]) -> CachedLink:
        """The cached answer, or ``load()``'s (``load`` opens its own database session and
        stores what it read with :meth:`put`).

        A stale answer is returned at once while ``load`` refreshes it in the background (one
        refresh per code at a time); a miss waits for a load, shared by concurrent misses of the
        same code (each loads on its own if that load failed)."""
        entry = self._entries.get(code)
        if entry is not None:
            fresh_until, stale_until, cached = entry
            now = time.monotonic()
            if now < fresh_until:
                return cached
            if now < stale_until:
                if code not in self._loading:
                    self._refresh(code, load)
                return cached
            del self._entries[code]
        pending = self._loading.get(code)
        if pending is not None:
            shared = await asyncio.shield(pending)
            return shared if shared is not None else await load()
        return await self._load(self._begin(code), code, load)

    def _begin(self, code: str) -> asyncio.Future[CachedLink | None]:
        """Mark a load of ``code`` as running (synchronously, so nobody starts a second one)."""
        future: asyncio.Future[CachedLink | None] = asyncio.get_running_loop().create_future()
        self._loading[code] = future
        return future

    async def _load(
        self,
        future: asyncio.Future[CachedLink | None],
        code: str,
        load: Callable[[], Awaitable[CachedLink]],
    ) -> CachedLink:
        result: CachedLink | None = None
        try:
            result = await load()
            return result
        finally:
            del self._loading[code]
            future.set_result(result)  # None when the load failed: waiters try themselves

    def _refresh(self, code: str, load: Callable[[], Awaitable[CachedLink]]) -> None:
        future = self._begin(code)

        async def refresh() -> None:
            try:
                await self._load(future, code, load)
            except Exception as e:  # the stale answer stays until it expires; the next miss retries
                logger.warning("refreshing a cached link failed: %s", type(e).__name__)

        self._tasks.spawn(refresh())

    async def aclose(self) -> None:
        """Stop background refreshes (the app's lifespan calls this at shutdown)."""
        await self._tasks.aclose()

    def get(self, code: str) -> CachedLink | None:
        """The fresh answer for ``code``, if there is one."""
        entry = self._entries.get(code)
        if entry is None or time.monotonic() >= entry[0]:
            return None
        return entry[2]

    def put(self, code: str, cached: CachedLink, *, expires_at: datetime | None, now: datetime) -> None:
        if self.ttl_s <= 0:
            return
        fresh = self.ttl_s * (0.75 + 0.25 * random.random())  # noqa: S311 - jitter, not a secret
        stale = fresh + self.ttl_s
        if expires_at is not None:
            left = max(0.0, (expires_at - now).total_seconds())
            fresh, stale = min(fresh, left), min(stale, left)
        at = time.monotonic()
        self._entries[code] = (at + fresh, at + stale, cached)
        self._entries.move_to_end(code)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, code: str) -> None:
        self._entries.pop(code, None)

    def __len__(self) -> int:
        return len(self._entries)
