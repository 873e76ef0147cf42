"""The worker's reports to the API about each call: transcript lines, latency, usage, errors.

:class:`CallReporter` keeps what a job reports in a bounded in-memory queue and POSTs it in
batches to ``{api_url}/v1/ingest/calls/{room_sid}/events`` from one background task, so
the call never waits on the API: recording a line is a ``deque.append``. A batch that fails
(connection error, timeout, 5xx, 429) is retried with exponential backoff and dropped with a
warning after ``max_attempts``; a full queue drops its oldest entries with a warning; a 4xx
other than 408/429 is not retried. At job shutdown :meth:`CallReporter.aclose` flushes what
is left within a deadline.

Each request carries a LiveKit JWT signed with the worker's own LiveKit key and secret
(:func:`ingest_token`): identity :data:`WORKER_IDENTITY`, attributes naming the grant and
the room, five minutes' TTL. The API verifies it with ``livekit.api.TokenVerifier``
(``auralink.api.calls.ingest``; the names below must match it).

Lines carry ``seq`` = milliseconds since the room was created (strictly increasing within a
job), so a resent line lands once and a second job in the same room (after a crash) does not
collide with the first. Usage is sent as the growth since the last report that got through.
The wire format is in docs/api-calls.md. No transcript text is ever logged.

Meeting reports (``moderation`` decisions, ``notes``) go in batches of their own, after the
lines: an API that does not know them yet refuses only those, never the transcript. Files shared
in a room are uploaded at once with :meth:`CallReporter.upload` to
``/v1/ingest/calls/{room_sid}/files``. Steps that must report before the job ends (the meeting's
notes) register with :meth:`CallReporter.before_close`: :meth:`CallReporter.aclose` runs them first
(the job's shutdown callbacks run side by side, so this is what orders them).
"""

from __future__ import annotations

__all__ = [
    "INGEST_GRANT",
    "WORKER_IDENTITY",
    "CallReporter",
    "UsageTotals",
    "api_base_url",
    "ingest_token",
    "open_reporter",
    "speaker_of",
    "turn_metrics_ms",
    "watch_session",
]

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from livekit import api, rtc
from livekit.agents import AgentSession, JobContext
from livekit.agents.llm import ChatMessage
from livekit.agents.metrics import LLMModelUsage, STTModelUsage, TTSModelUsage
from livekit.agents.voice.events import ErrorEvent, SessionUsageUpdatedEvent

from auralink.core import Settings

logger = logging.getLogger("auralink.agents")

WORKER_IDENTITY = "auralink-worker"
INGEST_GRANT = "calls.ingest"
TOKEN_TTL = timedelta(minutes=5)
_CORE_EVENTS = frozenset({"turn", "usage", "error"})  # what every API version takes

# livekit-agents' per-turn figures (seconds) -> the names the API stores (milliseconds)
_FIGURES = {
    "transcription_delay": "transcription",
    "end_of_turn_delay": "end_of_utterance",
    "on_user_turn_completed_delay": "on_user_turn_completed",
    "llm_node_ttft": "llm_ttft",
    "llm_node_ttfs": "llm_ttfs",
    "tts_node_ttfb": "tts_ttfb",
    "e2e_latency": "e2e",
}


def api_base_url(settings: Settings) -> str:
    """Where the API is: ``AURALINK_API_URL``, else ``http://<api_host>:<api_port>``."""
    if settings.api_url:
        return settings.api_url.rstrip("/")
    host = "127.0.0.1" if settings.api_host in ("", "0.0.0.0", "::") else settings.api_host  # noqa: S104
    return f"http://{host}:{settings.api_port}"


def ingest_token(*, api_key: str, api_secret: str, room_sid: str, ttl: timedelta = TOKEN_TTL) -> str:
    """A short-lived JWT that lets the worker report about ``room_sid`` (and nothing else)."""
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(WORKER_IDENTITY)
        .with_kind("agent")
        .with_attributes({"auralink.grant": INGEST_GRANT, "auralink.room_sid": room_sid})
        .with_ttl(ttl)
        .to_jwt()
    )


def turn_metrics_ms(metrics: Mapping[str, Any]) -> dict[str, float]:
    """A chat message's latency figures, renamed and in milliseconds (timestamps left out)."""
    return {
        name: round(float(value) * 1000, 1)
        for key, name in _FIGURES.items()
        if isinstance(value := metrics.get(key), int | float) and value >= 0
    }


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """What a session has used so far (or, as a report, since the last report)."""

    stt_seconds: float = 0.0
    tts_characters: float = 0.0
    llm_prompt_tokens: float = 0.0
    llm_completion_tokens: float = 0.0

    def minus(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def plus(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def any(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))


class CallReporter:
    """Batches one job's reports to the API off the hot path. ``start()``, report, ``aclose()``."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        api_secret: str,
        room_sid: str,
        room_name: str,
        room_metadata: str = "",
        agent: str | None = None,
        agent_version: int | None = None,
        room_started_at: datetime | None = None,
        max_batch: int = 50,
        max_queue: int = 1000,
        batch_delay_s: float = 0.25,
        usage_every_s: float = 30.0,
        max_attempts: int = 5,
        retry_base_s: float = 0.5,
        retry_max_s: float = 8.0,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._endpoint = f"{url.rstrip('/')}/v1/ingest/calls/{room_sid}/events"
        self._files_endpoint = f"{url.rstrip('/')}/v1/ingest/calls/{room_sid}/files"
        self._before_close: list[tuple[Callable[[], Awaitable[object]], float]] = []
        self._key, self._secret, self._room_sid = api_key, api_secret, room_sid
        self._head = {
            "room": room_name,
            "metadata": room_metadata,
            "agent": agent,
            "agent_version": agent_version,
        }
        self._anchor = room_started_at or datetime.now(UTC)
        self._max_batch, self._batch_delay_s, self._usage_every_s = max_batch, batch_delay_s, usage_every_s
        self._max_attempts, self._retry_base_s, self._retry_max_s = max_attempts, retry_base_s, retry_max_s
        self._queue: deque[dict[str, Any]] = deque()
        self._max_queue = max_queue
        self._seq = -1
        self._usage_seen = UsageTotals()
        self._usage_sent = UsageTotals()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport, follow_redirects=False)
        self.sent = 0  # events the API took
        self.dropped = 0  # events given up on (queue full, API down, refused)

    # -- recording (called from the session's event handlers; never awaits)

    def _put(self, event: dict[str, Any]) -> None:
        if self._closing:
            return
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.dropped += 1
            logger.warning("call reports for room %s: queue full, oldest report dropped", self._room_sid)
        self._queue.append(event)
        self._wake.set()

    def _next_seq(self) -> int:
        elapsed_ms = int((datetime.now(UTC) - self._anchor).total_seconds() * 1000)
        self._seq = max(self._seq + 1, elapsed_ms, 0)
        return self._seq

    def turn(
        self,
        *,
        role: str,
        speaker: str,
        text: str,
        metrics: Mapping[str, float] | None = None,
        language: str | None = None,
        spoken_at: datetime | None = None,
    ) -> None:
        """A final transcript line (``role`` user or assistant) with its latency figures in ms;
        ``spoken_at`` is when the speaker started (now if not given)."""
        if role not in ("user", "assistant") or not text.strip():
            return
        self._put(
            {
                "type": "turn",
                "seq": self._next_seq(),
                "role": role,
                "speaker": speaker,
                "text": text,
                "language": language,
                "metrics": dict(metrics) if metrics else None,
                "spoken_at": (spoken_at or datetime.now(UTC)).isoformat(),
            }
        )

    def message(self, item: ChatMessage, *, speaker: str) -> None:
        """A chat message the session added (user or agent), as a transcript line."""
        self.turn(
            role=item.role,
            speaker=speaker,
            text=item.text_content or "",
            metrics=turn_metrics_ms(item.metrics) if item.metrics else None,
        )

    def moderation(self, record: Mapping[str, Any], *, text_redacted: str | None) -> None:
        """One moderation decision record (a ``ModerationRecord`` as JSON) and the line as forwarded
        (redacted; None when the line was blocked)."""
        self._put({"type": "moderation", "record": dict(record), "text_redacted": text_redacted})

    def notes(self, notes: Mapping[str, Any], *, final: bool) -> None:
        """Meeting notes (``MeetingNotes`` as JSON); ``final`` at room end."""
        self._put({"type": "notes", "notes": dict(notes), "final": final})

    def before_close(self, step: Callable[[], Awaitable[object]], *, timeout_s: float = 20.0) -> None:
        """Run ``step`` (bounded by ``timeout_s``) when :meth:`aclose` starts, while reports are
        still taken: the meeting's final notes."""
        self._before_close.append((step, timeout_s))

    async def upload(self, data: bytes, *, name: str, mime: str, sender: str) -> str | None:
        """Upload one file shared in the room; its id, or None (logged, without the name) when the
        API refused it (403 files off for the organisation, 413 too large, 415 type refused) or
        could not be reached."""
        token = ingest_token(api_key=self._key, api_secret=self._secret, room_sid=self._room_sid)
        try:
            response = await self._client.post(
                self._files_endpoint,
                headers={"Authorization": f"Bearer {token}"},
                data={"sender": sender, "name": name, "mime": mime},
                files={"file": (name, data, mime)},
            )
        except httpx.HTTPError as e:
            logger.warning("file upload for room %s failed: %s", self._room_sid, type(e).__name__)
            return None
        if response.status_code in (403, 413, 415):
            logger.warning(
                "file upload for room %s refused: HTTP %d (%s, %d bytes)",
                self._room_sid,
                response.status_code,
                mime,
                len(data),
            )
            return None
        if not response.is_success:
            logger.warning("file upload for room %s failed: HTTP %d", self._room_sid, response.status_code)
            return None
        try:
            file_id = response.json().get("id")
        except (ValueError, AttributeError):
            file_id = None
        return str(file_id) if file_id is not None else None

    def usage(self, totals: UsageTotals) -> None:
        """The session's usage so far; what grew since the last report goes with the next batch."""
        self._usage_seen = totals

    def error(self, *, kind: str, recoverable: bool) -> None:
        self._put({"type": "error", "kind": kind[:64], "recoverable": recoverable})

    # -- sending

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"auralink-call-reports-{self._room_sid}")

    async def aclose(self, *, timeout_s: float = 5.0) -> None:
        """Run the :meth:`before_close` steps, send what is left (within ``timeout_s``), then stop
        and close the HTTP client."""
        steps, self._before_close = self._before_close, []
        for step, step_timeout in steps:
            try:
                await asyncio.wait_for(step(), timeout=step_timeout)
            except TimeoutError:
                logger.warning("call reports for room %s: a final step timed out", self._room_sid)
            except Exception as e:
                logger.warning(
                    "call reports for room %s: a final step failed: %s", self._room_sid, type(e).__name__
                )
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                left = len(self._queue)
                if left:
                    self.dropped += left
                    logger.warning(
                        "call reports for room %s: %d report(s) not sent at shutdown", self._room_sid, left
                    )
            except Exception as e:
                logger.warning("call reports for room %s: stopped on %s", self._room_sid, type(e).__name__)
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            if not self._queue and not self._closing:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._usage_every_s)
                if not self._closing:
                    await asyncio.sleep(self._batch_delay_s)  # let a few lines gather
            await self._send_batch()
            if self._closing and not self._queue:
                await self._send_batch()  # usage that grew while the last batch was out
                return

    async def _send_batch(self) -> None:
        taken = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        events = [e for e in taken if e["type"] in _CORE_EVENTS]
        meeting = [e for e in taken if e["type"] not in _CORE_EVENTS]
        usage = self._usage_seen.minus(self._usage_sent)
        if usage.any():
            events.append(
                {"type": "usage", **{f.name: max(0.0, getattr(usage, f.name)) for f in fields(usage)}}
            )
        if events:
            if await self._post({**self._head, "events": events}):
                self.sent += len(events)
                self._usage_sent = self._usage_sent.plus(usage) if usage.any() else self._usage_sent
            else:
                # usage stays unsent (the next batch carries it); lines and errors are given up on
                self.dropped += sum(1 for e in events if e["type"] != "usage")
        if meeting:  # after the lines they refer to, and refused on their own by an older API
            if await self._post({**self._head, "events": meeting}):
                self.sent += len(meeting)
            else:
                self.dropped += len(meeting)

    async def _post(self, body: dict[str, Any]) -> bool:
        payload = json.dumps(body).encode()
        problem = ""
        for attempt in range(1, self._max_attempts + 1):
            token = ingest_token(api_key=self._key, api_secret=self._secret, room_sid=self._room_sid)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                response = await self._client.post(self._endpoint, content=payload, headers=headers)
            except httpx.HTTPError as e:
                problem = type(e).__name__
            else:
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the API refuses this batch; sending it again would not help
            if attempt < self._max_attempts:
                delay = min(self._retry_max_s, self._retry_base_s * 2 ** (attempt - 1))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret
        logger.warning(
            "call reports for room %s: %d event(s) dropped (%s, %s)",
            self._room_sid,
            len(body["events"]),
            problem,
            self._endpoint,
        )
        return False


def _usage_of(model_usage: list[Any]) -> UsageTotals:
    stt = sum(u.audio_duration for u in model_usage if isinstance(u, STTModelUsage))
    tts = sum(u.characters_count for u in model_usage if isinstance(u, TTSModelUsage))
    prompt = sum(u.input_tokens for u in model_usage if isinstance(u, LLMModelUsage))
    completion = sum(u.output_tokens for u in model_usage if isinstance(u, LLMModelUsage))
    return UsageTotals(
        stt_seconds=float(stt),
        tts_characters=float(tts),
        llm_prompt_tokens=float(prompt),
        llm_completion_tokens=float(completion),
    )


def _version(job_metadata: str) -> int | None:
    try:
        data = json.loads(job_metadata) if job_metadata else {}
    except json.JSONDecodeError:
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, int) and version >= 1 else None


async def open_reporter(ctx: JobContext, settings: Settings, *, agent: str) -> CallReporter | None:
    """A started reporter for this job's room (None without LiveKit keys to sign with)."""
    if settings.livekit_api_key is None or settings.livekit_api_secret is None:
        return None
    info = ctx.job.room
    room_sid = info.sid or await ctx.room.sid
    created_ms = info.creation_time_ms or info.creation_time * 1000
    reporter = CallReporter(
        url=api_base_url(settings),
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
        room_sid=room_sid,
        room_name=info.name or ctx.room.name,
        room_metadata=info.metadata or ctx.room.metadata,
        agent=agent,
        agent_version=_version(ctx.job.metadata),
        room_started_at=datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else None,
    )
    reporter.start()
    return reporter


def speaker_of(session: AgentSession[Any], room: rtc.Room, role: str) -> str:
    """Who said a line: the agent's identity for its own, the linked participant's for the user's."""
    if role == "assistant":
        return room.local_participant.identity if room.isconnected() else ""
    try:
        linked = session.room_io.linked_participant
    except RuntimeError:
        return ""
    return linked.identity if linked is not None else ""


def watch_session(ctx: JobContext, session: AgentSession[Any], reporter: CallReporter) -> None:
    """Report the session's usage and errors, and flush everything when the job shuts down."""

    def on_usage(ev: SessionUsageUpdatedEvent) -> None:
        reporter.usage(_usage_of(list(ev.usage.model_usage)))

    def on_error(ev: ErrorEvent) -> None:
        kind = str(getattr(ev.error, "type", "") or type(ev.error).__name__)
        reporter.error(kind=kind, recoverable=bool(getattr(ev.error, "recoverable", True)))

    async def flush() -> None:
        with contextlib.suppress(Exception):  # the session may already be gone
            reporter.usage(_usage_of(list(session.usage.model_usage)))
        started = time.monotonic()
        await reporter.aclose()
        logger.info(
            "call reports for room %s: %d sent, %d dropped (%.1fs to flush)",
            ctx.room.name,
            reporter.sent,
            reporter.dropped,
            time.monotonic() - started,
        )

    session.on("session_usage_updated", on_usage)
    session.on("error", on_error)
    ctx.add_shutdown_callback(flush)
