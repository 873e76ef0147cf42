"""The dispatcher: sends pending deliveries from the outbox, retries with backoff, logs each attempt.

One :class:`WebhookDispatcher` runs per API process, started in the app's lifespan and closed
with it. Each round it *claims* due rows (``status = pending`` and ``next_attempt_at <= now``)
by pushing their ``next_attempt_at`` a lease ahead in one short transaction; on PostgreSQL the
claim uses ``SELECT … FOR UPDATE SKIP LOCKED`` so two API processes never take the same row,
and SQLite has one writer at a time anyway. Then it POSTs each body (httpx, 10 s timeout) with
its signature, and records the attempt: a 2xx marks the delivery ``delivered``; anything else
(non-2xx, timeout, connection error, a destination refused) schedules the next attempt after
``retry_base_s × (1, 6, 24, 120, 720, 1440, 2880…)`` with ±20 % jitter, until ``max_attempts``
marks it ``failed``. The schedule lives in the database, so a restart picks up where it was,
and a process that dies mid-send only delays the row until its lease runs out.

Every attempt vets the endpoint's URL again (:mod:`.urls`: DNS may have changed since it was
registered) and connects to an address that check accepted, keeping the host name in the
``Host`` header and as the TLS server name; an attempt whose destination is refused sends
nothing and is logged as ``destination not allowed: …``. Redirects are never followed.
"""

from __future__ import annotations

__all__ = ["WebhookDispatcher", "retry_delay"]

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from auralink.api.db import Database, WebhookAttempt, WebhookDelivery, WebhookEndpoint, new_id, utcnow

from .signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header
from .urls import BadDestination, Destination, DestinationNotAllowed, IPAddress, Resolver, vet_url

logger = logging.getLogger("auralink.api")

_FACTORS = (1, 6, 24, 120, 720, 1440, 2880)  # 5 s, 30 s, 2 min, 10 min, 1 h, 2 h, 4 h at base 5 s
_BATCH = 20
_ERROR_CHARS = 500


def retry_delay(attempts: int, base_s: float, *, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (jittered ±20 %)."""
    factor = _FACTORS[min(attempts, len(_FACTORS)) - 1] if attempts >= 1 else 1
    return base_s * factor * (rng or random).uniform(0.8, 1.2)


@dataclass(frozen=True)
class _Job:
    delivery_id: str
    attempt: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: str


class WebhookDispatcher:
    """Sends the outbox. ``start()`` once, ``wake()`` after enqueuing, ``await aclose()`` at the end."""

    def __init__(
        self,
        *,
        database: Database,
        retry_base_s: float,
        max_attempts: int,
        timeout_s: float = 10.0,
        poll_interval_s: float = 1.0,
        allow_private_networks: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._db = database
        self._allow_private = allow_private_networks
        self._resolver = resolver
        self._retry_base_s = retry_base_s
        self._max_attempts = max_attempts
        self._poll_s = poll_interval_s
        # a claimed row is left alone by other processes for this long (a send takes <= timeout)
        self._lease = timedelta(seconds=timeout_s * 3 + 30)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "AuraLink-Webhooks/1"},
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auralink-webhook-dispatcher")

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def aclose(self, *, grace_s: float = 5.0) -> None:
        """Stop after the round in flight (so no database write is cut half-way, which would
        leave the driver's thread answering a closed loop); cancel it after ``grace_s``. A
        delivery cut short stays pending and its lease runs out, so it is sent again later."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=grace_s)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._client.aclose()

    async def __aenter__(self) -> WebhookDispatcher:
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a database hiccup must not end the dispatcher
                logger.warning("webhook dispatcher: round failed: %s", type(e).__name__)
                sent = 0
            if sent or self._stopping:
                continue  # there may be more due right away (or it is time to stop)
            self._wake.clear()
            try:
                pause = await self._until_next_due()
            except Exception as e:
                logger.warning("webhook dispatcher: cannot read the schedule: %s", type(e).__name__)
                pause = self._poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    async def _until_next_due(self) -> float:
        """Seconds until the earliest scheduled retry, capped by the poll interval."""
        async with self._db.session() as session, session.begin():
            due = await session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(WebhookDelivery.status == "pending")
            )
        if due is None:
            return self._poll_s
        if due.tzinfo is None:  # SQLite's MIN() comes back as a naive UTC time
            due = due.replace(tzinfo=UTC)
        return min(self._poll_s, max(0.01, (due - utcnow()).total_seconds()))

    async def run_once(self) -> int:
        """Claim the due deliveries and send them; how many were attempted."""
        jobs = await self._claim()
        if jobs:
            await asyncio.gather(*(self._send(job) for job in jobs))
        return len(jobs)

    async def _claim(self) -> list[_Job]:
        now = utcnow()
        async with self._db.session() as session, session.begin():
            query = (
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(_BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
            rows = (await session.execute(query)).all()
            jobs = []
            for delivery, endpoint in rows:
                delivery.next_attempt_at = now + self._lease
                jobs.append(
                    _Job(
                        delivery_id=delivery.id,
                        attempt=delivery.attempts + 1,
                        url=endpoint.url,
                        secret=endpoint.secret,
                        event_id=delivery.event_id,
                        event_type=delivery.event_type,
                        body=delivery.body,
                    )
                )
        return jobs

    async def _send(self, job: _Job) -> None:
        body = job.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(job.secret, body),
            EVENT_ID_HEADER: job.event_id,
            EVENT_TYPE_HEADER: job.event_type,
        }
        started_at, t0 = utcnow(), time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            destination = await vet_url(
                job.url, allow_private_networks=self._allow_private, resolver=self._resolver
            )
            response = await self._post(destination, body=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except DestinationNotAllowed as e:
            error = f"destination not allowed: {e.reason}"[:_ERROR_CHARS]
        except BadDestination as e:
            error = e.reason[:_ERROR_CHARS]
        except httpx.TimeoutException:
            error = "timed out"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"[:_ERROR_CHARS]
        duration_ms = round((time.perf_counter() - t0) * 1000)
        await self._record(
            job, started_at=started_at, duration_ms=duration_ms, status_code=status_code, error=error
        )

    async def _post(
        self, destination: Destination, *, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        """POST to the vetted addresses in turn (the next only when connecting fails), never to
        whatever the name resolves to by the time the connection is made."""
        url = destination.url
        pinned_headers = {**headers, "Host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": destination.host} if url.scheme == "https" else {}
        *others, last = destination.addresses
        for ip in others:
            try:
                return await self._pinned(url, ip, body=body, headers=pinned_headers, extensions=extensions)
            except httpx.ConnectError:
                continue
        return await self._pinned(url, last, body=body, headers=pinned_headers, extensions=extensions)

    async def _pinned(
        self,
        url: httpx.URL,
        ip: IPAddress,
        *,
        body: bytes,
        headers: dict[str, str],
        extensions: dict[str, str],
    ) -> httpx.Response:
        request = self._client.build_request(
            "POST", url.copy_with(host=str(ip)), content=body, headers=headers, extensions=extensions
        )
        return await self._client.send(request)

    async def _record(
        self, job: _Job, *, started_at: datetime, duration_ms: int, status_code: int | None, error: str | None
    ) -> None:
        now = utcnow()
        values: dict[str, object] = {
            "attempts": job.attempt,
            "last_status_code": status_code,
            "last_error": error,
        }
        if error is None:
            values.update(status="delivered", delivered_at=now, next_attempt_at=None)
            outcome = "delivered"
        elif job.attempt >= self._max_attempts:
            values.update(status="failed", next_attempt_at=None)
            outcome = "failed for good"
        else:
            delay = retry_delay(job.attempt, self._retry_base_s)
            values.update(next_attempt_at=now + timedelta(seconds=delay))
            outcome = f"retry in {delay:.1f}s"
        async with self._db.session() as session, session.begin():
            # only a row still pending at this attempt: a redeliver may have reset it meanwhile,
            # or its endpoint been deleted (then there is nothing left to log against)
            result = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == job.delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempts == job.attempt - 1,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 0:
                return
            session.add(
                WebhookAttempt(
                    id=new_id("att"),
                    delivery_id=job.delivery_id,
                    number=job.attempt,
                    started_at=started_at,
                    duration_ms=duration_ms,
                    status_code=status_code,
                    error=error,
                )
            )
        logger.info(
            "webhook delivery %s (%s) attempt %d: %s (status %s)",
            job.delivery_id,
            job.event_type,
            job.attempt,
            outcome,
            status_code,
        )
