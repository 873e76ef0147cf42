"""Usage of the caller's organisation: report per period and agent, CSV export, plan and quotas.

- ``GET /v1/usage``: totals per metric for ``period=YYYY-MM`` (or ``since``/``until``; default
  this month), optionally grouped by ``agent`` or ``day``;
- ``GET /v1/usage/export.csv``: one row per day x agent x metric;
- ``GET /v1/usage/plan``: the plan, its rate limit, and each quota with what was used this month;
- ``PUT``/``PATCH /v1/usage/plan``: change the plan (owners only).

How usage is metered, and the plans, are in docs/api-usage.md.
"""

from __future__ import annotations

__all__ = ["router"]

import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.auth import Principal
from auralink.api.db import Organisation, utcnow
from auralink.api.deps import SessionDep, SettingsDep, require
from auralink.api.errors import InvalidField
from auralink.api.permissions import Action
from auralink.api.schemas import (
    ErrorBody,
    PlanPublic,
    PlanUpdate,
    QuotaPublic,
    RateLimitPublic,
    UsageGroupPublic,
    UsagePublic,
)
from auralink.api.usage import UsageRuntime, month_of, org_plan, quota_states, span, usage_config
from auralink.api.usage.report import METRICS, csv_text, usage_rows
from auralink.core import Settings

from .common import AUTH, TOO_LARGE, Responses

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/usage", tags=["usage"], responses=AUTH)

BAD_SPAN: Responses = {
    422: {"model": ErrorBody, "description": "period, since or until is not valid (named)"}
}

PeriodQuery = Annotated[str | None, Query(description="a calendar month, YYYY-MM (UTC)")]
SinceQuery = Annotated[
    datetime | None, Query(description="start (inclusive); ISO date or time, UTC if no zone")
]
UntilQuery = Annotated[datetime | None, Query(description="end (exclusive); default now")]


@router.get("", responses=BAD_SPAN)
async def report(
    *,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.USAGE_READ))],
    period: PeriodQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    group_by: Annotated[
        Literal["agent", "day"] | None, Query(description="split totals per agent or per UTC day")
    ] = None,
) -> UsagePublic:
    """Totals per metric over a period, optionally per agent or per day."""
    chosen = span(period=period, since=since, until=until, now=utcnow())
    totals_rows = await usage_rows(
        session, org_id=principal.org_id, since=chosen.start, until=chosen.end, by_agent=False, by_day=False
    )
    totals = dict.fromkeys(METRICS, 0.0) | {r.metric: r.quantity for r in totals_rows}
    groups: list[UsageGroupPublic] = []
    if group_by is not None:
        rows = await usage_rows(
            session,
            org_id=principal.org_id,
            since=chosen.start,
            until=chosen.end,
            by_agent=group_by == "agent",
            by_day=group_by == "day",
        )
        keyed: dict[tuple[object, object], UsageGroupPublic] = {}
        for r in rows:
            group = keyed.setdefault((r.day, r.agent), UsageGroupPublic(day=r.day, agent=r.agent, metrics={}))
            group.metrics[r.metric] = r.quantity
        groups = list(keyed.values())
    return UsagePublic(
        period=chosen.label if period is not None or (since is None and until is None) else None,
        since=chosen.start,
        until=chosen.end,
        group_by=group_by,
        totals=totals,
        call_minutes=round(totals["call_seconds"] / 60.0, 3),
        groups=groups,
    )


@router.get(
    "/export.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "day,agent,metric,quantity; one row per day x agent x metric",
        },
        **BAD_SPAN,
    },
)
async def export_csv(
    *,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.USAGE_READ))],
    period: PeriodQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> Response:
    """The period's usage as CSV, one row per UTC day, agent and metric."""
    chosen = span(period=period, since=since, until=until, now=utcnow())
    rows = await usage_rows(
        session, org_id=principal.org_id, since=chosen.start, until=chosen.end, by_agent=True, by_day=True
    )
    name = f"usage-{chosen.start.date().isoformat()}-{chosen.end.date().isoformat()}.csv"
    return Response(
        csv_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _plan_public(session: AsyncSession, settings: Settings, org_id: str) -> PlanPublic:
    plan = await org_plan(session, settings=settings, org_id=org_id)
    period = month_of(utcnow())
    quotas = []
    for state in await quota_states(session, org_id=org_id, plan=plan, period=period):
        limit = state.limit
        quotas.append(
            QuotaPublic(
                quota=state.quota.value,
                limit=limit,
                used=round(state.used, 3),
                remaining=None if limit is None else round(max(0.0, limit - state.used), 3),
                percent=None if limit is None or limit == 0 else round(100 * state.used / limit, 1),
            )
        )
    return PlanPublic(
        plan=plan.name,
        plans=usage_config(settings).plans.names,
        period=period.label,
        period_start=period.start,
        period_end=period.end,
        rate_limit=RateLimitPublic(per_minute=plan.rate_limit_per_minute, burst=plan.rate_limit_burst),
        quotas=quotas,
    )


@router.get("/plan")
async def read_plan(
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.USAGE_READ))],
) -> PlanPublic:
    """The organisation's plan, its per-key rate limit, and each quota with what was used this month."""
    return await _plan_public(session, settings, principal.org_id)


async def _change_plan(
    body: PlanUpdate, request: Request, session: AsyncSession, settings: Settings, principal: Principal
) -> PlanPublic:
    known = usage_config(settings).plans.names
    if body.plan not in known:
        raise InvalidField("plan", f"no plan named {body.plan!r} (known: {', '.join(known)})")
    organisation = await session.get(Organisation, principal.org_id)
    assert organisation is not None, "a principal's organisation exists"
    previous, organisation.plan = organisation.plan, body.plan
    await session.commit()
    usage = getattr(request.app.state, "usage", None)
    if isinstance(usage, UsageRuntime):
        usage.keys.forget_org(principal.org_id)  # the new key rate applies at once here
    logger.info("organisation %s: plan %s -> %s", principal.org_id, previous, body.plan)
    return await _plan_public(session, settings, principal.org_id)


_PLAN_ERRORS: Responses = {
    **TOO_LARGE,
    422: {"model": ErrorBody, "description": "no such plan on this server"},
}


@router.put("/plan", responses=_PLAN_ERRORS)
async def put_plan(
    body: PlanUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.PLAN_UPDATE))],
) -> PlanPublic:
    """Move the organisation to another plan (owners only); quotas and key rates follow at once."""
    return await _change_plan(body, request, session, settings, principal)


@router.patch("/plan", responses=_PLAN_ERRORS)
async def patch_plan(
    body: PlanUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.PLAN_UPDATE))],
) -> PlanPublic:
    """The same as ``PUT /v1/usage/plan`` (the body has one field)."""
    return await _change_plan(body, request, session, settings, principal)
