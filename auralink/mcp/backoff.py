"""The restart schedule of a crashed MCP server: exponential, capped, reset after a good start."""

from __future__ import annotations

__all__ = ["Backoff"]

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before restart number ``attempt`` (0-based): ``initial * factor**attempt``, at most ``cap``."""

    initial_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 60.0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.factor < 1 or self.cap_s < self.initial_s:
            raise ValueError("backoff needs initial_s > 0, factor >= 1 and cap_s >= initial_s")

    def delay(self, attempt: int) -> float:
        # min() before the power would overflow on a long outage
        exponent = min(attempt, 64)
        return float(min(self.cap_s, self.initial_s * self.factor**exponent))
