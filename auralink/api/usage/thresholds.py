"""``usage.threshold`` webhook events: once per organisation, quota, month and threshold (80 %, 100 %).

The event id is derived from (organisation, quota, month, threshold), so "already sent" is
"a delivery with this event id exists for this endpoint" in the outbox: no extra table, an
endpoint added later in the month still hears about a threshold crossed before, and should
two API processes race, the copies share one id that receivers dedupe on.

Only organisations with an enabled endpoint subscribed to ``usage.threshold`` are checked:
after each meter flush for the organisations it wrote, and every ``interval_s`` for all of
them (call-side usage is written by the worker's reports, not by this process).
"""

from __future__ import annotations

__all__ = ["THRESHOLDS", "ThresholdWatcher", "check_thresholds", "threshold_event_id"]

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Database, WebhookDelivery, WebhookEndpoint, utcnow
from auralink.api.webhooks import UsageThreshold, enqueue_to
from auralink.api.webhooks.events import UsageThresholdData
from auralink.core import Settings

from .periods import month_of
from .quotas import org_plan, quota_states

logger = logging.getLogger("auralink.api")

THRESHOLDS: tuple[int, ...] = (80, 100)
_EVENT = "usage.threshold"


def threshold_event_id(org_id: str, quota: str, period: str, threshold: int) -> str:
    digest = hashlib.sha256(f"{org_id}\0{quota}\0{period}\0{threshold}".encode()).hexdigest()
    return f"evt_{digest[:16]}"


def _subscribed(endpoint: WebhookEndpoint) -> bool:
    return endpoint.enabled and (not endpoint.events or _EVENT in endpoint.events)


async def check_thresholds(
    session: AsyncSession, *, settings: Settings, org_id: str, now: datetime | None = None
) -> int:
    """Enqueue the thresholds ``org_id`` crossed this month not yet sent; not committed. How many."""
    endpoints = [
        e
        for e in await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.org_id == org_id))
        if _subscribed(e)
    ]
    if not endpoints:
        return 0
    plan = await org_plan(session, settings=settings, org_id=org_id)
    period = month_of(now or utcnow())
    crossed: list[tuple[UsageThresholdData, str]] = []
    for state in await quota_states(session, org_id=org_id, plan=plan, period=period):
        fraction = state.fraction
        if fraction is None or state.limit is None:
            continue
        for threshold in THRESHOLDS:
            if fraction * 100 >= threshold:
                data = UsageThresholdData(
                    metric=state.quota.value,
                    used=round(state.used, 3),
                    limit=state.limit,
                    threshold=threshold,
                    period=period.label,
                )
                crossed.append((data, threshold_event_id(org_id, state.quota.value, period.label, threshold)))
    if not crossed:
        return 0
    sent = set(
        (
            await session.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                    WebhookDelivery.org_id == org_id,
                    WebhookDelivery.event_id.in_([event_id for _, event_id in crossed]),
                )
            )
        ).all()
    )
    queued = 0
    for data, event_id in crossed:
        event = UsageThreshold(id=event_id, org_id=org_id, data=data)
        for endpoint in endpoints:
            if (endpoint.id, event_id) not in sent:
                enqueue_to(session, endpoint, event)
                queued += 1
    if queued:
        logger.info("usage.threshold: %d delivery(ies) queued for %s", queued, org_id)
    return queued


class ThresholdWatcher:
    """Checks thresholds for given organisations, and all subscribed ones every ``interval_s``."""

    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        wake: Callable[[], None] | None = None,
        interval_s: float = 60.0,
    ) -> None:
        self._db = database
        self._settings = settings
        self._wake = wake
        self._interval = interval_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def check(self, org_ids: Iterable[str] | None = None) -> int:
        """Check ``org_ids`` (default: every organisation with a subscribed endpoint); deliveries queued."""
        async with self._lock, self._db.session() as session:
            if org_ids is None:
                rows = await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
                org_ids = {e.org_id for e in rows if _subscribed(e)}
            queued = 0
            for org_id in sorted(set(org_ids)):
                queued += await check_thresholds(session, settings=self._settings, org_id=org_id)
            await session.commit()
        if queued and self._wake is not None:
            self._wake()
        return queued

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auralink-usage-thresholds")

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a database hiccup must not end the watcher
                logger.warning("usage thresholds: round failed: %s", type(e).__name__)
            await asyncio.sleep(self._interval)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
