"""The Piper TTS child process: started, watched, restarted, and never left behind.

piper-tts is GPL-3.0, so AuraLink never imports it: it runs Piper's own HTTP server as a separate
process (``python -m piper.http_server``) on loopback and talks to it over HTTP. This module owns
that process:

- :meth:`PiperProcess.start` spawns it and waits until ``GET /info`` answers;
- a watcher task restarts it (with back-off) if it dies while we are running;
- :meth:`PiperProcess.aclose` sends SIGTERM, then SIGKILL after a grace period.

The child runs in its own session, so a Ctrl-C in the terminal reaches only us and we stop it in
order; on Linux it also gets ``PR_SET_PDEATHSIG`` = SIGKILL, so it dies with us even if we are
killed with SIGKILL. Its output is drained into a short buffer quoted in failure messages and
logged at DEBUG (Piper logs request lines, never the text, unless run with ``--debug``).
"""

from __future__ import annotations

__all__ = ["PiperProcess"]

import asyncio
import collections
import contextlib
import ctypes
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from auralink.core.errors import PortInUse, ServiceFailed

logger = logging.getLogger("auralink.models")

_PR_SET_PDEATHSIG = 1
_SERVICE = "piper TTS"


def _death_signal_setter() -> Callable[[], None] | None:
    """A function for the child to run between fork and exec: die with SIGKILL when we die.

    ``prctl`` is looked up here, in the parent: the child must not call into the dynamic loader
    (other threads may hold its lock at fork time, e.g. while a model library loads).
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    sigkill = int(signal.SIGKILL)

    def set_death_signal() -> None:  # pragma: no cover - runs in the child
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)

    return set_death_signal


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


class PiperProcess:
    """Piper's HTTP server as a supervised child process on ``host:port``."""

    def __init__(
        self,
        *,
        model: Path,
        port: int,
        host: str = "127.0.0.1",
        python: str = sys.executable,
        ready_timeout: float = 60.0,
        port_setting: str = "AURALINK_PIPER_PORT",
    ) -> None:
        self.model = model
        self.host = host
        self.port = port
        self._python = python
        self._ready_timeout = ready_timeout
        self._port_setting = port_setting
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=30)
        self._ready = asyncio.Event()
        self._closing = False
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def start(self) -> None:
        """Spawn Piper and wait until it answers; raise :class:`ServiceFailed` if it never does."""
        await self._spawn()
        self._watch = asyncio.create_task(self._watch_loop(), name="piper-watch")

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    async def _spawn(self) -> None:
        if _port_taken(self.host, self.port):
            raise PortInUse(_SERVICE, self.port, self._port_setting)
        self._tail.clear()
        self._proc = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "piper.http_server",
            "-m",
            str(self.model),
            "--host",
            self.host,
            "--port",
            str(self.port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal_setter(),
        )
        self._drain = asyncio.create_task(self._drain_output(self._proc), name="piper-output")
        logger.info("piper TTS starting (pid %s, port %s)", self._proc.pid, self.port)
        started = time.monotonic()
        await self._wait_until_answering(self._proc)
        self._ready.set()
        logger.info("piper TTS ready in %.1fs", time.monotonic() - started)

    async def _wait_until_answering(self, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self._ready_timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                if proc.returncode is not None:
                    await self._finish_drain()
                    raise ServiceFailed(
                        _SERVICE, f"exited with code {proc.returncode} while starting: {self._last_lines()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/info") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        await self._stop_process()
        raise ServiceFailed(
            _SERVICE, f"did not answer within {self._ready_timeout:.0f}s: {self._last_lines()}"
        )

    async def _watch_loop(self) -> None:
        backoff = 1.0
        while not self._closing:
            proc = self._proc
            assert proc is not None
            code = await proc.wait()
            self._ready.clear()
            if self._is_closing():
                return
            await self._finish_drain()
            logger.warning(
                "piper TTS exited with code %s; restarting in %.0fs (%s)", code, backoff, self._last_lines()
            )
            await asyncio.sleep(backoff)
            try:
                await self._spawn()
                self.restarts += 1
                backoff = 1.0
            except (ServiceFailed, PortInUse) as e:
                logger.error("piper TTS restart failed: %s", e)
                backoff = min(backoff * 2, 30.0)
                # _spawn left a dead process (or none): loop waits on it and retries
                if self._proc is None or self._proc.returncode is None:
                    await self._stop_process()

    def _is_closing(self) -> bool:
        return self._closing  # a call, so that type checkers re-read it after an await

    async def _drain_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode("utf-8", "replace").rstrip()
            if "werkzeug" not in text:  # request lines say nothing about why it failed
                self._tail.append(text)
            logger.debug("piper: %s", text)

    async def _finish_drain(self) -> None:
        if self._drain is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drain), 2)

    def _last_lines(self) -> str:
        lines = [line for line in self._tail if line.strip()]
        return " | ".join(lines[-5:]) or "no output"

    async def _stop_process(self, grace: float = 5.0) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None

    async def aclose(self) -> None:
        """Stop watching and stop the process (SIGTERM, then SIGKILL after 5 s)."""
        self._closing = True
        self._ready.clear()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await self._stop_process()
        if self._proc is not None:
            logger.info("piper TTS stopped")
