"""The long-term memory store as a GDPR place: a subject's memories are exported and erased
with the rest (registered on ``app.state.erasables`` as ``memories``).

The store is opened for each request and closed after it, so the API process holds no handle
on the folder the agent workers write to between GDPR requests.
"""

from __future__ import annotations

__all__ = ["MemoryErasable"]

from typing import Any

from auralink.core import Settings
from auralink.memory import MemoryService

from .subject import Subject


class MemoryErasable:
    """:class:`~auralink.api.gdpr.erasable.Erasable` over :class:`auralink.memory.MemoryService`."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings

    @staticmethod
    def _keys(subject: Subject) -> list[str]:
        """The memory subject keys that mean this subject (``<kind>:<value>``, see
        auralink.memory.Subject): a phone number with and without ``+``, and the identity a SIP
        caller had when the call carried no number attribute."""
        if subject.kind != "phone":
            return [f"{subject.kind}:{subject.value}"]
        bare = subject.value.removeprefix("+")
        sip = sorted(i for i in subject.identities() if i.startswith("sip_"))
        return [f"phone:+{bare}", f"phone:{bare}", *(f"identity:{i}" for i in sip)]

    async def export(self, subject: Subject) -> dict[str, Any]:
        service = MemoryService.from_settings(self._settings)
        try:
            found: list[dict[str, Any]] = []
            for key in self._keys(subject):
                found += await service.export(subject.org_id, key)
            return {"memories": found} if found else {}
        finally:
            await service.aclose()

    async def erase(self, subject: Subject) -> int:
        service = MemoryService.from_settings(self._settings)
        try:
            return sum([await service.forget_subject(subject.org_id, key) for key in self._keys(subject)])
        finally:
            await service.aclose()
