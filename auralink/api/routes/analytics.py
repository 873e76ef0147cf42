"""Call analytics of the caller's organisation: volume, minutes, latency, quality, cost estimates.

``GET /v1/analytics?since=&until=`` (or ``period=YYYY-MM``; default this month): calls and
minutes per day, and per agent the calls, minutes, average and p95 turn latency, quality
(agent errors, failed, without an agent, dropped), AI usage and its estimated cost. The
definitions are in :mod:`auralink.api.usage.analytics` and docs/api-usage.md.
"""

from __future__ import annotations

__all__ = ["router"]

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from auralink.api.auth import Principal
from auralink.api.catalogue import CatalogueCache
from auralink.api.db import utcnow
from auralink.api.deps import SessionDep, SettingsDep, require
from auralink.api.permissions import Action
from auralink.api.schemas import (
    AgentAnalyticsPublic,
    AnalyticsPublic,
    CostPublic,
    DayAnalyticsPublic,
    ErrorBody,
    QualityPublic,
)
from auralink.api.usage import span, usage_config
from auralink.api.usage.analytics import AgentStats, call_analytics
from auralink.api.usage.costs import DEFAULT_PRICES, CostEstimate
from auralink.core import AuraLinkError

from .common import AUTH

router = APIRouter(prefix="/v1/analytics", tags=["analytics"], responses=AUTH)


def _catalogue_specs(request: Request) -> dict[str, dict[str, Any]]:
    """The catalogue's agents as JSON; empty if agents.yaml cannot be read (costs then unpriced)."""
    cache = getattr(request.app.state, "catalogue", None)
    if not isinstance(cache, CatalogueCache):
        return {}
    try:
        catalogue = cache.get()
    except AuraLinkError:
        return {}
    return {a.name: a.model_dump(mode="json", by_alias=True) for a in catalogue.agents}


def _cost(cost: CostEstimate | None) -> CostPublic:
    usd = cost.usd if cost is not None else {}
    return CostPublic(
        stt_usd=usd.get("stt", 0.0),
        tts_usd=usd.get("tts", 0.0),
        llm_usd=usd.get("llm", 0.0),
        total_usd=round(cost.total_usd, 6) if cost is not None else 0.0,
        unpriced=list(cost.unpriced) if cost is not None else [],
    )


def _quality(stats: AgentStats) -> QualityPublic:
    return QualityPublic(
        agent_errors=stats.agent_errors,
        failed_calls=stats.failed,
        calls_without_agent=stats.no_agent,
        dropped_calls=stats.dropped,
    )


def _agent(stats: AgentStats) -> AgentAnalyticsPublic:
    return AgentAnalyticsPublic(
        agent=stats.agent,
        calls=stats.calls,
        minutes=round(stats.seconds / 60.0, 3),
        avg_latency_ms=stats.avg_latency_ms,
        p95_latency_ms=stats.p95_latency_ms,
        latency_samples=len(stats.latencies),
        quality=_quality(stats),
        usage=stats.usage,
        providers={k: v for k in ("stt", "llm", "tts") if (v := stats.providers.label(k)) is not None},
        cost=_cost(stats.cost),
    )


@router.get("", responses={422: {"model": ErrorBody, "description": "period, since or until is not valid"}})
async def analytics(
    *,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Action.ANALYTICS_READ))],
    since: Annotated[datetime | None, Query(description="start (inclusive); UTC if no zone")] = None,
    until: Annotated[datetime | None, Query(description="end (exclusive); default now")] = None,
    period: Annotated[str | None, Query(description="a calendar month, YYYY-MM")] = None,
) -> AnalyticsPublic:
    """Calls per day, minutes, latency, quality and cost estimates per agent."""
    chosen = span(period=period, since=since, until=until, now=utcnow())
    prices: Mapping[str, Any] = DEFAULT_PRICES | usage_config(settings).prices
    specs = _catalogue_specs(request)
    result = await call_analytics(
        session,
        org_id=principal.org_id,
        since=chosen.start,
        until=chosen.end,
        prices=prices,
        catalogue_spec=specs.get,
    )
    overall = result.overall
    return AnalyticsPublic(
        since=chosen.start,
        until=chosen.end,
        calls=overall.calls,
        minutes=round(overall.seconds / 60.0, 3),
        avg_latency_ms=overall.avg_latency_ms,
        p95_latency_ms=overall.p95_latency_ms,
        quality=_quality(overall),
        usage=overall.usage,
        cost=_cost(overall.cost),
        days=[
            DayAnalyticsPublic(day=d.day, calls=d.calls, minutes=round(d.seconds / 60.0, 3))
            for d in result.days
        ],
        agents=[_agent(s) for s in result.agents],
    )
