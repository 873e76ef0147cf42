"""Usage: the report per period, the plan with its quotas, and the body that changes the plan."""

from __future__ import annotations

__all__ = ["PlanPublic", "PlanUpdate", "QuotaPublic", "RateLimitPublic", "UsageGroupPublic", "UsagePublic"]

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import StrictBody


class UsageGroupPublic(BaseModel):
    day: date | None = Field(default=None, description="the UTC day (with group_by=day)")
    agent: str | None = Field(
        default=None, description="the agent (with group_by=agent); null: not per agent"
    )
    metrics: dict[str, float] = Field(description="metric -> quantity")


class UsagePublic(BaseModel):
    period: str | None = Field(description="YYYY-MM when a calendar month was asked for")
    since: datetime
    until: datetime = Field(description="exclusive")
    group_by: str | None
    totals: dict[str, float] = Field(
        description="api_calls, call_seconds, stt_seconds, tts_characters, llm_prompt_tokens, llm_completion_tokens"
    )
    call_minutes: float = Field(description="call_seconds / 60")
    groups: list[UsageGroupPublic] = Field(description="empty without group_by")


class QuotaPublic(BaseModel):
    quota: str = Field(description="call_minutes, api_calls, stt_seconds, tts_characters or llm_tokens")
    limit: float | None = Field(description="per calendar month; null: unlimited")
    used: float
    remaining: float | None
    percent: float | None = Field(description="used as a percentage of the limit")


class RateLimitPublic(BaseModel):
    per_minute: int = Field(description="requests per minute per API key")
    burst: int = Field(description="requests an idle key may send at once")


class PlanPublic(BaseModel):
    plan: str
    plans: list[str] = Field(description="the plans this server offers")
    period: str = Field(description="the current calendar month (UTC), YYYY-MM")
    period_start: datetime
    period_end: datetime
    rate_limit: RateLimitPublic
    quotas: list[QuotaPublic]


class PlanUpdate(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"plan": "pro"}]})

    plan: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,15}$")] = Field(
        description="free, pro, enterprise, or a plan from AURALINK_PLANS_FILE"
    )
