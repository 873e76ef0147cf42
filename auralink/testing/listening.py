"""What a test client heard, and waiting on it.

The three test callers (a LiveKit participant, Twilio's Media Streams side, an RTP phone) each
keep the frames the agent sent with their arrival times. :class:`Listening` gives them the same
questions over those frames: when did audio first come after a moment, and wait for it, or wait
until the agent has been quiet for a while.
"""

from __future__ import annotations

__all__ = ["Listening"]

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable


class Listening(ABC):
    """Mixin: a client lists the arrival times of its loud frames in :meth:`loud_times`."""

    @abstractmethod
    def loud_times(self) -> Iterable[float]:
        """Arrival times (``time.monotonic()``) of the loud frames heard so far, in order."""

    def first_loud_after(self, t: float) -> float | None:
        return next((at for at in self.loud_times() if at > t), None)

    def last_loud(self) -> float | None:
        return max(self.loud_times(), default=None)

    async def wait_for_audio(self, *, after: float, timeout: float) -> float:
        """Arrival time of the first loud frame after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.first_loud_after(after)
            if at is not None:
                return at
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no audio from the agent within {timeout:.0f} s")

    async def wait_until_quiet(self, *, quiet_for: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until something was heard and then nothing for ``quiet_for`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.last_loud()
            if last is not None and time.monotonic() - last >= quiet_for:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"the agent kept talking (or never spoke) for {timeout:.0f} s")
