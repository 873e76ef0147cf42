"""Billing periods: calendar months in UTC, named ``YYYY-MM``, and explicit ``[since, until)`` spans."""

from __future__ import annotations

__all__ = ["MAX_SPAN", "Period", "month_of", "parse_month", "span"]

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from auralink.api.errors import InvalidField

MAX_SPAN = timedelta(days=366)

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC; ``label`` is ``YYYY-MM`` for a calendar month, else ``start/end``."""

    start: datetime
    end: datetime
    label: str


def _month(year: int, month: int) -> Period:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return Period(start=start, end=end, label=f"{year:04d}-{month:02d}")


def month_of(when: datetime) -> Period:
    """The calendar month (UTC) ``when`` falls in."""
    when = when.astimezone(UTC)
    return _month(when.year, when.month)


def parse_month(text: str) -> Period | None:
    """``YYYY-MM`` as its period; ``None`` if ``text`` is not one."""
    match = _MONTH.fullmatch(text.strip())
    if match is None:
        return None
    return _month(int(match.group(1)), int(match.group(2)))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def span(*, period: str | None, since: datetime | None, until: datetime | None, now: datetime) -> Period:
    """The span a report asks for: ``period=YYYY-MM``, or ``since``/``until`` (naive = UTC;
    ``until`` defaults to now, ``since`` to the start of ``until``'s month), or this month.
    Raises :class:`~auralink.api.errors.InvalidField` naming the parameter."""
    if period is not None:
        if since is not None or until is not None:
            raise InvalidField("period", "give either period or since/until, not both")
        month = parse_month(period)
        if month is None:
            raise InvalidField("period", "expected a month as YYYY-MM, e.g. 2026-11")
        return month
    if since is None and until is None:
        return month_of(now)
    end = _aware(until) if until is not None else now
    start = _aware(since) if since is not None else month_of(end).start
    if end <= start:
        raise InvalidField("until", "must be after since")
    if end - start > MAX_SPAN:
        raise InvalidField("since", "the span may be at most 366 days")
    return Period(start=start, end=end, label=f"{start.isoformat()}/{end.isoformat()}")
