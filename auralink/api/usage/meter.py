"""API-call metering: counted in memory per request, written as aggregated ``usage_records`` rows.

Counting must cost nothing a benchmark would see, so :meth:`ApiCallMeter.count` only bumps a
dict entry; a background task writes one ``api_calls`` row per organisation every
``flush_interval_s`` (and a last one at shutdown), then calls ``on_flush`` with the
organisations it wrote for (the usage.threshold check). A flush that fails keeps its counts
for the next one.

For the monthly API-call quota :meth:`ApiCallMeter.used` is this month's stored total (read
once per organisation, re-read every ``refresh_s`` to see other API instances' rows) plus
what this process counted since. Across instances the quota is therefore enforced within a
few seconds' worth of calls.
"""

from __future__ import annotations

__all__ = ["ApiCallMeter"]

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from auralink.api.db import Database, UsageRecord, new_id, utcnow

from .periods import Period, month_of

logger = logging.getLogger("auralink.api")

OnFlush = Callable[[set[str]], Awaitable[object]]


class ApiCallMeter:
    """Counts authenticated API calls per (organisation, key); ``start()``, ``await aclose()``."""

    def __init__(
        self,
        *,
        database: Database,
        flush_interval_s: float = 5.0,
        refresh_s: float = 30.0,
        on_flush: OnFlush | None = None,
    ) -> None:
        self._db = database
        self._interval = flush_interval_s
        self._refresh_s = refresh_s
        self._on_flush = on_flush
        self._pending: dict[tuple[str, str], int] = {}
        self._pending_org: dict[str, int] = {}
        self._period = month_of(utcnow())
        self._stored: dict[str, float] = {}  # this period's stored total per organisation
        self._read_at: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def count(self, org_id: str, key_id: str) -> None:
        """One authenticated call by ``key_id`` of ``org_id`` (no I/O)."""
        pair = (org_id, key_id)
        self._pending[pair] = self._pending.get(pair, 0) + 1
        self._pending_org[org_id] = self._pending_org.get(org_id, 0) + 1

    def pending(self) -> int:
        return sum(self._pending_org.values())

    async def used(self, org_id: str) -> float:
        """API calls of ``org_id`` this month: stored rows plus this process's unflushed count."""
        self._roll(utcnow())
        if org_id not in self._stored:
            await self._read({org_id})
        return self._stored.get(org_id, 0.0) + self._pending_org.get(org_id, 0)

    def _roll(self, now: datetime) -> Period:
        period = month_of(now)
        if period != self._period:
            self._period = period
            self._stored.clear()
            self._read_at.clear()
        return period

    async def _read(self, org_ids: set[str]) -> None:
        period = self._period
        try:
            async with self._db.session() as session:
                rows = await session.execute(
                    select(UsageRecord.org_id, func.sum(UsageRecord.quantity))
                    .where(
                        UsageRecord.org_id.in_(org_ids),
                        UsageRecord.metric == "api_calls",
                        UsageRecord.occurred_at >= period.start,
                        UsageRecord.occurred_at < period.end,
                    )
                    .group_by(UsageRecord.org_id)
                )
                totals = {org: float(total or 0) for org, total in rows.all()}
        except SQLAlchemyError as e:
            logger.warning("usage meter: cannot read API-call totals: %s", type(e).__name__)
            return
        now = time.monotonic()
        for org in org_ids:
            self._stored[org] = totals.get(org, 0.0)
            self._read_at[org] = now

    async def flush(self) -> int:
        """Write what was counted since the last flush; how many calls were written."""
        async with self._lock:
            self._roll(utcnow())
            pending, self._pending = self._pending, {}
            by_org, self._pending_org = self._pending_org, {}
            if not by_org:
                written: set[str] = set()
            else:
                now = utcnow()
                try:
                    async with self._db.session() as session, session.begin():
                        session.add_all(
                            UsageRecord(
                                id=new_id("use"),
                                org_id=org,
                                metric="api_calls",
                                quantity=float(n),
                                occurred_at=now,
                            )
                            for org, n in by_org.items()
                        )
                except SQLAlchemyError as e:  # keep the counts for the next round
                    logger.warning("usage meter: flush failed, kept for later: %s", type(e).__name__)
                    for pair, n in pending.items():
                        self.count_many(pair, n)
                    return 0
                for org, n in by_org.items():
                    if org in self._stored:
                        self._stored[org] += n
                written = set(by_org)
            stale = {o for o, at in self._read_at.items() if time.monotonic() - at >= self._refresh_s}
            if stale:
                await self._read(stale)
        if written and self._on_flush is not None:
            try:
                await self._on_flush(written)
            except Exception as e:  # the threshold check must not stop metering
                logger.warning("usage meter: after-flush check failed: %s", type(e).__name__)
        return sum(by_org.values())

    def count_many(self, pair: tuple[str, str], n: int) -> None:
        self._pending[pair] = self._pending.get(pair, 0) + n
        self._pending_org[pair[0]] = self._pending_org.get(pair[0], 0) + n

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auralink-usage-meter")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("usage meter: round failed: %s", type(e).__name__)

    async def aclose(self) -> None:
        """Stop the task and write what is still counted."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
