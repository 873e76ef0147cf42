"""The FastAPI application: :func:`create_app` builds it from settings, :func:`serve` runs it.

Nothing is built at import time. The lifespan opens the database (and brings its schema to
the newest migration), the one LiveKit server API client, the Redis client (when
``AURALINK_REDIS_URL`` is set), the rate limiter, the usage meter (:mod:`.usage`) and the
webhook dispatcher task, and closes them all on shutdown; routes reach them, the settings and
the catalogue through :mod:`auralink.api.deps`. Each app has its own Prometheus registry (:mod:`.metrics`).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]

import errno
import gc
import logging
import re
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from auralink.core import PortInUse, ServiceFailed, Settings

from . import routes
from .archive import ArchiveErasable, ArchiveHandle
from .catalogue import CatalogueCache
from .db import Database, upgrade
from .errors import install_error_handlers
from .gdpr import ErasableRegistry
from .gdpr.memory import MemoryErasable
from .limits import BodySizeLimit
from .linkcache import LinkCache
from .livekit_client import http_url, livekit_credentials, open_livekit_api
from .mcp_server import mount_mcp
from .memories import MemoryHandle
from .memory_retention import RetentionSweeper
from .metrics import ApiMetrics, MetricsMiddleware
from .openapi import install_openapi
from .ratelimit import (
    MemoryBuckets,
    RateLimiter,
    RateLimitMiddleware,
    RedisBuckets,
    check_redis_url,
    open_redis,
)
from .usage import UsageRuntime, install_usage
from .usage.middleware import UsageMiddleware
from .web import default_web_dist, mount_page
from .webhooks import WebhookDispatcher

logger = logging.getLogger("auralink.api")


def _start_background(
    app: FastAPI, database: Database, settings: Settings
) -> tuple[WebhookDispatcher, UsageRuntime, RetentionSweeper]:
    """The API's background loops: webhook delivery, usage metering, memory retention."""
    dispatcher = WebhookDispatcher(
        database=database,
        retry_base_s=settings.webhook_retry_base_s,
        max_attempts=settings.webhook_max_attempts,
        allow_private_networks=settings.webhook_allow_private_networks,
    )
    dispatcher.start()
    usage = UsageRuntime(database=database, settings=settings, wake_webhooks=dispatcher.wake)
    usage.start()
    retention = RetentionSweeper(
        database=database, catalogue=app.state.catalogue, memories=app.state.memories, settings=settings
    )
    retention.start()
    return dispatcher, usage, retention


def _install_stores(app: FastAPI, settings: Settings) -> None:
    """The long-term memory and the meeting archive's index, opened on first use; every store
    outside the API's tables registers on ``app.state.erasables`` for GDPR export and erase."""
    app.state.memories = MemoryHandle(settings=settings)
    app.state.archive = ArchiveHandle(settings=settings)
    app.state.erasables = ErasableRegistry()
    app.state.erasables.register("memories", MemoryErasable(settings=settings))
    app.state.erasables.register("archive_index", ArchiveErasable(app.state.archive))


def create_app(settings: Settings, *, web_dist: Path | None = None) -> FastAPI:
    """The API for ``settings``; serves the built page from ``web_dist`` (default: ``web/dist``).

    Raises :class:`~auralink.core.ConfigError` at once if the LiveKit URL or keys are unusable,
    rather than on the first request.
    """
    livekit_credentials(settings)
    http_url(settings.livekit_url)
    if settings.redis_url:
        check_redis_url(settings.redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(url=settings.database_url)
        try:
            await upgrade(database)
            client = open_livekit_api(settings)
        except BaseException:
            await database.aclose()
            raise
        redis = open_redis(settings.redis_url) if settings.redis_url else None
        buckets = RedisBuckets(redis=redis) if redis is not None else MemoryBuckets()
        limiter = RateLimiter(settings=settings, buckets=buckets)
        dispatcher, usage, retention = _start_background(app, database, settings)
        app.state.database, app.state.livekit, app.state.webhooks = database, client, dispatcher
        app.state.redis, app.state.ratelimiter, app.state.usage = redis, limiter, usage
        app.state.retention = retention
        try:
            async with mcp.running():  # MCP sessions end before what they read from closes
                yield
        finally:
            app.state.database, app.state.livekit, app.state.webhooks = None, None, None
            app.state.redis, app.state.ratelimiter, app.state.usage = None, None, None
            app.state.retention = None
            # in reverse order of opening; the usage meter writes the last API-call counts
            closers = (
                app.state.link_cache,
                retention,
                app.state.archive,
                app.state.memories,
                usage,
                dispatcher,
                limiter,
                redis,
                client,
                database,
            )
            for resource in closers:
                if resource is not None:
                    await resource.aclose()

    app = FastAPI(
        title="AuraLink",
        summary="AI agents for real-time conversations",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalogue = CatalogueCache(path=settings.agents_file)
    app.state.link_cache = LinkCache(ttl_s=settings.link_cache_ttl_s)
    _install_stores(app, settings)
    install_error_handlers(app)
    install_usage(app, settings)  # a bad AURALINK_PLANS_FILE fails here, naming the field
    install_openapi(app)
    app.state.metrics = ApiMetrics()
    # the last added runs first: metrics see every answer, 429s included, before bodies are read
    app.add_middleware(
        BodySizeLimit,
        upload_paths=re.compile(r"/v1/ingest/calls/[A-Za-z0-9_-]+/files"),
        # the multipart envelope (boundaries, headers, form fields) on top of the file itself
        upload_max_bytes=settings.meeting_file_max_bytes + 64 * 1024,
    )
    app.add_middleware(UsageMiddleware)  # after the rate limit: a 429 is not a metered call
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    for module in routes.ALL:
        app.include_router(module.router)
    mcp = mount_mcp(app, settings)  # AuraLink's own MCP server at /mcp (API keys only)
    mount_page(app, web_dist if web_dist is not None else default_web_dist())
    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise PortInUse("the API", port, "AURALINK_API_PORT") from None
        raise ServiceFailed("api", f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the stop signal after a graceful shutdown.

    uvicorn re-raises SIGINT/SIGTERM once it has drained, which turns a requested stop into
    ``KeyboardInterrupt`` or death by signal; a stop we asked for is a clean exit here.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(settings: Settings) -> int:
    """Run the API on ``settings.api_host:api_port`` until SIGINT or SIGTERM; 0 on a clean stop."""
    app = create_app(settings)
    sock = _bind(settings.api_host, settings.api_port)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = _Server(config)
    # everything imported and built so far lives as long as the process: move it out of the
    # collector's sight, so full collections under load walk only request garbage (shorter pauses)
    gc.freeze()
    logger.info("API and page on http://%s:%d/", settings.api_host, sock.getsockname()[1])
    try:
        # on SIGINT/SIGTERM: stop accepting, drain open requests, run the lifespan's exit, return
        server.run(sockets=[sock])
    except SystemExit as e:  # uvicorn exits when the lifespan's startup fails
        raise ServiceFailed("api", f"did not start (exit {e.code}; see the log above)") from None
    finally:
        sock.close()
    if not server.started:
        raise ServiceFailed("api", "did not start (see the log above)")
    logger.info("API stopped")
    return 0
