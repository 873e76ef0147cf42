"""Call analytics: per day, per agent and overall, with quality figures and cost estimates."""

from __future__ import annotations

__all__ = ["AgentAnalyticsPublic", "AnalyticsPublic", "CostPublic", "DayAnalyticsPublic", "QualityPublic"]

from datetime import date, datetime

from pydantic import BaseModel, Field


class CostPublic(BaseModel):
    stt_usd: float
    tts_usd: float
    llm_usd: float
    total_usd: float
    unpriced: list[str] = Field(description="metrics with usage but no known unit price (not in the total)")


class QualityPublic(BaseModel):
    agent_errors: int = Field(description="errors the agent reported during its calls")
    failed_calls: int = Field(description="calls with status failed")
    calls_without_agent: int = Field(description="calls that ended without an agent ever joining")
    dropped_calls: int = Field(description="failed or without an agent (each call counted once)")


class DayAnalyticsPublic(BaseModel):
    day: date
    calls: int
    minutes: float


class AgentAnalyticsPublic(BaseModel):
    agent: str | None = Field(description="null: calls or usage with no agent recorded")
    calls: int
    minutes: float
    avg_latency_ms: float | None = Field(description="mean end-to-end turn latency")
    p95_latency_ms: float | None = Field(description="95th percentile (nearest rank)")
    latency_samples: int
    quality: QualityPublic
    usage: dict[str, float] = Field(description="metric -> quantity in the period")
    providers: dict[str, str] = Field(
        description="kind (stt, llm, tts) -> provider[:model] used for the estimate"
    )
    cost: CostPublic


class AnalyticsPublic(BaseModel):
    since: datetime
    until: datetime = Field(description="exclusive")
    calls: int
    minutes: float
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    quality: QualityPublic
    usage: dict[str, float]
    cost: CostPublic
    days: list[DayAnalyticsPublic]
    agents: list[AgentAnalyticsPublic]
