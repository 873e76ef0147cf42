"""The worker's call reports as the API receives them: batched, signed with the LiveKit key for
that room only, retried while the API hiccups, and never in the call's way when the API is down
(recording a line returns at once; reports are dropped with a warning, the job still ends).

The API is a small aiohttp server on a free local port that verifies the worker token like the
real one and records every batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from livekit import api as lk

from auralink.agents.reporting import (
    INGEST_GRANT,
    WORKER_IDENTITY,
    CallReporter,
    UsageTotals,
    api_base_url,
    ingest_token,
    turn_metrics_ms,
)
from auralink.api.calls import ingest as api_ingest
from auralink.core import Settings
from auralink.testing.ports import free_port

KEY, SECRET = "worker-test-key", "0123456789abcdef0123456789abcdef-worker"
SID = "RM_report1"
SECRET_LINE = "my card number is 4242"


@dataclass
class FakeApi:
    """Answers ``fail`` requests with 503 first, then 200; keeps the events of accepted batches."""

    url: str
    fail: int = 0
    delay_s: float = 0.0
    batches: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        claims = lk.TokenVerifier(KEY, SECRET).verify(
            request.headers["Authorization"].removeprefix("Bearer ")
        )
        attributes = claims.attributes or {}
        ok = (
            claims.identity == WORKER_IDENTITY
            and attributes.get("auralink.grant") == INGEST_GRANT
            and request.match_info["sid"] == attributes.get("auralink.room_sid")
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = 401 if not ok else 503 if self.fail > 0 else 200
        self.fail = max(0, self.fail - 1)
        self.statuses.append(status)
        if status == 200:
            self.batches.append(await request.json())
        return web.json_response({}, status=status)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for b in self.batches for e in b["events"]]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    port = free_port()
    fake = FakeApi(url=f"http://127.0.0.1:{port}")
    app = web.Application()
    app.router.add_post("/v1/ingest/calls/{sid}/events", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield fake
    finally:
        await runner.cleanup()


def _reporter(url: str, **options: Any) -> CallReporter:
    defaults: dict[str, Any] = {
        "batch_delay_s": 0.05,
        "retry_base_s": 0.02,
        "retry_max_s": 0.05,
        "timeout_s": 2.0,
        "room_started_at": datetime.now(UTC) - timedelta(seconds=10),
    }
    return CallReporter(
        url=url,
        api_key=KEY,
        api_secret=SECRET,
        room_sid=SID,
        room_name="support-1",
        room_metadata='{"org":"org_0123456789abcdef"}',
        agent="assistant",
        **(defaults | options),
    )


async def _until(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_lines_go_out_in_batches_with_a_token_for_that_room(fake_api: FakeApi) -> None:
    reporter = _reporter(fake_api.url)
    reporter.start()
    try:
        for i in range(5):
            reporter.turn(role="user" if i % 2 == 0 else "assistant", speaker=f"p{i}", text=f"line {i}")
        reporter.turn(role="user", speaker="p", text="   ")  # nothing said: nothing sent
        await _until(lambda: len(fake_api.events) == 5, "five lines")
    finally:
        await reporter.aclose()
    assert len(fake_api.batches) == 1  # gathered into one request
    (batch,) = fake_api.batches
    assert (batch["room"], batch["agent"], batch["metadata"]) == (
        "support-1",
        "assistant",
        '{"org":"org_0123456789abcdef"}',
    )
    seqs = [e["seq"] for e in batch["events"]]
    assert seqs == sorted(set(seqs)) and seqs[0] >= 10_000  # ms since the room started, increasing
    assert [e["text"] for e in batch["events"]] == [f"line {i}" for i in range(5)]
    assert reporter.sent == 5 and reporter.dropped == 0


async def test_a_failing_api_is_retried_and_every_line_arrives_once(fake_api: FakeApi) -> None:
    fake_api.fail = 2
    reporter = _reporter(fake_api.url)
    reporter.start()
    reporter.turn(role="user", speaker="guest", text="hello", metrics={"e2e": 812.0})
    reporter.error(kind="llm_error", recoverable=True)
    await _until(lambda: len(fake_api.events) == 2, "the batch after two failures")
    await reporter.aclose()
    assert fake_api.statuses == [503, 503, 200]
    assert [e["type"] for e in fake_api.events] == ["turn", "error"]
    assert fake_api.events[0]["metrics"] == {"e2e": 812.0}


async def test_usage_is_sent_as_what_grew_since_the_last_report(fake_api: FakeApi) -> None:
    reporter = _reporter(fake_api.url)
    reporter.start()
    reporter.usage(UsageTotals(stt_seconds=2.0, tts_characters=40, llm_prompt_tokens=100))
    reporter.turn(role="user", speaker="guest", text="first")
    await _until(lambda: len(fake_api.batches) == 1, "the first batch")
    reporter.usage(
        UsageTotals(stt_seconds=5.0, tts_characters=40, llm_prompt_tokens=160, llm_completion_tokens=9)
    )
    await reporter.aclose()  # the rest goes out at shutdown
    usage = [e for e in fake_api.events if e["type"] == "usage"]
    assert usage == [
        {
            "type": "usage",
            "stt_seconds": 2.0,
            "tts_characters": 40,
            "llm_prompt_tokens": 100,
            "llm_completion_tokens": 0.0,
        },
        {
            "type": "usage",
            "stt_seconds": 3.0,
            "tts_characters": 0.0,
            "llm_prompt_tokens": 60,
            "llm_completion_tokens": 9,
        },
    ]


async def test_an_api_that_is_down_never_slows_the_call_and_loses_only_reports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="auralink.agents")
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens
    reporter = _reporter(down, max_queue=20, max_attempts=3)
    reporter.start()
    t = time.perf_counter()
    for i in range(100):
        reporter.turn(role="user", speaker="guest", text=f"{SECRET_LINE} {i}")
    recording = time.perf_counter() - t
    assert recording < 0.5  # a line is an append, never a request
    await asyncio.sleep(0.3)
    t = time.monotonic()
    await reporter.aclose(timeout_s=3.0)
    assert time.monotonic() - t < 5.0  # the job's shutdown is bounded
    assert reporter.sent == 0 and reporter.dropped >= 80  # the queue kept at most 20
    messages = [r.getMessage() for r in caplog.records]
    assert any("dropped" in m for m in messages), messages
    assert not any(SECRET_LINE in m for m in messages)  # what was said is never logged


async def test_a_slow_api_is_cut_off_at_shutdown(fake_api: FakeApi) -> None:
    fake_api.delay_s = 2.0
    reporter = _reporter(fake_api.url, timeout_s=10.0)
    reporter.start()
    reporter.turn(role="assistant", speaker="agent", text="bye")
    await asyncio.sleep(0.2)
    t = time.monotonic()
    await reporter.aclose(timeout_s=0.5)
    assert time.monotonic() - t < 2.0
    reporter.turn(role="user", speaker="guest", text="after the end")  # ignored, no error


async def test_reports_are_accepted_by_the_api_verifier() -> None:
    """The worker's token passes the API's check for its room only (the two sides agree)."""
    token = ingest_token(api_key=KEY, api_secret=SECRET, room_sid=SID)
    api_ingest.verify_worker_token(f"Bearer {token}", api_key=KEY, api_secret=SECRET, room_sid=SID)
    with pytest.raises(api_ingest.WorkerTokenRefused):
        api_ingest.verify_worker_token(f"Bearer {token}", api_key=KEY, api_secret=SECRET, room_sid="RM_other")
    assert lk.TokenVerifier(KEY, SECRET).verify(token).kind == "agent"


def test_turn_figures_are_renamed_and_in_milliseconds() -> None:
    figures = turn_metrics_ms(
        {"started_speaking_at": 1.7e9, "end_of_turn_delay": 0.42, "llm_node_ttft": 0.25, "e2e_latency": 1.2}
    )
    assert figures == {"end_of_utterance": 420.0, "llm_ttft": 250.0, "e2e": 1200.0}


def test_the_api_url_defaults_to_the_api_host_and_port() -> None:
    settings = Settings(_env_file=None, api_host="0.0.0.0", api_port=8899)
    assert api_base_url(settings) == "http://127.0.0.1:8899"
    assert (
        api_base_url(settings.model_copy(update={"api_url": "http://api.internal:80/"}))
        == "http://api.internal:80"
    )
