"""A session that closes on an unrecoverable error makes the job apologise and hang up; any
other close just ends the job."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from livekit.agents.voice.events import CloseEvent, CloseReason

from auralink.agents import worker
from auralink.agents.failure import APOLOGY_WAV
from auralink.core import Settings


class _Proc:
    def __init__(self) -> None:
        self.userdata: dict[str, Any] = {}


class _Ctx:
    def __init__(self) -> None:
        self.proc = _Proc()
        self.shutdowns: list[str] = []

    def shutdown(self, reason: str = "") -> None:
        self.shutdowns.append(reason)


async def test_an_error_close_apologises_and_other_closes_only_end_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed: list[dict[str, Any]] = []

    async def fake_fail_call(ctx: Any, **kwargs: Any) -> None:
        failed.append(kwargs)

    monkeypatch.setattr(worker, "fail_call", fake_fail_call)
    settings = Settings(_env_file=None)
    ctx: Any = _Ctx()

    worker._on_session_close(
        ctx,
        CloseEvent(reason=CloseReason.PARTICIPANT_DISCONNECTED),
        settings=settings,
        agent="a",
        reporter=None,
    )
    assert ctx.shutdowns == ["session closed"] and not failed

    worker._on_session_close(
        ctx, CloseEvent(reason=CloseReason.ERROR), settings=settings, agent="a", reporter=None
    )
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert failed == [{"kind": "session_error", "settings": settings, "agent": "a", "reporter": None}]
    assert ctx.shutdowns == ["session closed"]  # fail_call ends the job itself, after the apology
    assert not ctx.proc.userdata["auralink_pending"]  # the task is released when done


def test_the_recorded_apology_ships_with_the_package() -> None:
    import wave

    with wave.open(str(APOLOGY_WAV), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        assert 3.0 < w.getnframes() / w.getframerate() < 10.0
