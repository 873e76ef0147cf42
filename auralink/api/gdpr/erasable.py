"""Places outside the API's tables that hold data about a subject, and their registry.

The memory store and recordings implement :class:`Erasable` and register themselves on
``app.state.erasables`` (an :class:`ErasableRegistry` made in :func:`auralink.api.create_app`);
every GDPR export and erase calls each one after the API's own tables.
"""

from __future__ import annotations

__all__ = ["Erasable", "ErasableRegistry"]

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from .subject import Subject


@runtime_checkable
class Erasable(Protocol):
    """A store that can export and erase what it keeps about a subject (in ``subject.org_id``)."""

    async def export(self, subject: Subject) -> dict[str, Any]:
        """Everything kept about ``subject``, as JSON-ready data (empty when nothing is)."""
        ...

    async def erase(self, subject: Subject) -> int:
        """Remove it; the number of records removed. Erasing twice removes nothing the second time."""
        ...


class ErasableRegistry:
    """Named :class:`Erasable` stores; the name is the file in the export and the key in erase counts."""

    def __init__(self) -> None:
        self._stores: dict[str, Erasable] = {}

    def register(self, name: str, store: Erasable) -> None:
        if name in self._stores:
            raise ValueError(f"an erasable store named {name!r} is already registered")
        self._stores[name] = store

    def unregister(self, name: str) -> None:
        self._stores.pop(name, None)

    def __iter__(self) -> Iterator[tuple[str, Erasable]]:
        return iter(list(self._stores.items()))

    def __len__(self) -> int:
        return len(self._stores)
