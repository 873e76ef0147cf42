"""De-duplication of new facts against what is stored: update, don't pile up.

A new fact or preference replaces a stored one of the same subject when both fill the same
*slot* (``name``, ``birthday``, ``wife_name`` …: single-valued, the newer value wins) or when
they say nearly the same thing (same kind, cosine similarity of their embeddings at or above
``threshold``). The stored record keeps its id and ``created_at``; text, ``updated_at`` and the
conversation move to the new statement.
"""

from __future__ import annotations

__all__ = ["DEFAULT_THRESHOLD", "plan_upserts"]

import time
from collections.abc import Sequence

import numpy as np

from .base import Embedder, MemoryStore
from .extraction import Extracted
from .types import MemoryRecord, MemoryScope

DEFAULT_THRESHOLD = 0.9
_MAX_PROFILE = 500


async def plan_upserts(
    *,
    store: MemoryStore,
    embedder: Embedder,
    org_id: str,
    subject: str,
    items: Sequence[Extracted],
    agent: str = "",
    conversation: str = "",
    threshold: float = DEFAULT_THRESHOLD,
    now: float | None = None,
) -> tuple[list[MemoryRecord], np.ndarray]:
    """The records to upsert for ``items`` (existing ids reused where they duplicate) and their vectors."""
    if not items:
        return [], np.zeros((0, 0), dtype=np.float32)
    now = time.time() if now is None else now
    scope = MemoryScope(org_id=org_id, subject=subject)
    existing = await store.recent(scope, kinds=("fact", "preference"), limit=_MAX_PROFILE)
    stored = await store.vectors(org_id, [r.id for r in existing])
    known: list[tuple[MemoryRecord, np.ndarray]] = [(r, stored[r.id]) for r in existing if r.id in stored]
    new_vectors = await embedder.embed([i.text for i in items])

    planned: dict[str, tuple[MemoryRecord, np.ndarray]] = {}
    for item, vector in zip(items, new_vectors, strict=True):
        match = _match(item, vector, [*planned.values(), *known], threshold)
        if match is not None:
            record = match.updated(
                text=item.text,
                updated_at=now,
                conversation=conversation or match.conversation,
                importance=max(match.importance, item.importance),
                slot=match.slot or item.slot,
            )
        else:
            record = MemoryRecord(
                org_id=org_id,
                subject=subject,
                agent=agent,
                conversation=conversation,
                kind=item.kind,
                text=item.text,
                slot=item.slot,
                importance=item.importance,
                created_at=now,
            )
        planned[record.id] = (record, vector)
    records = [r for r, _ in planned.values()]
    return records, np.stack([v for _, v in planned.values()])


def _match(
    item: Extracted, vector: np.ndarray, known: Sequence[tuple[MemoryRecord, np.ndarray]], threshold: float
) -> MemoryRecord | None:
    if item.slot:
        for record, _ in known:
            if record.slot == item.slot:
                return record
    best, best_sim = None, threshold
    for record, stored in known:
        if record.kind != item.kind:
            continue
        sim = float(np.dot(stored, vector))
        if sim >= best_sim:
            best, best_sim = record, sim
    return best
