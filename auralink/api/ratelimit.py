"""Rate limits: token buckets per API key and per client address, in Redis or in the process.

A bucket holds up to ``burst`` tokens and gains ``per_minute / 60`` a second; each request
takes one. An empty bucket answers 429 with ``Retry-After`` (whole seconds until a token is
back) and ``{"error": {"type": "RateLimited", "message": ...}}`` naming the limit.

Who is counted (see :class:`RateLimitMiddleware`):

- ``/v1/...`` with ``Authorization: Bearer al_<prefix>_...``: the key's bucket, by its visible
  prefix (read from the header, so a refused request costs no database lookup);
- ``/v1/...`` otherwise (sign-up, login, dashboard sessions): the client address's bucket;
- ``POST /j/<code>/session`` (a visitor starting a call): the client address's bucket.

``/healthz``, ``/readyz``, ``/metrics``, the page, the other ``/j/`` routes and LiveKit's signed
webhooks (``/v1/livekit/...``) are not limited.

A key's limit is its organisation's plan's (:mod:`auralink.api.usage.plans`: by default the
``AURALINK_RATE_LIMIT_*`` key settings on the free plan, x5 on pro, x20 on enterprise, or
what ``AURALINK_PLANS_FILE`` says). The key's plan is read through the usage runtime's
:class:`~auralink.api.usage.keys.KeyDirectory` (cached, no query per request); an unknown
prefix gets the free plan's limit (and a 401 from the route). Each plan's limit has its own
bucket, so a plan change takes effect at once with a full bucket.

**Backends.** :class:`MemoryBuckets` keeps buckets in a dict (one process). With
``AURALINK_REDIS_URL`` set, :class:`RedisBuckets` keeps them in Redis so every API instance
shares them. It runs the whole bucket update as one Lua script: read, refill, take, write and
expire are atomic on the server and cost one round trip, and the refill uses Redis's clock
(``TIME``), so instances with skewed clocks agree. An ``INCR`` + ``EXPIRE`` fixed window would
be simpler but lets a caller send twice the limit across a window edge and has no burst/refill
shape. If Redis fails, the request is let through and a warning logged: an outage of the limiter
should not take the API down with it.
"""

from __future__ import annotations

__all__ = [
    "Decision",
    "Limit",
    "MemoryBuckets",
    "RateLimitMiddleware",
    "RateLimiter",
    "RedisBuckets",
    "check_redis_url",
    "is_api_path",
    "open_redis",
]

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from auralink.core import ConfigError, Settings

from .usage import PlanSpec, UsageRuntime, key_prefix, usage_config

logger = logging.getLogger("auralink.api")


@dataclass(frozen=True, slots=True)
class Limit:
    """A token bucket's shape: ``burst`` tokens at most, ``per_minute`` added each minute."""

    name: str
    per_minute: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class Buckets(Protocol):
    async def take(self, key: str, limit: Limit) -> Decision: ...

    async def aclose(self) -> None: ...


class MemoryBuckets:
    """Buckets in this process; idle full buckets are dropped so the dict stays small."""

    def __init__(self, *, max_buckets: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._max = max_buckets

    async def take(self, key: str, limit: Limit) -> Decision:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.per_second)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now, limit)
            return Decision(True)
        self._store(key, tokens, now, limit)
        return Decision(False, (1.0 - tokens) / limit.per_second)

    def _store(self, key: str, tokens: float, now: float, limit: Limit) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max:
            # drop buckets idle long enough to be full again; if too many are busy, the oldest half
            full_after = limit.burst / limit.per_second
            kept = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
            if len(kept) > self._max // 2:
                kept = dict(sorted(kept.items(), key=lambda kv: kv[1][1])[len(kept) // 2 :])
            self._buckets = kept

    async def aclose(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV: tokens per millisecond, burst. Returns {allowed 0/1, wait in ms}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {allowed, wait}
"""


def check_redis_url(url: str) -> None:
    """Raise :class:`~auralink.core.ConfigError` naming the setting unless ``url`` is a Redis URL."""
    if url.partition("://")[0].lower() not in {"redis", "rediss", "unix"}:
        raise ConfigError(
            f"AURALINK_REDIS_URL {url!r} is not a Redis URL; expected redis://host:6379/0, rediss:// or unix://"
        )


def open_redis(url: str, *, max_connections: int = 64) -> Redis:
    """A Redis client for ``url`` with a bounded pool: requests beyond ``max_connections`` wait
    (up to 1 s) for a free connection instead of failing; ``await client.aclose()`` closes it."""
    check_redis_url(url)
    try:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=1.0, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    except ValueError as e:
        raise ConfigError(f"AURALINK_REDIS_URL is not usable: {e}") from None
    return Redis.from_pool(pool)


_WARN_EVERY_S = 10.0


class RedisBuckets:
    """Buckets in Redis, shared by every API instance using the same server."""

    def __init__(self, *, redis: Redis, prefix: str = "auralink:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_TAKE)
        self._warned_at = -_WARN_EVERY_S

    async def take(self, key: str, limit: Limit) -> Decision:
        per_ms = limit.per_second / 1000.0
        try:
            allowed, wait_ms = await self._script(keys=[self._prefix + key], args=[repr(per_ms), limit.burst])
        except RedisError as e:
            now = time.monotonic()
            if now - self._warned_at >= _WARN_EVERY_S:  # one line per outage, not one per request
                self._warned_at = now
                logger.warning("rate limits not checked: Redis failed (%s)", type(e).__name__)
            return Decision(True)
        return Decision(bool(int(allowed)), int(wait_ms) / 1000.0)

    async def aclose(self) -> None:
        """The Redis client belongs to the app's lifespan, which closes it."""


class RateLimiter:
    """The limits from ``settings`` (and the plans) over a bucket store."""

    def __init__(self, *, settings: Settings, buckets: Buckets) -> None:
        self.buckets = buckets
        self.enabled = settings.rate_limit_enabled
        self._settings = settings
        self.ip_limit = Limit(
            "per client address", settings.rate_limit_ip_per_minute, settings.rate_limit_ip_burst
        )

    def key_limit(self, plan: PlanSpec | None = None) -> Limit:
        """The per-key limit of ``plan`` (default: the free plan)."""
        spec = plan or usage_config(self._settings).plans.get(None)
        return Limit(f"per API key ({spec.name} plan)", spec.rate_limit_per_minute, spec.rate_limit_burst)

    async def check(self, bucket: str, limit: Limit) -> Decision:
        return await self.buckets.take(f"{limit.per_minute}/{limit.burst}:{bucket}", limit)

    async def aclose(self) -> None:
        await self.buckets.aclose()


async def _key_plan(scope: Scope) -> PlanSpec | None:
    usage = getattr(scope["app"].state, "usage", None)
    if not isinstance(usage, UsageRuntime):
        return None
    prefix = key_prefix(scope)
    owner = await usage.keys.lookup(prefix) if prefix is not None else None
    return usage.plan(owner.plan if owner is not None else None)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _is_session_start(path: str, method: str) -> bool:
    parts = path.strip("/").split("/")
    return method == "POST" and len(parts) == 3 and parts[0] == "j" and parts[2] == "session"


def is_api_path(path: str) -> bool:
    """A request of the API proper, limited and metered per key: ``/v1/…`` (not LiveKit's signed
    webhooks) and the MCP endpoint ``/mcp``."""
    if path == "/mcp" or path.startswith("/mcp/"):
        return True
    return path.startswith("/v1/") and not path.startswith("/v1/livekit/")


class RateLimitMiddleware:
    """Applies the limiter kept in ``app.state.ratelimiter`` (made in the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = None
        if scope["type"] == "http":
            limiter = getattr(scope["app"].state, "ratelimiter", None) if "app" in scope else None
        if not isinstance(limiter, RateLimiter) or not limiter.enabled:
            await self.app(scope, receive, send)
            return
        path, method = str(scope.get("path", "")), str(scope.get("method", ""))
        if is_api_path(path):
            prefix = key_prefix(scope)
            if prefix is not None:
                bucket, limit = f"key:{prefix}", limiter.key_limit(await _key_plan(scope))
            else:
                bucket, limit = f"ip:{_client(scope)}", limiter.ip_limit
        elif _is_session_start(path, method):
            bucket, limit = f"ip:{_client(scope)}", limiter.ip_limit
        else:
            await self.app(scope, receive, send)
            return
        decision = await limiter.check(bucket, limit)
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        await _refuse(send, limit, decision.retry_after_s)


async def _refuse(send: Send, limit: Limit, retry_after_s: float) -> None:
    retry = max(1, math.ceil(retry_after_s))
    message = (
        f"rate limit {limit.name} exceeded ({limit.per_minute} requests per minute, "
        f"bursts of {limit.burst}); retry in {retry} s"
    )
    body = json.dumps({"error": {"type": "RateLimited", "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
