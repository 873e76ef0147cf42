"""Call analytics over ``[since, until)``: volume, minutes, latency, quality and cost per agent.

Definitions (docs/api-usage.md repeats them):

- a call counts on the UTC day it **started**; its minutes are ``duration_s / 60`` (a call
  still active has none yet);
- **latency** is each turn's end-to-end figure in ``call_turns.metrics``: ``e2e`` (or
  ``e2e_ms``), else the sum of ``end_of_utterance`` + ``llm_ttft`` + ``tts_ttfb`` when all
  three are there; turns without one are skipped. ``avg`` is the mean, ``p95`` the
  nearest-rank 95th percentile, both in milliseconds;
- **agent errors** is the sum of ``calls.errors`` (errors the agent reported);
- **failed** calls have ``status = failed``; **no-agent** calls ended without any participant
  of kind ``agent`` ever joining; **dropped** is either of the two (counted once);
- **AI usage** is the ``usage_records`` of the period per agent; **cost** applies
  :mod:`.costs` to it with the providers of the agent's current spec (stored agent, else the
  catalogue).
"""

from __future__ import annotations

__all__ = ["AgentStats", "CallAnalytics", "DayStats", "call_analytics", "turn_latency_ms"]

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import AgentRecord, AgentVersion, Call, CallParticipant, CallTurn, UsageRecord

from .costs import AgentProviders, CostEstimate, Price, estimate_cost, providers_from_spec

_E2E_KEYS = ("e2e", "e2e_ms", "e2e_latency_ms")
_PARTS = (
    ("end_of_utterance", "end_of_utterance_ms", "eou_ms"),
    ("llm_ttft", "llm_ttft_ms"),
    ("tts_ttfb", "tts_ttfb_ms"),
)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def turn_latency_ms(metrics: Mapping[str, Any] | None) -> float | None:
    """A turn's end-to-end latency in ms from its metrics JSON, or ``None``."""
    if not isinstance(metrics, Mapping):
        return None
    for key in _E2E_KEYS:
        value = _number(metrics.get(key))
        if value is not None:
            return value
    parts = []
    for names in _PARTS:
        value = next((v for v in (_number(metrics.get(n)) for n in names) if v is not None), None)
        if value is None:
            return None
        parts.append(value)
    return sum(parts)


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class AgentStats:
    agent: str | None
    calls: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    agent_errors: int = 0
    failed: int = 0
    no_agent: int = 0
    dropped: int = 0
    usage: dict[str, float] = field(default_factory=dict)
    providers: AgentProviders = field(default_factory=AgentProviders)
    cost: CostEstimate | None = None

    @property
    def avg_latency_ms(self) -> float | None:
        return round(sum(self.latencies) / len(self.latencies), 1) if self.latencies else None

    @property
    def p95_latency_ms(self) -> float | None:
        return _p95(self.latencies)


@dataclass
class DayStats:
    day: date
    calls: int = 0
    seconds: float = 0.0


@dataclass
class CallAnalytics:
    days: list[DayStats]
    agents: list[AgentStats]
    overall: AgentStats


SpecLookup = Callable[[str], Mapping[str, Any] | None]


async def _stored_specs(session: AsyncSession, org_id: str) -> dict[str, dict[str, Any]]:
    rows = await session.execute(
        select(AgentRecord.name, AgentVersion.spec)
        .join(
            AgentVersion,
            (AgentVersion.agent_id == AgentRecord.id) & (AgentVersion.version == AgentRecord.version),
        )
        .where(AgentRecord.org_id == org_id)
    )
    return {str(name): spec for name, spec in rows.all() if isinstance(spec, dict)}


async def call_analytics(
    session: AsyncSession,
    *,
    org_id: str,
    since: datetime,
    until: datetime,
    prices: Mapping[str, Price],
    catalogue_spec: SpecLookup,
) -> CallAnalytics:
    """Everything ``GET /v1/analytics`` shows, for ``org_id`` over ``[since, until)``."""
    in_range = (Call.org_id == org_id) & (Call.started_at >= since) & (Call.started_at < until)
    call_ids = select(Call.id).where(in_range).scalar_subquery()
    calls = (
        await session.execute(
            select(Call.id, Call.agent, Call.status, Call.started_at, Call.duration_s, Call.errors).where(
                in_range
            )
        )
    ).all()
    with_agent = set(
        await session.scalars(
            select(CallParticipant.call_id)
            .where(CallParticipant.call_id.in_(call_ids), CallParticipant.kind == "agent")
            .distinct()
        )
    )
    turns = (
        await session.execute(
            select(CallTurn.call_id, CallTurn.metrics).where(
                CallTurn.call_id.in_(call_ids), CallTurn.metrics.is_not(None)
            )
        )
    ).all()
    usage = (
        await session.execute(
            select(UsageRecord.agent, UsageRecord.metric, func.sum(UsageRecord.quantity))
            .where(
                UsageRecord.org_id == org_id,
                UsageRecord.occurred_at >= since,
                UsageRecord.occurred_at < until,
            )
            .group_by(UsageRecord.agent, UsageRecord.metric)
        )
    ).all()

    agents: dict[str | None, AgentStats] = {}
    overall = AgentStats(agent=None)
    days: dict[date, DayStats] = {}
    agent_of: dict[str, str | None] = {}
    for call_id, agent, status, started_at, duration_s, errors in calls:
        agent_of[call_id] = agent
        stats = agents.setdefault(agent, AgentStats(agent=agent))
        day = days.setdefault(started_at.date(), DayStats(day=started_at.date()))
        seconds = float(duration_s or 0.0)
        failed = status == "failed"
        no_agent = status == "ended" and call_id not in with_agent
        for s in (stats, overall):
            s.calls += 1
            s.seconds += seconds
            s.agent_errors += int(errors or 0)
            s.failed += failed
            s.no_agent += no_agent
            s.dropped += failed or no_agent
        day.calls += 1
        day.seconds += seconds
    for call_id, metrics in turns:
        latency = turn_latency_ms(metrics)
        if latency is not None:
            agents[agent_of[call_id]].latencies.append(latency)
            overall.latencies.append(latency)
    for agent, metric, total in usage:
        stats = agents.setdefault(agent, AgentStats(agent=agent))
        stats.usage[metric] = stats.usage.get(metric, 0.0) + float(total or 0)
        overall.usage[metric] = overall.usage.get(metric, 0.0) + float(total or 0)

    stored = await _stored_specs(session, org_id)
    total_usd = {"stt": 0.0, "tts": 0.0, "llm": 0.0}
    unpriced: set[str] = set()
    for name, stats in agents.items():
        if name is not None:
            stats.providers = providers_from_spec(stored.get(name) or catalogue_spec(name))
        stats.cost = estimate_cost(stats.usage, stats.providers, prices)
        for kind, usd in stats.cost.usd.items():
            total_usd[kind] += usd
        unpriced.update(stats.cost.unpriced)
    overall.cost = CostEstimate(usd={k: round(v, 6) for k, v in total_usd.items()}, unpriced=sorted(unpriced))
    ordered = sorted(agents.values(), key=lambda s: (s.agent is None, s.agent or ""))
    return CallAnalytics(days=sorted(days.values(), key=lambda d: d.day), agents=ordered, overall=overall)
