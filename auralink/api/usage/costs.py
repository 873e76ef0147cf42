"""Cost estimates: unit prices of the BYOK providers, and what an agent's usage would cost.

Prices are USD per unit: per STT second, per TTS character, per LLM token (prompt and
completion apart). They are list prices at the time of writing, rounded, for estimates only;
put your own in ``AURALINK_PLANS_FILE`` under ``prices`` (keys ``<kind>.<provider>`` or
``<kind>.<provider>:<model>``; the model-specific key wins). The embedded local models cost 0.
A provider without a price (``plugin`` blocks, unknown agents) is listed as unpriced rather
than guessed.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PRICES", "AgentProviders", "CostEstimate", "estimate_cost", "providers_from_spec"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Price = float | tuple[float, float]

#: USD per unit; LLM entries are (prompt, completion) per token
DEFAULT_PRICES: dict[str, Price] = {
    "stt.deepgram": 0.0077 / 60,  # nova-3 streaming, per second
    "stt.openai": 0.003 / 60,  # gpt-4o-mini-transcribe, per second
    "tts.deepgram": 0.030 / 1000,  # aura-2, per character
    "tts.elevenlabs": 0.050 / 1000,  # flash v2.5, per character
    "tts.openai": 0.015 / 1000,  # per character
    "llm.openai": (0.15 / 1e6, 0.60 / 1e6),  # gpt-4o-mini
    "llm.openai:gpt-4o-mini": (0.15 / 1e6, 0.60 / 1e6),
    "llm.openai:gpt-4o": (2.50 / 1e6, 10.00 / 1e6),
    "llm.openai:gpt-4.1-mini": (0.40 / 1e6, 1.60 / 1e6),
}

_KIND_OF = {
    "stt_seconds": "stt",
    "tts_characters": "tts",
    "llm_prompt_tokens": "llm",
    "llm_completion_tokens": "llm",
}


@dataclass(frozen=True, slots=True)
class AgentProviders:
    """Provider and model per kind (``stt``, ``tts``, ``llm``); empty when the agent is unknown."""

    by_kind: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def label(self, kind: str) -> str | None:
        got = self.by_kind.get(kind)
        if got is None:
            return None
        return f"{got[0]}:{got[1]}" if got[1] else got[0]


def providers_from_spec(spec: Mapping[str, Any] | None) -> AgentProviders:
    """Read providers from an AgentSpec's JSON, defensively (a missing block is the local default)."""
    if spec is None:
        return AgentProviders()
    found: dict[str, tuple[str, str | None]] = {}
    for kind in ("stt", "llm", "tts"):
        block = spec.get(kind)
        block = block if isinstance(block, Mapping) else {}
        provider = block.get("provider", "local")
        model = block.get("model") or block.get("plugin")
        found[kind] = (str(provider), str(model) if model else None)
    return AgentProviders(found)


def _price(prices: Mapping[str, Price], kind: str, provider: str, model: str | None) -> Price | None:
    if provider == "local":
        return 0.0
    if model is not None and f"{kind}.{provider}:{model}" in prices:
        return prices[f"{kind}.{provider}:{model}"]
    return prices.get(f"{kind}.{provider}")


@dataclass(frozen=True, slots=True)
class CostEstimate:
    usd: dict[str, float]  # per kind: stt, tts, llm
    unpriced: list[str]  # metrics with usage but no known price

    @property
    def total_usd(self) -> float:
        return sum(self.usd.values())


def estimate_cost(
    usage: Mapping[str, float], providers: AgentProviders, prices: Mapping[str, Price]
) -> CostEstimate:
    """What ``usage`` (metric -> quantity) costs with ``providers`` at ``prices``."""
    usd = {"stt": 0.0, "tts": 0.0, "llm": 0.0}
    unpriced: list[str] = []
    for metric, kind in _KIND_OF.items():
        quantity = usage.get(metric, 0.0)
        if not quantity:
            continue
        chosen = providers.by_kind.get(kind)
        price = _price(prices, kind, *chosen) if chosen is not None else None
        if price is None:
            unpriced.append(metric)
            continue
        if isinstance(price, tuple):
            price = price[0] if metric == "llm_prompt_tokens" else price[1]
        usd[kind] += quantity * price
    return CostEstimate(usd={k: round(v, 6) for k, v in usd.items()}, unpriced=unpriced)
