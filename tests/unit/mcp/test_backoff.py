"""The restart schedule of a crashed MCP server."""

from __future__ import annotations

import pytest

from auralink.mcp import Backoff


def test_the_delay_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, factor=2.0, cap_s=30.0)
    assert [backoff.delay(n) for n in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_long_outage_stays_at_the_cap() -> None:
    assert Backoff(initial_s=0.5, cap_s=60.0).delay(10_000) == 60.0


@pytest.mark.parametrize("fields", [{"initial_s": 0}, {"factor": 0.5}, {"initial_s": 5.0, "cap_s": 1.0}])
def test_a_nonsense_schedule_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**fields)
