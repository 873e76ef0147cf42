"""The searchable archive: transcript lines and meeting notes across an organisation's calls.

- **text**: every word of the query appears (case-blind substring, ``ILIKE`` on PostgreSQL and
  ``lower() LIKE`` on SQLite, ``%``/``_`` literal); newest first, scored by how often the words occur;
- **semantic**: the nearest entries in the archive index (:class:`~auralink.memory.ArchiveStore`),
  scored by cosine similarity;
- **hybrid**: both, merged by reciprocal rank fusion (``1/(60 + rank)`` summed per hit).

Every hit is read back from the database with the filters applied there (time, agent,
participant, organisation), so the index can never show what the database no longer holds.
"""

from __future__ import annotations

__all__ = ["ArchiveQuery", "Hit", "search_archive"]

import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from auralink.api.db import Call, CallNotes, CallParticipant, CallTurn
from auralink.memory import ArchiveStore

from .search import _like

_RRF_K = 60
_Spoken = aliased(CallTurn)  # "spoke in the call", apart from the lines searched
_SNIPPET = 160


@dataclass(frozen=True, slots=True)
class ArchiveQuery:
    org_id: str
    q: str
    mode: str = "text"  # text | semantic | hybrid
    since: datetime | None = None
    until: datetime | None = None
    participant: str | None = None
    agent: str | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class Hit:
    key: str  # the line's id, or notes:<call id>
    call_id: str
    room: str
    kind: str  # line | notes
    at: datetime
    speaker: str | None
    text: str
    score: float


def _words(q: str) -> list[str]:
    return [w for w in q.split() if w][:8] or [q]


def snippet(text: str, q: str) -> str:
    """About :data:`_SNIPPET` characters of ``text`` around the first word of ``q`` it holds."""
    flat = " ".join(text.split())
    lowered = flat.lower()
    starts = [i for w in _words(q) if (i := lowered.find(w.lower())) >= 0]
    if len(flat) <= _SNIPPET:
        return flat
    at = min(starts) if starts else 0
    begin = max(0, at - _SNIPPET // 3)
    end = min(len(flat), begin + _SNIPPET)
    return ("…" if begin else "") + flat[begin:end] + ("…" if end < len(flat) else "")


def _call_filters(query: ArchiveQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Call.org_id == query.org_id]
    if query.agent is not None:
        where.append(Call.agent == query.agent)
    if query.participant is not None:
        where.append(
            or_(
                exists().where(
                    CallParticipant.call_id == Call.id, CallParticipant.identity == query.participant
                ),
                exists().where(_Spoken.call_id == Call.id, _Spoken.speaker == query.participant),
            )
        )
    return where


def _line_time(query: ArchiveQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if query.since is not None:
        out.append(CallTurn.spoken_at >= query.since)
    if query.until is not None:
        out.append(CallTurn.spoken_at < query.until)
    return out


def _notes_time(query: ArchiveQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if query.since is not None:
        out.append(Call.started_at >= query.since)
    if query.until is not None:
        out.append(Call.started_at < query.until)
    return out


def _occurrences(text: str, q: str) -> int:
    lowered = text.lower()
    return sum(len(re.findall(re.escape(w.lower()), lowered)) for w in _words(q))


async def _text(session: AsyncSession, query: ArchiveQuery, limit: int) -> list[Hit]:
    words = _words(query.q)
    line_match = and_(*(CallTurn.text.ilike(_like(w), escape="\\") for w in words))
    notes_match = and_(*(CallNotes.search_text.ilike(_like(w), escape="\\") for w in words))
    lines = await session.execute(
        select(CallTurn, Call)
        .join(Call, Call.id == CallTurn.call_id)
        .where(*_call_filters(query), *_line_time(query), line_match)
        .order_by(CallTurn.spoken_at.desc(), CallTurn.id.desc())
        .limit(limit)
    )
    notes = await session.execute(
        select(CallNotes, Call)
        .join(Call, Call.id == CallNotes.call_id)
        .where(*_call_filters(query), *_notes_time(query), notes_match)
        .order_by(Call.started_at.desc())
        .limit(limit)
    )
    hits = [_line_hit(t, c, 0.0) for t, c in lines] + [_notes_hit(n, c, 0.0) for n, c in notes]
    scored = [replace(h, score=round(1 - 1 / (1 + _occurrences(h.text, query.q)), 4)) for h in hits]
    scored.sort(key=lambda h: (h.score, h.at), reverse=True)
    return scored[:limit]


def _line_hit(t: CallTurn, c: Call, score: float) -> Hit:
    return Hit(
        key=t.id, call_id=c.id, room=c.room_name, kind="line", at=t.spoken_at, speaker=t.speaker,
        text=t.text, score=score,
    )  # fmt: skip


def _notes_hit(n: CallNotes, c: Call, score: float) -> Hit:
    return Hit(
        key=f"notes:{c.id}", call_id=c.id, room=c.room_name, kind="notes", at=n.updated_at, speaker=None,
        text=n.search_text, score=score,
    )  # fmt: skip


async def _semantic(session: AsyncSession, query: ArchiveQuery, store: ArchiveStore, limit: int) -> list[Hit]:
    found = await store.search(query.org_id, query.q, limit=min(limit * 5, 200))
    scores = {h.id: h.score for h in found}
    line_ids = [h.id for h in found if h.kind == "line"]
    call_ids = [h.call_id for h in found if h.kind == "notes"]
    hits: list[Hit] = []
    if line_ids:
        rows = await session.execute(
            select(CallTurn, Call)
            .join(Call, Call.id == CallTurn.call_id)
            .where(CallTurn.id.in_(line_ids), *_call_filters(query), *_line_time(query))
        )
        hits += [_line_hit(t, c, scores[t.id]) for t, c in rows]
    if call_ids:
        rows2 = await session.execute(
            select(CallNotes, Call)
            .join(Call, Call.id == CallNotes.call_id)
            .where(CallNotes.call_id.in_(call_ids), *_call_filters(query), *_notes_time(query))
        )
        hits += [_notes_hit(n, c, scores.get(f"notes:{c.id}", 0.0)) for n, c in rows2]
    hits.sort(key=lambda h: h.score, reverse=True)
    return [replace(h, score=round(h.score, 4)) for h in hits[:limit]]


def _fuse(*rankings: list[Hit], limit: int) -> list[Hit]:
    fused: dict[str, Hit] = {}
    totals: dict[str, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            fused.setdefault(hit.key, hit)
            totals[hit.key] = totals.get(hit.key, 0.0) + 1.0 / (_RRF_K + rank + 1)
    ordered = sorted(fused, key=lambda k: totals[k], reverse=True)[:limit]
    return [replace(fused[k], score=round(totals[k], 5)) for k in ordered]


async def search_archive(session: AsyncSession, query: ArchiveQuery, store: ArchiveStore | None) -> list[Hit]:
    """The best ``query.limit`` hits of the organisation's archive for ``query`` (``store`` may be
    None only for text search)."""
    if query.mode == "text":
        return await _text(session, query, query.limit)
    if store is None:
        raise ValueError("semantic search needs the archive index")
    if query.mode == "semantic":
        return await _semantic(session, query, store, query.limit)
    pool = max(query.limit * 2, 20)
    return _fuse(
        await _semantic(session, query, store, pool), await _text(session, query, pool), limit=query.limit
    )
