"""Meeting intelligence for members: a call's notes, and search across the organisation's archive.

``GET /v1/calls/{id}/notes`` answers the notes the worker wrote (JSON and Markdown), 404 while
there are none. ``GET /v1/search`` finds transcript lines and notes across calls by words
(``text``), by meaning (``semantic``, the archive index) or both (``hybrid``). Both are transcript
reads: they need ``transcripts:read`` and are written to the audit log (ids and counts only).
"""

from __future__ import annotations

__all__ = ["router"]

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, ValidationError

from auralink.api.archive import ArchiveHandle
from auralink.api.audit import audit_read
from auralink.api.auth import Principal
from auralink.api.calls.archive_search import ArchiveQuery, search_archive, snippet
from auralink.api.db import CallNotes
from auralink.api.deps import SessionDep, require, writes
from auralink.api.errors import NotFound
from auralink.api.permissions import Action
from auralink.api.schemas import ErrorBody
from auralink.api.schemas.meetings import NotesPublic, SearchHit, SearchMode, SearchPage
from auralink.core.meeting_notes import MeetingNotes

from .calls import _own
from .common import AUTH, MISSING

logger = logging.getLogger("auralink.api")

router = APIRouter(tags=["meetings"], responses=AUTH)

_FLUSH_WAIT_S = 5.0  # a semantic search waits this long at most for lines still being indexed

TranscriptReader = Annotated[Principal, Depends(require(Action.TRANSCRIPTS_READ))]


@router.get("/v1/calls/{call_id}/notes", tags=["calls"], responses=MISSING, dependencies=[Depends(writes)])
async def get_notes(call_id: str, session: SessionDep, principal: TranscriptReader) -> NotesPublic:
    """The call's meeting notes (summary, decisions, action items, open questions, follow-ups)."""
    call = await _own(session, principal, call_id)
    row = await session.get(CallNotes, call.id)
    if row is None:
        raise NotFound("notes of call", call_id)
    try:
        markdown = MeetingNotes.model_validate(row.notes).to_markdown()
    except ValidationError:  # notes stored by an older worker whose schema has since changed
        logger.warning("notes of call %s no longer match MeetingNotes; answered without Markdown", call.id)
        markdown = ""
    await audit_read(session, "notes.read", call.id)
    return NotesPublic(
        call_id=call.id, final=row.final, notes=row.notes, markdown=markdown, updated_at=row.updated_at
    )


@router.get(
    "/v1/search",
    dependencies=[Depends(writes)],  # an audited read
    responses={
        422: {"model": ErrorBody, "description": "a parameter is malformed"},
        502: {"model": ErrorBody, "description": "the embeddings endpoint (semantic search) failed"},
        503: {"model": ErrorBody, "description": "the archive index cannot be opened"},
    },
)
async def search(
    *,
    request: Request,
    session: SessionDep,
    principal: TranscriptReader,
    q: Annotated[str, Query(min_length=1, max_length=500, description="what to look for")],
    mode: Annotated[SearchMode, Query(description="text, semantic or hybrid")] = SearchMode.TEXT,
    since: Annotated[
        AwareDatetime | None, Query(alias="from", description="said at or after this time")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to", description="said before this time")] = None,
    participant: Annotated[
        str | None, Query(max_length=255, description="only calls this participant identity was in")
    ] = None,
    agent: Annotated[str | None, Query(max_length=63, description="only calls with this agent")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchPage:
    """Transcript lines and meeting notes of your organisation's calls that match ``q``, best first."""
    query = ArchiveQuery(
        org_id=principal.org_id,
        q=q.strip() or q,
        mode=mode.value,
        since=since,
        until=until,
        participant=participant,
        agent=agent,
        limit=limit,
    )
    store = None
    if mode is not SearchMode.TEXT:
        handle: ArchiveHandle = request.app.state.archive
        with contextlib.suppress(TimeoutError):  # what was reported just now is searchable
            await asyncio.wait_for(handle.flush(), timeout=_FLUSH_WAIT_S)
        store = await handle.store()
    hits = await search_archive(session, query, store)
    await audit_read(session, "transcripts.search", detail={"mode": mode.value, "hits": len(hits)})
    return SearchPage(
        mode=mode,
        items=[
            SearchHit(
                call_id=h.call_id,
                room=h.room,
                kind="notes" if h.kind == "notes" else "line",
                at=h.at,
                speaker=h.speaker,
                snippet=snippet(h.text, q),
                score=h.score,
            )
            for h in hits
        ],
    )
