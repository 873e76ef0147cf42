"""Retention for subjects who never come back: a periodic sweep of the memory store.

A conversation's end already drops its own subject's memories past the agent's
``memory.retention_days`` (auralink.agents.memory). Someone who never calls again would keep theirs
forever; this sweep removes them. Every ``memory_retention_sweep_s`` it walks each organisation's
agents (database agents over agents.yaml, as at run time; plus the ``local`` organisation of
terminal and dev-page conversations, which uses the file) and deletes, per agent, the memories that
agent wrote and nobody changed for its retention days. An agent with ``retention_days: null`` keeps
its memories; memories of agents that no longer exist are left alone (a deleted agent's retention
is unknown; GDPR erase still removes them).
"""

from __future__ import annotations

__all__ = ["RetentionSweeper"]

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from sqlalchemy import select

from auralink.core import Settings
from auralink.memory import LOCAL_ORG

from .agent_store import AgentStore
from .catalogue import CatalogueCache
from .db import Database
from .db.models import Organisation
from .memories import MemoryHandle

logger = logging.getLogger("auralink.api.memory")


class RetentionSweeper:
    def __init__(
        self,
        *,
        database: Database,
        catalogue: CatalogueCache,
        memories: MemoryHandle,
        settings: Settings,
    ) -> None:
        self._database = database
        self._catalogue = catalogue
        self._memories = memories
        self._interval = settings.memory_retention_sweep_s
        self._task: asyncio.Task[None] | None = None

    async def policies(self) -> dict[str, dict[str, int]]:
        """Retention days per organisation and agent (agents that keep forever left out)."""
        async with self._database.read_session() as session:
            org_ids = list(await session.scalars(select(Organisation.id)))
            store = AgentStore(session=session, catalogue=self._catalogue)
            found: dict[str, dict[str, int]] = {}
            for org_id in org_ids:
                found[org_id] = {
                    a.spec.name: a.spec.memory.retention_days
                    for a in await store.all(org_id)
                    if a.spec.memory.retention_days is not None
                }
            found[LOCAL_ORG] = {
                spec.name: spec.memory.retention_days
                for spec in (await store.catalogue()).agents
                if spec.memory.retention_days is not None
            }
        return found

    async def sweep(self, policies: Mapping[str, Mapping[str, int]] | None = None) -> int:
        """One pass; how many memories went."""
        if policies is None:
            policies = await self.policies()
        service = await self._memories.service()
        total = 0
        for org_id, agents in policies.items():
            for agent, days in agents.items():
                total += await service.purge_expired(retention_days=days, org_id=org_id, agent=agent)
        if total:
            logger.info("memory: retention sweep removed %d memories", total)
        return total

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="auralink-memory-retention")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a broken catalogue or store must not end the loop
                logger.warning("memory: retention sweep failed: %s: %s", type(e).__name__, e)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
