"""Plans (free, pro, enterprise): monthly quotas and per-key rate limits, and the file that overrides them.

Each plan has a quota per :class:`Quota` for a calendar month (UTC), ``None`` meaning
unlimited, and a per-API-key token bucket. The built-in key rates scale the
``AURALINK_RATE_LIMIT_PER_MINUTE`` / ``_BURST`` settings (free x1, pro x5, enterprise x20)
unless a plan gives its own numbers.

``AURALINK_PLANS_FILE`` (YAML or JSON) overrides them and the unit prices used for cost
estimates (:mod:`.costs`)::

    plans:
      pro: {quotas: {call_minutes: 20000}, rate_limit_per_minute: 6000, rate_limit_burst: 1000}
      team: {quotas: {call_minutes: 5000, api_calls: null}}   # a new plan starts from free
    prices:
      stt.deepgram: 0.000072        # USD per STT second
      llm.openai:gpt-4o: {prompt: 0.0000025, completion: 0.00001}

A built-in plan named in the file keeps every value the file does not give; a new plan starts
from the free plan. A bad file raises :class:`~auralink.core.ConfigError` naming the file and
the field, when the app is made.
"""

from __future__ import annotations

__all__ = [
    "BUILTIN_PLANS",
    "DEFAULT_PLAN",
    "PlanName",
    "PlanSpec",
    "Plans",
    "Quota",
    "UsageConfig",
    "load_usage_config",
    "usage_config",
]

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from auralink.core import ConfigError, Settings


class PlanName(StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


DEFAULT_PLAN = PlanName.FREE.value


class Quota(StrEnum):
    """What a plan limits per month, in the unit its name says."""

    CALL_MINUTES = "call_minutes"
    API_CALLS = "api_calls"
    STT_SECONDS = "stt_seconds"
    TTS_CHARACTERS = "tts_characters"
    LLM_TOKENS = "llm_tokens"


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """One plan: monthly quotas (``None`` = unlimited) and the per-key token bucket."""

    name: str
    quotas: dict[Quota, float | None]
    rate_limit_per_minute: int
    rate_limit_burst: int

    def limit(self, quota: Quota) -> float | None:
        return self.quotas.get(quota)


def _builtin(*, per_minute: int, burst: int) -> dict[str, PlanSpec]:
    return {
        "free": PlanSpec(
            name="free",
            quotas={
                Quota.CALL_MINUTES: 100,
                Quota.API_CALLS: 10_000,
                Quota.STT_SECONDS: 6_000,
                Quota.TTS_CHARACTERS: 100_000,
                Quota.LLM_TOKENS: 1_000_000,
            },
            rate_limit_per_minute=per_minute,
            rate_limit_burst=burst,
        ),
        "pro": PlanSpec(
            name="pro",
            quotas={
                Quota.CALL_MINUTES: 10_000,
                Quota.API_CALLS: 1_000_000,
                Quota.STT_SECONDS: 600_000,
                Quota.TTS_CHARACTERS: 10_000_000,
                Quota.LLM_TOKENS: 100_000_000,
            },
            rate_limit_per_minute=per_minute * 5,
            rate_limit_burst=burst * 5,
        ),
        "enterprise": PlanSpec(
            name="enterprise",
            quotas=dict.fromkeys(Quota),
            rate_limit_per_minute=per_minute * 20,
            rate_limit_burst=burst * 20,
        ),
    }


#: the built-in plan names, in upgrade order
BUILTIN_PLANS: tuple[str, ...] = tuple(p.value for p in PlanName)

_PlanKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,15}$")]
_PriceKey = Annotated[str, StringConstraints(pattern=r"^(stt|tts|llm)\.[a-z0-9_-]+(:[A-Za-z0-9_.:-]+)?$")]
_Amount = Annotated[float, Field(ge=0)]


class _PlanFileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quotas: dict[Quota, Annotated[float, Field(ge=0)] | None] = Field(default_factory=dict)
    rate_limit_per_minute: Annotated[int, Field(ge=1)] | None = None
    rate_limit_burst: Annotated[int, Field(ge=1)] | None = None


class _TokenPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: _Amount
    completion: _Amount


class _UsageFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plans: dict[_PlanKey, _PlanFileEntry] = Field(default_factory=dict)
    prices: dict[_PriceKey, _Amount | _TokenPrice] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plans:
    """Every plan by name; an organisation whose plan is unknown here is on the free plan."""

    by_name: dict[str, PlanSpec]

    def get(self, name: str | None) -> PlanSpec:
        return self.by_name.get(name or DEFAULT_PLAN) or self.by_name[DEFAULT_PLAN]

    @property
    def names(self) -> list[str]:
        return list(self.by_name)


@dataclass(frozen=True, slots=True)
class UsageConfig:
    """The plans and the price overrides (USD per unit; see :mod:`.costs`)."""

    plans: Plans
    prices: dict[str, float | tuple[float, float]] = field(default_factory=dict)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"AURALINK_PLANS_FILE {path}: cannot read it ({e.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text) or {}
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"AURALINK_PLANS_FILE {path}: not valid {path.suffix or 'YAML'}: {e}") from None


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_usage_config(settings: Settings) -> UsageConfig:
    """The built-in plans, overridden by ``settings.plans_file`` when it is set (read afresh)."""
    return _load(settings.plans_file, settings.rate_limit_per_minute, settings.rate_limit_burst)


def _load(path: Path | None, per_minute: int, burst: int) -> UsageConfig:
    plans = _builtin(per_minute=per_minute, burst=burst)
    if path is None:
        return UsageConfig(plans=Plans(plans))
    try:
        parsed = _UsageFile.model_validate(_read(path))
    except ValidationError as e:
        problems = "; ".join(f"{_where(err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"AURALINK_PLANS_FILE {path}: {problems}") from None
    for name, entry in parsed.plans.items():
        base = plans.get(name) or replace(plans[DEFAULT_PLAN], name=name)
        plans[name] = PlanSpec(
            name=name,
            quotas={**base.quotas, **entry.quotas},
            rate_limit_per_minute=entry.rate_limit_per_minute or base.rate_limit_per_minute,
            rate_limit_burst=entry.rate_limit_burst or base.rate_limit_burst,
        )
    prices: dict[str, float | tuple[float, float]] = {
        key: (value.prompt, value.completion) if isinstance(value, _TokenPrice) else value
        for key, value in parsed.prices.items()
    }
    return UsageConfig(plans=Plans(plans), prices=prices)


@lru_cache(maxsize=8)
def _cached(path: Path | None, stamp: tuple[int, int] | None, per_minute: int, burst: int) -> UsageConfig:
    return _load(path, per_minute, burst)


def usage_config(settings: Settings) -> UsageConfig:
    """:func:`load_usage_config`, read again only when the plans file changes (like agents.yaml)."""
    path, stamp = settings.plans_file, None
    if path is not None:
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None  # _read names the missing file
    return _cached(path, stamp, settings.rate_limit_per_minute, settings.rate_limit_burst)
