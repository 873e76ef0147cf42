"""The usage machinery one API process runs, made and closed by the app's lifespan.

:class:`UsageRuntime` holds the key directory (:mod:`.keys`), the API-call meter
(:mod:`.meter`) and the threshold watcher (:mod:`.thresholds`); ``start()`` starts the meter's
flush task and the watcher's periodic check, ``await aclose()`` stops both and writes the
last counts. Routes and middleware find it in ``app.state.usage``.
"""

from __future__ import annotations

__all__ = ["UsageRuntime"]

from collections.abc import Callable

from auralink.api.db import Database
from auralink.core import Settings

from .keys import KeyDirectory
from .meter import ApiCallMeter
from .plans import PlanSpec, usage_config
from .thresholds import ThresholdWatcher


class UsageRuntime:
    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        wake_webhooks: Callable[[], None] | None = None,
        flush_interval_s: float = 5.0,
        threshold_interval_s: float = 60.0,
        key_ttl_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.keys = KeyDirectory(database=database, ttl_s=key_ttl_s)
        self.thresholds = ThresholdWatcher(
            database=database, settings=settings, wake=wake_webhooks, interval_s=threshold_interval_s
        )
        self.meter = ApiCallMeter(
            database=database, flush_interval_s=flush_interval_s, on_flush=self.thresholds.check
        )

    def plan(self, name: str | None) -> PlanSpec:
        return usage_config(self.settings).plans.get(name)

    def start(self) -> None:
        self.meter.start()
        self.thresholds.start()

    async def aclose(self) -> None:
        await self.meter.aclose()
        await self.thresholds.aclose()
