"""Usage reports: totals per metric over a period, grouped by agent or by day, and the CSV export.

Sums are computed by the database (one ``GROUP BY``); days are UTC calendar days. The CSV
has one row per day x agent x metric: ``day,agent,metric,quantity`` (``agent`` empty for
organisation-wide metrics such as ``api_calls``).
"""

from __future__ import annotations

__all__ = ["METRICS", "UsageRow", "csv_text", "usage_rows"]

import csv
import io
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from auralink.api.db import UsageRecord

#: the metrics stored in usage_records, in report order
METRICS: tuple[str, ...] = (
    "api_calls",
    "call_seconds",
    "stt_seconds",
    "tts_characters",
    "llm_prompt_tokens",
    "llm_completion_tokens",
)


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: date | None
    agent: str | None
    metric: str
    quantity: float


def _day(session: AsyncSession) -> ColumnElement[str]:
    """``YYYY-MM-DD`` (UTC) of ``occurred_at`` on this database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", UsageRecord.occurred_at), "YYYY-MM-DD")
    # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff' text
    return func.substr(cast(UsageRecord.occurred_at, String), 1, 10)


async def usage_rows(
    session: AsyncSession,
    *,
    org_id: str,
    since: datetime,
    until: datetime,
    by_agent: bool,
    by_day: bool,
) -> list[UsageRow]:
    """Sums of ``org_id``'s metrics in ``[since, until)``, per metric and per agent and/or day."""
    day = _day(session).label("day")
    keys: list[ColumnElement[Any]] = []
    if by_day:
        keys.append(day)
    if by_agent:
        keys.append(typing.cast(ColumnElement[Any], UsageRecord.agent))
    query = (
        select(*keys, UsageRecord.metric, func.sum(UsageRecord.quantity))
        .where(
            UsageRecord.org_id == org_id,
            UsageRecord.occurred_at >= since,
            UsageRecord.occurred_at < until,
        )
        .group_by(*keys, UsageRecord.metric)
    )
    rows: list[UsageRow] = []
    for row in (await session.execute(query)).all():
        values = list(row)
        row_day = date.fromisoformat(str(values.pop(0))) if by_day else None
        row_agent = typing.cast(str | None, values.pop(0)) if by_agent else None
        metric, total = values
        rows.append(
            UsageRow(
                day=row_day,
                agent=row_agent,
                metric=str(metric),
                quantity=float(typing.cast(float, total) or 0),
            )
        )
    order = {m: i for i, m in enumerate(METRICS)}
    rows.sort(key=lambda r: (r.day or date.min, r.agent or "", order.get(r.metric, len(order)), r.metric))
    return rows


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def csv_text(rows: list[UsageRow]) -> str:
    """The export: a header line, then ``day,agent,metric,quantity`` per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "agent", "metric", "quantity"])
    for r in rows:
        writer.writerow([r.day.isoformat() if r.day else "", r.agent or "", r.metric, _number(r.quantity)])
    return out.getvalue()
