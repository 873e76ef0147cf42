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
    "default_service_names",
    "default_specs",
    "env_name",
    "file_exists",
    "find_livekit_server",
    "find_tool",
    "http_ok",
    "livekit_config",
    "redis_ping",
    "settings_env",
    "sip_config",
    "sip_options_ok",
]

import http.client
import json
import os
import secrets
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

from auralink.core import ConfigError, ServiceFailed, Settings

SERVICE_NAMES: tuple[str, ...] = ("redis", "livekit", "sip", "chroma", "models", "worker", "api")
"""Every service ``auralink up`` knows, in dependency order."""

_TELEPHONY_ONLY = ("sip",)


def default_service_names(settings: Settings) -> tuple[str, ...]:
    """The services ``auralink up`` runs when none are named: livekit-sip only with telephony on."""
    if settings.telephony_enabled:
        return SERVICE_NAMES
    return tuple(n for n in SERVICE_NAMES if n not in _TELEPHONY_ONLY)


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


def sip_options_ok(port: int, *, host: str = "127.0.0.1", timeout: float = 2.0) -> HealthCheck:
    """A check that sends a SIP ``OPTIONS`` over UDP and wants any ``SIP/2.0`` answer back."""

    def check() -> bool:
        tag = secrets.token_hex(6)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.settimeout(timeout)
                sock.connect((host, port))
                local_host, local_port = sock.getsockname()[:2]
                request = (
                    f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{tag};rport\r\n"
                    "Max-Forwards: 70\r\n"
                    f"From: <sip:health@{local_host}>;tag={tag}\r\n"
                    f"To: <sip:{host}:{port}>\r\n"
                    f"Call-ID: health-{tag}@{local_host}\r\n"
                    "CSeq: 1 OPTIONS\r\n"
                    "Content-Length: 0\r\n\r\n"
                )
                sock.send(request.encode())
                return sock.recv(4096).startswith(b"SIP/2.0 ")
            except OSError:
                return False

    return check


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


def find_tool(binary: str, *, service: str) -> Path:
    """A Go binary setup builds: ``.tools/bin`` of the checkout (or the working folder), then PATH."""
    repo_root = Path(__file__).resolve().parents[2]
    for folder in (repo_root, Path.cwd()):
        candidate = folder / ".tools" / "bin" / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(binary)
    if found:
        return Path(found)
    raise ServiceFailed(
        service,
        f"the {binary} binary is not in {repo_root / '.tools' / 'bin'} nor on PATH; "
        "run scripts/setup.sh (or `make setup`) to build it",
    )


def find_livekit_server() -> Path:
    """The livekit-server binary: ``.tools/bin`` of the checkout (or the working folder), then PATH."""
    return find_tool("livekit-server", service="livekit")


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


def sip_config(settings: Settings) -> str:
    """livekit-sip's YAML config: the server's keys and URL, the stack's Redis (which
    livekit-server must share: SIP calls are handed over through it), SIP port and RTP range.

    Health and Prometheus endpoints stay off: readiness is a SIP ``OPTIONS`` answer. CPU load
    shedding is off (see the comment below).
    """
    if not settings.livekit_api_key or settings.livekit_api_secret is None:
        raise ValueError("sip_config needs settings with LiveKit keys (see cli.keys.with_dev_keys)")
    if settings.sip_rtp_port_end <= settings.sip_rtp_port_start:
        raise ConfigError(
            f"{env_name('sip_rtp_port_end')} ({settings.sip_rtp_port_end}) must be above "
            f"{env_name('sip_rtp_port_start')} ({settings.sip_rtp_port_start})"
        )
    config: dict[str, Any] = {
        "api_key": settings.livekit_api_key,
        "api_secret": settings.livekit_api_secret.get_secret_value(),
        "ws_url": f"ws://127.0.0.1:{settings.livekit_port}",
        "redis": {"address": f"127.0.0.1:{settings.redis_port}"},
        "sip_port": settings.sip_port,
        "rtp_port": f"{settings.sip_rtp_port_start}-{settings.sip_rtp_port_end}",
        # on one machine the CPU is mostly the local models' and the worker's: livekit-sip's own
        # load shedding (refuse calls above 90 % CPU, "cpu exhausted") would turn calls away
        # whenever an agent thinks, so it is off; scale out with more nodes instead
        "max_cpu_utilization": 1.0,
        "logging": {"level": "info"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def default_specs(settings: Settings, *, run_dir: Path, names: Sequence[str]) -> list[ServiceSpec]:
    """The specs of the named real services, in dependency order.

    ``settings`` must already carry LiveKit keys. livekit-server is pointed at the stack's Redis
    only when ``redis`` is among ``names``; alone it runs as a single in-memory node. livekit-sip
    (``sip``) needs both Redis and livekit-server.
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
        "sip": lambda: ServiceSpec(
            name="sip",
            argv=(str(find_tool("livekit-sip", service="sip")), "--config", str(run_dir / "sip.yaml")),
            health=sip_options_ok(s.sip_port),
            ports=(PortNeed(port=s.sip_port, setting=env_name("sip_port")),),
            url=f"sip:127.0.0.1:{s.sip_port}",
            start_timeout=30.0,
            files={run_dir / "sip.yaml": sip_config(s)},
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
    if "sip" in names and not {"redis", "livekit"} <= set(names):
        raise ConfigError("livekit-sip (sip) needs the stack's redis and livekit services as well")
    return [builders[name]() for name in SERVICE_NAMES if name in names]


def _ready(path: Path | None) -> tuple[HealthCheck, ...]:
    return (file_exists(path),) if path is not None else ()


def connect_host(bind_host: str) -> str:
    """Where to reach a server bound to ``bind_host`` from this machine."""
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host  # noqa: S104
