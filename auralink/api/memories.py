"""The API's handle on the long-term memory store: opened on first use, closed with the app."""

from __future__ import annotations

__all__ = ["MemoryHandle"]

import asyncio

from auralink.core import Settings
from auralink.memory import MemoryService


class MemoryHandle:
    """One :class:`MemoryService` for the API process, made when a memory route first needs it."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings
        self._service: MemoryService | None = None
        self._lock = asyncio.Lock()

    async def service(self) -> MemoryService:
        async with self._lock:
            if self._service is None:
                self._service = await asyncio.to_thread(MemoryService.from_settings, self._settings)
            return self._service

    async def aclose(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            await service.aclose()
