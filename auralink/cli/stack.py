"""The local stack supervisor behind ``auralink up`` and the test fixtures.

:class:`Stack` starts services (Redis, livekit-server, the model server, the worker, the API) in
dependency order, each in its own process group with its log in the run folder, waits for each
health check, and stops them all in reverse order, leaving no process behind and every port free.
It is synchronous on purpose: a test fixture or a command uses it with ``with Stack(...) as stack``.

:func:`run_up` is the ``auralink up`` command on top of it.
"""

from __future__ import annotations

__all__ = ["ServiceState", "ServiceStatus", "Stack", "run_up"]

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Literal, Self

from auralink.core import ConfigError, PortInUse, ServiceFailed, Settings

from .keys import with_dev_keys
from .procs import ChildProcess, port_is_free, tail
from .services import (
    SERVICE_NAMES,
    ServiceSpec,
    child_env,
    connect_host,
    default_service_names,
    default_specs,
)

logger = logging.getLogger("auralink.cli")

ServiceState = Literal["starting", "healthy", "unhealthy", "exited", "stopped"]

_PORT_FIELDS = (
    "redis_port",
    "livekit_port",
    "livekit_rtc_tcp_port",
    "sip_port",
    "chroma_port",
    "models_port",
    "piper_port",
    "worker_port",
    "api_port",
)
_HEARTBEAT_S = 15.0
_LOG_TAIL_LINES = 20
_HEALTH_EVERY_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStatus:
    """What ``status()`` reports for one service."""

    name: str
    pid: int | None
    state: ServiceState
    url: str | None
    log: Path
    returncode: int | None = None


@dataclass(slots=True, kw_only=True)
class _Running:
    spec: ServiceSpec
    proc: ChildProcess
    started: float
    healthy_once: bool = False
    expected_down: bool = False  # stopped or killed on purpose


class Stack:
    """Runs a set of services as child processes; use as a context manager.

    ``services`` picks names among the specs (default: all of them). ``specs`` replaces the real
    services (:func:`auralink.cli.services.default_specs`) with others, e.g. stand-ins in tests.
    Port settings equal to 0 are replaced with free ports. ``settings`` is the effective
    configuration: dev keys filled in, ``livekit_url`` pointing at the local server when the
    stack runs one.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        services: Sequence[str] | None = None,
        run_dir: Path | None = None,
        on_event: Callable[[str], None] | None = None,
        specs: Sequence[ServiceSpec] | None = None,
    ) -> None:
        names = tuple(services) if services is not None else None
        known = tuple(s.name for s in specs) if specs is not None else SERVICE_NAMES
        unknown = [n for n in names or () if n not in known]
        if unknown:
            raise ConfigError(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(known)}")
        if names is None and specs is None:  # livekit-sip only when telephony is on
            names = default_service_names(settings)
        selected = names if names is not None else known
        self.run_dir = run_dir if run_dir is not None else _new_run_dir(settings.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings = self._effective_settings(
            settings, selected, run_dir=self.run_dir, local_specs=specs is None
        )
        if specs is None:
            specs = default_specs(self.settings, run_dir=self.run_dir, names=selected)
        self._specs = [s for s in specs if s.name in selected]
        self._on_event = on_event
        self._running: dict[str, _Running] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._specs]

    def start(self) -> None:
        """Start every service in order and wait until each is healthy.

        Raises :class:`PortInUse` before starting anything when a port is taken, and
        :class:`ServiceFailed` (after stopping what it started) when a service exits or is
        not healthy in time.
        """
        for spec in self._specs:
            if spec.name not in self._running:
                self._check_ports(spec)
        try:
            for spec in self._specs:
                if spec.name not in self._running:
                    self._start_one(spec)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every service, last started first. Safe to call more than once."""
        for name in reversed(list(self._running)):
            self._stop_one(name)
        self._running.clear()

    def kill(self, name: str) -> None:
        """SIGKILL one service and its children, as a crash would."""
        run = self._get(name)
        run.expected_down = True
        run.proc.kill()
        self._emit(name, "exited", run)

    def restart(self, name: str) -> None:
        """Stop one service (if still running) and start it again, waiting until it is healthy.

        When it does not come back, the whole stack is stopped and :class:`ServiceFailed` raised.
        """
        run = self._get(name)
        run.expected_down = True
        run.proc.stop(run.spec.stop_timeout)
        del self._running[name]
        self._check_ports(run.spec)
        try:
            self._start_one(run.spec)
        except BaseException:
            self.stop()
            raise
        # keep self._running in dependency order, which stop() reverses
        order = {s.name: i for i, s in enumerate(self._specs)}
        self._running = dict(sorted(self._running.items(), key=lambda kv: order[kv[0]]))

    def status(self) -> list[ServiceStatus]:
        """Name, pid, state, URL and log of every service, checking health now."""
        out = []
        for spec in self._specs:
            log = self.log_path(spec.name)
            run = self._running.get(spec.name)
            if run is None:
                out.append(ServiceStatus(name=spec.name, pid=None, state="stopped", url=spec.url, log=log))
                continue
            rc = run.proc.returncode
            state: ServiceState
            if rc is not None:
                state = "exited"
            elif spec.health():
                run.healthy_once = True
                state = "healthy"
            else:
                state = "unhealthy" if run.healthy_once else "starting"
            out.append(
                ServiceStatus(
                    name=spec.name, pid=run.proc.pid, state=state, url=spec.url, log=log, returncode=rc
                )
            )
        return out

    def check(self) -> ServiceStatus | None:
        """The first service that exited without being asked to, or None when all are running."""
        for name, run in self._running.items():
            rc = run.proc.returncode
            if rc is not None and not run.expected_down:
                return ServiceStatus(
                    name=name,
                    pid=run.proc.pid,
                    state="exited",
                    url=run.spec.url,
                    log=self.log_path(name),
                    returncode=rc,
                )
        return None

    def log_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = _LOG_TAIL_LINES) -> list[str]:
        return tail(self.log_path(name), lines)

    def pid(self, name: str) -> int | None:
        run = self._running.get(name)
        return run.proc.pid if run else None

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _effective_settings(
        settings: Settings, names: Sequence[str], *, run_dir: Path, local_specs: bool
    ) -> Settings:
        settings = with_dev_keys(settings)
        update: dict[str, object] = {}
        taken: set[int] = set()
        for field in _PORT_FIELDS:
            if getattr(settings, field) == 0:
                update[field] = _free_port(taken)
        if local_specs and "livekit" in names:
            port = update.get("livekit_port", settings.livekit_port)
            update["livekit_url"] = f"ws://127.0.0.1:{port}"
        if local_specs and "chroma" in names:  # the stack's processes share its memory server
            port = update.get("chroma_port", settings.chroma_port)
            update["chroma_url"] = f"http://127.0.0.1:{port}"
            update["memory_backend"] = "http"
        if local_specs and "worker" in names and settings.worker_ready_file is None:
            update["worker_ready_file"] = (run_dir / "worker.ready").absolute()
        return settings.model_copy(update=update) if update else settings

    def _check_ports(self, spec: ServiceSpec) -> None:
        for need in spec.ports:
            if not port_is_free(need.port, need.host):
                raise PortInUse(spec.name, need.port, need.setting)

    def _start_one(self, spec: ServiceSpec) -> None:
        for path in spec.stale:
            path.unlink(missing_ok=True)
        for path, text in spec.files.items():
            _write_private(path, text)
        env = child_env(self.settings, spec.env)
        try:
            proc = ChildProcess(argv=spec.argv, env=env, log_path=self.log_path(spec.name))
        except OSError as e:
            raise ServiceFailed(
                spec.name, f"cannot run {spec.argv[0]}: {e}", log=str(self.log_path(spec.name))
            ) from e
        run = _Running(spec=spec, proc=proc, started=time.monotonic())
        self._running[spec.name] = run
        logger.debug("started %s (pid %s)", spec.name, proc.pid)
        self._emit(spec.name, "starting", run)
        self._wait_healthy(run)

    def _wait_healthy(self, run: _Running) -> None:
        spec = run.spec
        deadline = run.started + spec.start_timeout
        next_beat = run.started + _HEARTBEAT_S
        while True:
            rc = run.proc.returncode
            if rc is not None:
                raise self._failure(spec.name, f"exited with code {rc} before it was healthy")
            if spec.health():
                run.healthy_once = True
                self._emit(spec.name, "healthy", run)
                return
            now = time.monotonic()
            if now >= deadline:
                raise self._failure(spec.name, f"not healthy after {spec.start_timeout:.0f}s")
            if now >= next_beat:
                self._emit(spec.name, "starting", run)
                next_beat += _HEARTBEAT_S
            time.sleep(0.2)

    def _failure(self, name: str, reason: str) -> ServiceFailed:
        lines = self.log_tail(name)
        detail = "\n".join(f"    {line}" for line in lines) if lines else "    (empty log)"
        return ServiceFailed(name, f"{reason}; last log lines:\n{detail}\n", log=str(self.log_path(name)))

    def _stop_one(self, name: str) -> None:
        run = self._running.get(name)
        if run is None:
            return
        run.expected_down = True
        was_running = run.proc.returncode is None
        run.proc.stop(run.spec.stop_timeout)
        if was_running:
            self._emit(name, "stopped", run)

    def _get(self, name: str) -> _Running:
        try:
            return self._running[name]
        except KeyError:
            raise ConfigError(
                f"service {name!r} is not running in this stack ({', '.join(self._running)})"
            ) from None

    def _emit(self, name: str, state: ServiceState, run: _Running) -> None:
        elapsed = time.monotonic() - run.started
        url = run.spec.url if state == "healthy" else ""
        line = f"{name:<8} {state:<9} {elapsed:6.1f}s  {url or ''}".rstrip()
        logger.debug("%s", line)
        if self._on_event is not None:
            self._on_event(line)


def _new_run_dir(base: Path) -> Path:
    """``base/<YYYYmmdd-HHMMSS>`` (suffixed when taken) and a ``latest`` symlink to it."""
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover
        raise ConfigError(f"cannot make a run folder under {base}")
    latest = base / "latest"
    tmp = base / f".latest.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(path.name)
    tmp.replace(latest)
    return path


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            taken.add(port)
            return port


# -- auralink up ------------------------------------------------------------------------------


class _StopRequested(Exception):
    """SIGTERM or SIGHUP arrived: stop the stack as for Ctrl-C."""


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Ignore Ctrl-C and stop signals while the stack shuts down, so the shutdown completes."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _pick_services(settings: Settings, no_worker: bool, services: str | None) -> list[str]:
    names = (
        [n.strip() for n in services.split(",") if n.strip()]
        if services
        else list(default_service_names(settings))
    )
    if no_worker:
        names = [n for n in names if n != "worker"]
    unknown = [n for n in names if n not in SERVICE_NAMES]
    if unknown:
        raise ConfigError(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}")
    return names


def _box(lines: Sequence[str]) -> str:
    width = max(len(line) for line in lines)
    top = "┌" + "─" * (width + 2) + "┐"
    body = [f"│ {line.ljust(width)} │" for line in lines]
    return "\n".join([top, *body, "└" + "─" * (width + 2) + "┘"])


def _watch(stack: Stack, say: Callable[[str], None]) -> int:
    """Wait until a service exits on its own (return 1); print health changes meanwhile."""
    states = {st.name: st.state for st in stack.status()}
    next_health = time.monotonic() + _HEALTH_EVERY_S
    while True:
        dead = stack.check()
        if dead is not None:
            print(f"\n{dead.name} exited unexpectedly (code {dead.returncode})", file=sys.stderr)
            print("last log lines:", file=sys.stderr)
            for line in stack.log_tail(dead.name):
                print(f"    {line}", file=sys.stderr)
            print(f"full log: {dead.log}", file=sys.stderr)
            return 1
        if time.monotonic() >= next_health:
            for st in stack.status():
                if st.state != states.get(st.name):
                    say(f"{st.name:<8} {st.state}")
                    states[st.name] = st.state
            next_health = time.monotonic() + _HEALTH_EVERY_S
        time.sleep(0.5)


def run_up(settings: Settings, *, no_worker: bool, services: str | None) -> int:
    """``auralink up``: run the stack until Ctrl-C/SIGTERM (exit 0) or a service dies (exit 1).

    A port already taken prints which setting to change and exits 2 with nothing left running.
    """

    def say(line: str) -> None:
        print(line, flush=True)

    names = _pick_services(settings, no_worker, services)
    began = time.monotonic()
    stack: Stack | None = None
    with _stop_signals():
        try:
            stack = Stack(settings, services=names, on_event=say)
            say(f"starting {', '.join(names)} (logs in {stack.run_dir})")
            stack.start()
            s = stack.settings
            lines = [f"AuraLink is up ({time.monotonic() - began:.1f}s)"]
            if "api" in names:
                lines.append(f"open  http://{connect_host(s.api_host)}:{s.api_port}/")
            if "livekit" in names:
                lines.append(f"livekit  {s.livekit_url}  (keys: auralink keys)")
            if "sip" in names:
                lines.append(f"sip  udp/tcp {s.sip_port}  (docs/telephony.md)")
            lines += [f"logs  {stack.run_dir}", "Ctrl-C stops everything"]
            say(_box(lines))
            code = _watch(stack, say)
            with _shielded():
                stack.stop()
            say("stopped")
            return code
        except PortInUse as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except ServiceFailed as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, _StopRequested):
            say("\nstopping …")
            with _shielded():
                if stack is not None:
                    stack.stop()
            say("stopped")
            return 0
        finally:
            if stack is not None:
                with _shielded():
                    stack.stop()
