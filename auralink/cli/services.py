"""What each service of the local stack is: its command, ports, health check and files.

A :class:`ServiceSpec` is plain data, so the supervisor in :mod:`auralink.cli.stack` can run the
real services (:func:`default_specs`) or stand-ins in tests. Children receive the supervisor's
settings as environment variables (:func:`settings_env`), so ``get_settings()`` in a child sees
exactly the values the parent used.
"""

from __future__ import annotations

__all__ = [
    "SERVICE_NAMES",
    "HealthCheck",
    "PortNeed",
    "ServiceSpec",
    "all_of",
    "child_env",
    "connect_host",
    "default_specs",
    "env_name",
    "file_exists",
    "find_livekit_server",
    "http_ok",
    "livekit_config",
    "redis_ping",
    "settings_env",
]

import http.client
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from auralink.core import ServiceFailed, Settings

SERVICE_NAMES: tuple[str, ...] = ("redis", "livekit", "chroma", "models", "worker", "api")
"""Every service ``auralink up`` knows, in dependency order."""

HealthCheck = Callable[[], bool]
"""Returns True when the service answers as it should; must not raise and must return quickly."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortNeed:
    """A TCP port a service listens on, and the setting that chooses it (for error messages)."""

    port: int
    setting: str
    host: str = "0.0.0.0"  # noqa: S104 - only ever bound briefly to test that the port is free


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSpec:
    """How to run one service: command, extra environment, ports, health check, files to write."""

    name: str
    argv: tuple[str, ...]
    health: HealthCheck
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PortNeed, ...] = ()
    url: str | None = None
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    files: Mapping[Path, str] = field(default_factory=dict)
    """Written with mode 0600 just before the service starts (they may hold secrets)."""
    stale: tuple[Path, ...] = ()
    """Removed just before the service starts (e.g. a readiness marker of its previous run)."""


# -- health checks --------------------------------------------------------------------------


def http_ok(url: str, *, timeout: float = 2.0) -> HealthCheck:
    """A check that GETs ``url`` (plain http, no proxy) and wants status 200."""
    scheme, _, rest = url.partition("://")
    if scheme != "http":
        raise ValueError(f"health checks speak plain http, not {url!r}")
    hostport, slash, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    target = slash + path or "/"

    def check() -> bool:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request("GET", target)
            return conn.getresponse().status == HTTPStatus.OK
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    return check


def redis_ping(port: int, *, host: str = "127.0.0.1", timeout: float = 2.0) -> HealthCheck:
    """A check that sends Redis ``PING`` and wants ``+PONG``."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    return check


def file_exists(path: Path) -> HealthCheck:
    """A check that wants ``path`` to exist (a readiness marker the service writes)."""
    return path.exists


def all_of(*checks: HealthCheck) -> HealthCheck:
    """A check that passes when every one of ``checks`` passes (evaluated in order)."""
    return lambda: all(check() for check in checks)


# -- settings → environment -----------------------------------------------------------------


def env_name(name: str, info: FieldInfo | None = None) -> str:
    """The environment variable that sets the :class:`Settings` field ``name``."""
    info = info or Settings.model_fields[name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return f"{prefix}{name}".upper()


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as an environment variable, so a child process rebuilds the same settings.

    Unset optional settings are left out (:func:`child_env` removes them from the inherited
    environment). Paths are made absolute, so a child in another folder finds the same files.
    """
    dumped = settings.model_dump(mode="json")
    env: dict[str, str] = {}
    for name, info in type(settings).model_fields.items():
        value: Any = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, Path):
            text = str(value.absolute())
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            text = json.dumps(dumped[name])
        env[env_name(name, info)] = text
    return env


def child_env(settings: Settings, extra: Mapping[str, str]) -> dict[str, str]:
    """The full environment of a child: ours, then the settings, then the service's own."""
    env = dict(os.environ)
    for name, info in type(settings).model_fields.items():
        if getattr(settings, name) is None:
            env.pop(env_name(name, info), None)
    env.update(settings_env(settings))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# -- the real services ----------------------------------------------------------------------


def find_livekit_server() -> Path:
    """The livekit-server binary: ``.tools/bin`` of the checkout (or the working folder), then PATH."""
    repo_root = Path(__file__).resolve().parents[2]
    for folder in (repo_root, Path.cwd()):
        candidate = folder / ".tools" / "bin" / "livekit-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("livekit-server")
    if found:
        return Path(found)
    raise ServiceFailed(
        "livekit",
        f"the livekit-server binary is not in {repo_root / '.tools' / 'bin'} nor on PATH; "
        "run scripts/setup.sh (or `make setup`) to build it",
    )


def livekit_config(settings: Settings, *, with_redis: bool, with_api: bool = False) -> str:
    """livekit-server's YAML config: loopback only, the dev keys, Redis when the stack runs it,
    and webhooks to the API's ``/v1/livekit/webhook`` (signed with the key) when it runs the API."""
    if not settings.livekit_api_key or settings.livekit_api_secret is None:
        raise ValueError("livekit_config needs settings with LiveKit keys (see cli.keys.with_dev_keys)")
    config: dict[str, Any] = {
        "port": settings.livekit_port,
        "bind_addresses": ["127.0.0.1"],
        "rtc": {
            "tcp_port": settings.livekit_rtc_tcp_port,
            "port_range_start": settings.livekit_udp_port_start,
            "port_range_end": settings.livekit_udp_port_end,
            "use_external_ip": False,
            "node_ip": "127.0.0.1",
        },
        "keys": {settings.livekit_api_key: settings.livekit_api_secret.get_secret_value()},
        "logging": {"level": "info"},
    }
    if with_redis:
        config["redis"] = {"address": f"127.0.0.1:{settings.redis_port}"}
    if with_api:
        api = f"http://{connect_host(settings.api_host)}:{settings.api_port}/v1/livekit/webhook"
        config["webhook"] = {"api_key": settings.livekit_api_key, "urls": [api]}
    return yaml.safe_dump(config, sort_keys=False)


def default_specs(settings: Settings, *, run_dir: Path, names: Sequence[str]) -> list[ServiceSpec]:
    """The specs of the named real services, in dependency order.

    ``settings`` must already carry LiveKit keys. livekit-server is pointed at the stack's Redis
    only when ``redis`` is among ``names``; alone it runs as a single in-memory node.
    """
    s = settings
    py = sys.executable
    builders: dict[str, Callable[[], ServiceSpec]] = {
        "redis": lambda: ServiceSpec(
            name="redis",
            argv=(
                "redis-server",
                "--port",
                str(s.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ),
            health=redis_ping(s.redis_port),
            ports=(PortNeed(port=s.redis_port, setting=env_name("redis_port")),),
            url=f"redis://127.0.0.1:{s.redis_port}",
            start_timeout=20.0,
        ),
        "livekit": lambda: ServiceSpec(
            name="livekit",
            argv=(str(find_livekit_server()), "--config", str(run_dir / "livekit.yaml")),
            health=http_ok(f"http://127.0.0.1:{s.livekit_port}/"),
            ports=(
                PortNeed(port=s.livekit_port, setting=env_name("livekit_port")),
                PortNeed(port=s.livekit_rtc_tcp_port, setting=env_name("livekit_rtc_tcp_port")),
            ),
            url=f"ws://127.0.0.1:{s.livekit_port}",
            start_timeout=30.0,
            files={
                run_dir / "livekit.yaml": livekit_config(
                    s, with_redis="redis" in names, with_api="api" in names
                )
            },
        ),
        # the memory store as a server: every call is a job process of its own, and the API reads
        # the same memories; one Chroma server keeps them consistent (same folder as embedded)
        "chroma": lambda: ServiceSpec(
            name="chroma",
            argv=(
                str(Path(py).parent / "chroma"),
                "run",
                "--path",
                str(s.memory_dir.absolute()),
                "--host",
                "127.0.0.1",
                "--port",
                str(s.chroma_port),
            ),
            health=http_ok(f"http://127.0.0.1:{s.chroma_port}/api/v2/heartbeat"),
            ports=(PortNeed(port=s.chroma_port, setting=env_name("chroma_port")),),
            url=f"http://127.0.0.1:{s.chroma_port}",
            start_timeout=60.0,
        ),
        "models": lambda: ServiceSpec(
            name="models",
            argv=(py, "-m", "auralink", "models", "serve"),
            health=http_ok(f"http://{connect_host(s.models_host)}:{s.models_port}/health"),
            ports=(PortNeed(port=s.models_port, setting=env_name("models_port"), host=s.models_host),),
            url=s.models_base_url,
            start_timeout=180.0,
        ),
        "worker": lambda: ServiceSpec(
            name="worker",
            argv=(py, "-m", "auralink", "worker"),
            # the health endpoint answers before the worker has registered with LiveKit; the
            # ready file (written on registration) says it can take calls
            health=all_of(http_ok(f"http://127.0.0.1:{s.worker_port}/"), *_ready(s.worker_ready_file)),
            stale=(s.worker_ready_file,) if s.worker_ready_file else (),
            ports=(PortNeed(port=s.worker_port, setting=env_name("worker_port")),),
            url=f"http://127.0.0.1:{s.worker_port}/worker",
            start_timeout=90.0,
            stop_timeout=15.0,
        ),
        "api": lambda: ServiceSpec(
            name="api",
            argv=(py, "-m", "auralink", "api"),
            health=http_ok(f"http://{connect_host(s.api_host)}:{s.api_port}/healthz"),
            ports=(PortNeed(port=s.api_port, setting=env_name("api_port"), host=s.api_host),),
            url=f"http://{connect_host(s.api_host)}:{s.api_port}/",
            start_timeout=60.0,
        ),
    }
    return [builders[name]() for name in SERVICE_NAMES if name in names]


def _ready(path: Path | None) -> tuple[HealthCheck, ...]:
    return (file_exists(path),) if path is not None else ()


def connect_host(bind_host: str) -> str:
    """Where to reach a server bound to ``bind_host`` from this machine."""
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host  # noqa: S104
