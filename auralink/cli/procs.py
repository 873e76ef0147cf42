"""Child processes of the local stack: spawn in their own group, stop the whole group, read logs.

Each service runs in a new session (its own process group), so nothing it forked can escape:
stopping asks the service first and then clears out its whole group. On Linux the child also asks the kernel for ``SIGTERM`` when its parent
dies (``PR_SET_PDEATHSIG``), so a supervisor killed with ``SIGKILL`` leaves no orphans.
"""

from __future__ import annotations

__all__ = ["ChildProcess", "port_is_free", "tail"]

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

logger = logging.getLogger("auralink.cli")

_PR_SET_PDEATHSIG = 1


def _death_signal_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the spawning thread exits.

    The kernel ties the signal to the *thread* that forked, so it is only used when spawning
    from the main thread; a supervisor driven from another thread would kill its children when
    that thread ends.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


class ChildProcess:
    """One running service: a process group whose output goes to a log file."""

    def __init__(self, *, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                preexec_fn=_death_signal_hook(),  # noqa: PLW1509 - async-signal-safe: one prctl call
            )
        self.pid = self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self._popen.poll()

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the whole process group (the service and its children)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the group at once and reap the service (a crash, as far as anyone can tell)."""
        self.signal_group(signal.SIGKILL)
        self._popen.wait()
        self._wait_group_gone(2.0)

    def stop(self, timeout: float) -> None:
        """Stop the service and everything it started, gracefully when it lets us.

        SIGTERM goes to the service first, so it can stop its own children in order (the agent
        worker closes its job processes, the model server its Piper process). If it is still
        running after ``timeout`` s the whole group gets SIGKILL. Whatever it left behind gets
        SIGTERM, a short grace, then SIGKILL.
        """
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("pid %s ignored SIGTERM for %.0fs; killing its group", self.pid, timeout)
                self.signal_group(signal.SIGKILL)
                self._popen.wait()
        if _group_alive(self.pid):
            self.signal_group(signal.SIGTERM)
            if not self._wait_group_gone(min(timeout, 3.0)):
                self.signal_group(signal.SIGKILL)
                self._wait_group_gone(2.0)

    def _wait_group_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while _group_alive(self.pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` is running (zombies awaiting their reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def port_is_free(port: int, host: str = "0.0.0.0") -> bool:  # noqa: S104 - bound briefly to test the port
    """True when a server could listen on ``host:port`` now (same SO_REUSEADDR as servers use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def tail(path: Path, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of a log file (empty when it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]
