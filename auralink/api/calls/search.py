"""Reading calls back: the filtered, paged list, one call's figures, and its transcript.

The list is newest first and paged by an opaque cursor (the last call's start time and id), so
pages stay stable while new calls arrive. Text search (``q``) is a case-insensitive substring
match over the call's transcript lines (``ILIKE`` on PostgreSQL, ``lower() LIKE lower()`` on
SQLite), with ``%`` and ``_`` in the query matched literally.
"""

from __future__ import annotations

__all__ = [
    "CallFilter",
    "InvalidCursor",
    "counts",
    "decode_cursor",
    "encode_cursor",
    "latency_summary",
    "list_calls",
    "percentile",
    "usage_totals",
]

import base64
import binascii
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Call, CallParticipant, CallTurn, UsageRecord
from auralink.api.errors import InvalidField


class InvalidCursor(InvalidField):
    def __init__(self) -> None:
        super().__init__("cursor", "not a cursor this API gave out; start again without one")


def encode_cursor(call: Call) -> str:
    raw = f"{call.started_at.isoformat()}|{call.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, call_id = raw.partition("|")
        when = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    if when.tzinfo is None or not call_id:
        raise InvalidCursor()
    return when, call_id


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What the list is narrowed to; ``None`` fields do not narrow it."""

    agent: str | None = None
    status: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    participant: str | None = None
    q: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_calls(
    session: AsyncSession, *, org_id: str, where: CallFilter, limit: int, cursor: str | None
) -> tuple[list[Call], str | None]:
    """One page of the organisation's calls, newest first, and the cursor of the next page."""
    query = select(Call).where(Call.org_id == org_id)
    if where.agent is not None:
        query = query.where(Call.agent == where.agent)
    if where.status is not None:
        query = query.where(Call.status == where.status)
    if where.source is not None:
        query = query.where(Call.source == where.source)
    if where.since is not None:
        query = query.where(Call.started_at >= where.since)
    if where.until is not None:
        query = query.where(Call.started_at < where.until)
    if where.participant is not None:
        query = query.where(
            exists().where(CallParticipant.call_id == Call.id, CallParticipant.identity == where.participant)
        )
    if where.q:
        query = query.where(
            exists().where(CallTurn.call_id == Call.id, CallTurn.text.ilike(_like(where.q), escape="\\"))
        )
    if cursor is not None:
        at, call_id = decode_cursor(cursor)
        query = query.where(or_(Call.started_at < at, and_(Call.started_at == at, Call.id < call_id)))
    query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit + 1)
    calls = list(await session.scalars(query))
    more = len(calls) > limit
    calls = calls[:limit]
    return calls, encode_cursor(calls[-1]) if more and calls else None


async def counts(session: AsyncSession, call_ids: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Participants and transcript lines per call."""
    if not call_ids:
        return {}, {}
    people = await session.execute(
        select(CallParticipant.call_id, func.count(func.distinct(CallParticipant.identity)))
        .where(CallParticipant.call_id.in_(call_ids))
        .group_by(CallParticipant.call_id)
    )
    lines = await session.execute(
        select(CallTurn.call_id, func.count())
        .where(CallTurn.call_id.in_(call_ids))
        .group_by(CallTurn.call_id)
    )
    return {c: n for c, n in people.all()}, {c: n for c, n in lines.all()}


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values`` by linear interpolation between ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(
    turn_metrics: Iterable[dict[str, float] | None],
) -> dict[str, tuple[int, float, float, float]]:
    """Per figure: (turns reporting it, p50, p95, max), in the figures' own unit (ms)."""
    series: dict[str, list[float]] = {}
    for metrics in turn_metrics:
        for name, value in (metrics or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                series.setdefault(name, []).append(float(value))
    return {
        name: (len(values), round(percentile(values, 50), 1), round(percentile(values, 95), 1), max(values))
        for name, values in sorted(series.items())
    }


async def usage_totals(session: AsyncSession, call_id: str) -> dict[str, float]:
    rows = await session.execute(
        select(UsageRecord.metric, func.sum(UsageRecord.quantity))
        .where(UsageRecord.call_id == call_id)
        .group_by(UsageRecord.metric)
    )
    return {metric: float(total or 0) for metric, total in rows.all()}
