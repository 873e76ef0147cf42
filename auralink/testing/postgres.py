"""A throwaway PostgreSQL server for tests and benchmarks: initdb, start, databases, stop.

It runs the Debian server binaries (``/usr/lib/postgresql/<version>/bin``) on a free loopback
port with its socket and data in a fresh temporary folder, trusts local connections, and
removes everything on :meth:`PostgresServer.stop`. PostgreSQL refuses to run as root, so as
root the binaries run as the ``postgres`` user (``runuser``) on a folder handed to that user.

    with PostgresServer.start() as pg:
        url = pg.create_database("test_keys")   # postgresql+asyncpg://postgres@127.0.0.1:PORT/test_keys
"""

from __future__ import annotations

__all__ = ["PostgresServer", "find_postgres_bin"]

import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from auralink.core import ServiceFailed

from .ports import free_port

logger = logging.getLogger("auralink.testing")

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: PATH first, else the newest Debian version."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(
        (p for p in _DEBIAN_ROOT.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ServiceFailed(
            "postgresql", "no initdb found; install the Debian package `postgresql` (scripts/setup.sh)"
        )
    return versions[-1]


class PostgresServer:
    """One private PostgreSQL cluster; use :meth:`start` (a context manager) and :meth:`stop`."""

    def __init__(self, *, bin_dir: Path, base: Path, port: int, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.port = port
        self.host = "127.0.0.1"
        self._run_as = run_as
        self._running = False

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @classmethod
    def start(cls, *, bin_dir: Path | None = None, timeout: float = 60.0) -> PostgresServer:
        """initdb into a new temporary folder and start the server; raises :class:`ServiceFailed`."""
        bin_dir = bin_dir or find_postgres_bin()
        run_as = "postgres" if os.geteuid() == 0 else None
        base = Path(tempfile.mkdtemp(prefix="auralink-pg-"))
        server = cls(bin_dir=bin_dir, base=base, port=free_port(), run_as=run_as)
        try:
            server._init_and_start(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _cmd(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", self._run_as, "--", *argv] if self._run_as else argv

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> None:
        done = subprocess.run(
            self._cmd(tool, *args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise ServiceFailed(
                "postgresql",
                f"{tool} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-800:]}",
            )

    def _init_and_start(self, timeout: float) -> None:
        self.socket_dir.mkdir()
        if self._run_as:
            user = pwd.getpwnam(self._run_as)
            for path in (self.base, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        initdb = ["-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]
        self._run("initdb", *initdb, "--no-sync")
        options = (
            f"-c listen_addresses={self.host} -c port={self.port} "
            f"-c unix_socket_directories={self.socket_dir} -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=100"
        )
        log = self.base / "server.log"
        self._running = True  # from here on, stop() tries pg_ctl stop even if start half-failed
        wait = ["-w", "-t", str(int(timeout))]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(log),
            "-o",
            options,
            *wait,
            "start",
            timeout=timeout + 10,
        )
        deadline = time.monotonic() + timeout
        while True:  # pg_ctl -w waited already; this confirms TCP answers too
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise ServiceFailed("postgresql", "did not accept connections", log=str(log)) from None
                time.sleep(0.1)
        logger.info("PostgreSQL on %s:%d (data in %s)", self.host, self.port, self.data_dir)

    def url(self, database: str = "postgres", *, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy async URL."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        self._run("createdb", "-h", self.host, "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def restart(self, *, timeout: float = 60.0) -> None:
        """Restart the server (fast shutdown: open connections are cut, committed data stays)."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",  # the new server logs here, not into our pipes (run() would wait on them forever)
            str(self.base / "server.log"),
            "-m",
            "fast",
            "-w",
            "-t",
            str(int(timeout)),
            "restart",
            timeout=timeout + 10,
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder; safe to call twice."""
        if self._running:
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=60)
            except (ServiceFailed, subprocess.TimeoutExpired) as e:
                logger.warning("PostgreSQL did not stop cleanly: %s", e)
            self._running = False
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
