"""Long-term memories of the caller's organisation, per subject: list, search, add, delete, forget.

Memories are personal data: reading them is audited like a transcript read. Subjects are keys
``identity:<participant identity>``, ``phone:<number>`` or ``member:<member id>``, the way
agents key what they learn (auralink/agents/memory.py).
"""

from __future__ import annotations

__all__ = ["router"]

import logging
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response, status

from auralink.api.audit import audit_read
from auralink.api.auth import Principal
from auralink.api.deps import SessionDep, require, writes
from auralink.api.errors import NotFound
from auralink.api.memories import MemoryHandle
from auralink.api.permissions import Action
from auralink.api.schemas.memories import (
    MemoryCreate,
    MemoryForgotten,
    MemoryHit,
    MemoryPublic,
    MemorySearch,
    SubjectKey,
)
from auralink.memory import MemoryRecord, MemoryScope, MemoryService

from .common import AUTH, MISSING, TOO_LARGE, Responses

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/memories", tags=["memories"], responses=AUTH)

Reader = Annotated[Principal, Depends(require(Action.MEMORIES_READ))]
Writer = Annotated[Principal, Depends(require(Action.MEMORIES_WRITE))]
_UNAVAILABLE: Responses = {502: {"description": "the embeddings endpoint failed (search and add need it)"}}


async def _service(request: Request) -> MemoryService:
    handle: MemoryHandle = request.app.state.memories
    return await handle.service()


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _public(r: MemoryRecord) -> MemoryPublic:
    return MemoryPublic(
        id=r.id,
        subject=r.subject,
        kind=r.kind,
        text=r.text,
        agent=r.agent,
        conversation=r.conversation,
        created_at=_when(r.created_at),
        updated_at=_when(r.updated_at) if r.updated_at else None,
    )


@router.get("", dependencies=[Depends(writes)])  # the read is audited (a write)
async def list_memories(
    request: Request,
    session: SessionDep,
    principal: Reader,
    subject: Annotated[SubjectKey, Query(description="identity:<id>, phone:<number> or member:<id>")],
) -> list[MemoryPublic]:
    """Everything remembered about ``subject``, oldest first."""
    service = await _service(request)
    records = await service.store.export(principal.org_id, subject)
    await audit_read(session, "memories.read", detail={"memories": len(records)})
    return [_public(r) for r in records]


@router.post("/search", dependencies=[Depends(writes)], responses={**TOO_LARGE, **_UNAVAILABLE})
async def search(
    body: MemorySearch, request: Request, session: SessionDep, principal: Reader
) -> list[MemoryHit]:
    """The ``top_k`` memories of ``subject`` most relevant to ``query``, the way an agent recalls them."""
    service = await _service(request)
    found = await service.recall(
        MemoryScope(org_id=principal.org_id, subject=body.subject), body.query, top_k=body.top_k
    )
    await audit_read(session, "memories.search", detail={"memories": len(found)})
    return [MemoryHit(memory=_public(m.record), score=m.score, similarity=m.similarity) for m in found]


@router.post("", status_code=status.HTTP_201_CREATED, responses={**TOO_LARGE, **_UNAVAILABLE})
async def add(body: MemoryCreate, request: Request, principal: Writer) -> MemoryPublic:
    """Remember something about ``subject`` (as if an agent had learned it)."""
    service = await _service(request)
    record = MemoryRecord(org_id=principal.org_id, subject=body.subject, kind=body.kind, text=body.text)
    vector = await service.embedder.embed([record.text])
    await service.store.upsert([record], vectors=np.asarray(vector, dtype=np.float32))
    logger.info("memory %s added in %s", record.id, principal.org_id)
    return _public(record)


@router.delete("/{memory_id}", status_code=status.HTTP_204_NO_CONTENT, responses=MISSING)
async def delete(
    memory_id: str,
    request: Request,
    principal: Writer,
    subject: Annotated[SubjectKey, Query(description="whose memory it is")],
) -> Response:
    """Delete one memory of ``subject`` (404 if the subject has no memory with that id)."""
    service = await _service(request)
    ids = {r.id for r in await service.store.export(principal.org_id, subject)}
    if memory_id not in ids:
        raise NotFound("memory of this subject", memory_id)
    await service.store.delete(principal.org_id, [memory_id])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("")
async def forget(
    request: Request,
    principal: Writer,
    subject: Annotated[SubjectKey, Query(description="the subject to forget entirely")],
) -> MemoryForgotten:
    """Forget ``subject`` entirely (every memory, queued ones too); nothing of them is recalled after."""
    service = await _service(request)
    removed = await service.forget_subject(principal.org_id, subject)
    logger.info("memory: a subject forgotten in %s (%d records)", principal.org_id, removed)
    return MemoryForgotten(removed=removed)
