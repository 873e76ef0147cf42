"""Quotas: what an organisation used this month against its plan, and refusing work over it.

Routes that start billable work call :func:`check_call_quotas` first (a link session, a room,
a participant token): if call minutes, STT seconds, TTS characters or LLM tokens have reached
the plan's monthly quota, :class:`QuotaExceeded` answers **402** naming the quota, its limit,
what was used and when the period ends. The monthly API-call quota is enforced per request by
:class:`~auralink.api.usage.middleware.UsageMiddleware` with **429** and the same body.

Usage counts what is stored: a call's minutes land when it ends, so a call in progress does
not count until then, and a call already running is never cut off by a quota.
"""

from __future__ import annotations

__all__ = [
    "CALL_QUOTAS",
    "QUOTA_RESPONSES",
    "QuotaExceeded",
    "QuotaState",
    "check_call_quotas",
    "install_quota_errors",
    "install_usage",
    "metric_totals",
    "org_plan",
    "quota_error_body",
    "quota_states",
    "quota_used",
    "retry_after",
]

import math
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Organisation, UsageRecord, utcnow
from auralink.api.errors import ApiError
from auralink.api.schemas import ErrorBody
from auralink.core import Settings

from .periods import Period, month_of
from .plans import PlanSpec, Quota, load_usage_config, usage_config

#: quotas a call consumes: checked before a call may start
CALL_QUOTAS: tuple[Quota, ...] = (
    Quota.CALL_MINUTES,
    Quota.STT_SECONDS,
    Quota.TTS_CHARACTERS,
    Quota.LLM_TOKENS,
)

#: the OpenAPI ``responses`` entry of a route that calls :func:`check_call_quotas`
QUOTA_RESPONSES: dict[int | str, dict[str, object]] = {
    402: {"model": ErrorBody, "description": "QuotaExceeded: a monthly quota of the plan is used up (named)"}
}

_UNITS = {
    Quota.CALL_MINUTES: "minutes",
    Quota.API_CALLS: "API calls",
    Quota.STT_SECONDS: "STT seconds",
    Quota.TTS_CHARACTERS: "TTS characters",
    Quota.LLM_TOKENS: "LLM tokens",
}


async def metric_totals(
    session: AsyncSession, *, org_id: str, since: datetime, until: datetime
) -> dict[str, float]:
    """Sum of each stored metric of ``org_id`` in ``[since, until)``."""
    rows = await session.execute(
        select(UsageRecord.metric, func.sum(UsageRecord.quantity))
        .where(
            UsageRecord.org_id == org_id,
            UsageRecord.occurred_at >= since,
            UsageRecord.occurred_at < until,
        )
        .group_by(UsageRecord.metric)
    )
    return {metric: float(total or 0) for metric, total in rows.all()}


def quota_used(totals: dict[str, float]) -> dict[Quota, float]:
    """Metric totals in quota units (call seconds to minutes, prompt + completion tokens)."""
    return {
        Quota.CALL_MINUTES: totals.get("call_seconds", 0.0) / 60.0,
        Quota.API_CALLS: totals.get("api_calls", 0.0),
        Quota.STT_SECONDS: totals.get("stt_seconds", 0.0),
        Quota.TTS_CHARACTERS: totals.get("tts_characters", 0.0),
        Quota.LLM_TOKENS: totals.get("llm_prompt_tokens", 0.0) + totals.get("llm_completion_tokens", 0.0),
    }


@dataclass(frozen=True, slots=True)
class QuotaState:
    quota: Quota
    limit: float | None
    used: float

    @property
    def fraction(self) -> float | None:
        """Used over limit (``None`` when unlimited; ``inf`` for a zero quota once anything is used)."""
        if self.limit is None:
            return None
        if self.limit == 0:
            return math.inf if self.used > 0 else 0.0
        return self.used / self.limit

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


async def quota_states(
    session: AsyncSession, *, org_id: str, plan: PlanSpec, period: Period
) -> list[QuotaState]:
    totals = await metric_totals(session, org_id=org_id, since=period.start, until=period.end)
    used = quota_used(totals)
    return [QuotaState(quota=q, limit=plan.limit(q), used=used[q]) for q in Quota]


class QuotaExceeded(ApiError):
    """A monthly quota is used up: 402 for call quotas, 429 for API calls."""

    def __init__(self, state: QuotaState, period: Period) -> None:
        self.state = state
        self.period = period
        self.status_code = 429 if state.quota is Quota.API_CALLS else 402
        assert state.limit is not None
        super().__init__(
            f"the {state.quota.value} quota of your plan is used up: {state.used:g} of "
            f"{state.limit:g} {_UNITS[state.quota]} this month; it resets at "
            f"{period.end.isoformat()} (change plan with PUT /v1/usage/plan)"
        )


def quota_error_body(error: QuotaExceeded) -> dict[str, object]:
    """``{"error": {"type": "QuotaExceeded", "message", "quota", "limit", "used", "period", "period_end"}}``."""
    return {
        "error": {
            "type": "QuotaExceeded",
            "message": str(error),
            "quota": error.state.quota.value,
            "limit": error.state.limit,
            "used": round(error.state.used, 3),
            "period": error.period.label,
            "period_end": error.period.end.isoformat(),
        }
    }


def retry_after(error: QuotaExceeded, now: datetime) -> str:
    return str(max(1, math.ceil((error.period.end - now).total_seconds())))


async def _quota_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QuotaExceeded)
    headers = {"Retry-After": retry_after(exc, utcnow())} if exc.status_code == 429 else None
    return JSONResponse(quota_error_body(exc), status_code=exc.status_code, headers=headers)


def install_quota_errors(app: FastAPI) -> None:
    """Answer :class:`QuotaExceeded` with its own status and body (registered after the general handlers)."""
    app.add_exception_handler(QuotaExceeded, _quota_error)


def install_usage(app: FastAPI, settings: Settings) -> None:
    """Check ``settings.plans_file`` now (:class:`~auralink.core.ConfigError` naming the field)
    and answer :class:`QuotaExceeded` with its own status and body."""
    load_usage_config(settings)
    install_quota_errors(app)


async def org_plan(session: AsyncSession, *, settings: Settings, org_id: str) -> PlanSpec:
    """The plan ``org_id`` is on (free if the organisation names a plan no longer defined)."""
    name = await session.scalar(select(Organisation.plan).where(Organisation.id == org_id))
    return usage_config(settings).plans.get(name)


#: the stored metrics the call quotas are computed from
_CALL_METRICS = (
    "call_seconds",
    "stt_seconds",
    "tts_characters",
    "llm_prompt_tokens",
    "llm_completion_tokens",
)


async def check_call_quotas(
    session: AsyncSession, *, settings: Settings, org_id: str, now: datetime | None = None
) -> None:
    """Raise :class:`QuotaExceeded` (402) if a quota a call consumes is used up this month.

    One query (the plan and this month's sums of the call metrics together) once anything is
    used, as it runs on every session, room and token minted."""
    period = month_of(now or utcnow())
    plan_name = select(Organisation.plan).where(Organisation.id == org_id).scalar_subquery()
    rows = (
        await session.execute(
            select(plan_name, UsageRecord.metric, func.sum(UsageRecord.quantity))
            .where(
                UsageRecord.org_id == org_id,
                UsageRecord.metric.in_(_CALL_METRICS),
                UsageRecord.occurred_at >= period.start,
                UsageRecord.occurred_at < period.end,
            )
            .group_by(UsageRecord.metric)
        )
    ).all()
    if rows:
        plan = usage_config(settings).plans.get(rows[0][0])
    else:  # nothing used yet: only a zero quota can refuse
        plan = await org_plan(session, settings=settings, org_id=org_id)
    used = quota_used({str(metric): float(cast(float | None, total) or 0) for _, metric, total in rows})
    for quota in CALL_QUOTAS:
        state = QuotaState(quota=quota, limit=plan.limit(quota), used=used[quota])
        if state.exhausted:
            raise QuotaExceeded(state, period)
