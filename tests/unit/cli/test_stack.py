"""The stack supervisor with stand-in services: start order, health, failures, ports, clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from auralink.cli.services import (
    PortNeed,
    ServiceSpec,
    all_of,
    default_specs,
    file_exists,
    http_ok,
    livekit_config,
    settings_env,
)
from auralink.cli.stack import Stack
from auralink.core import PortInUse, ServiceFailed, Settings
from auralink.testing.ports import free_port

# A tiny HTTP service: answers 200 on every path with the settings it sees, optionally forks a
# grandchild (to prove the whole group is stopped) and optionally ignores SIGTERM.
SERVER = textwrap.dedent(
    """
    import http.server, json, os, signal, subprocess, sys
    from auralink.core import Settings
    port = int(sys.argv[1])
    if "--grandchild" in sys.argv:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(sys.argv[sys.argv.index("--grandchild") + 1], "w").write(str(child.pid))
    if "--stubborn" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    seen = Settings()
    body = json.dumps({"key": seen.livekit_api_key, "api_port": seen.api_port}).encode()
    if "--ready" in sys.argv:  # like the worker: healthy over HTTP at once, ready a moment later
        import threading, time
        ready = sys.argv[sys.argv.index("--ready") + 1]
        def mark():
            time.sleep(1.0)
            open(ready, "w").write(str(os.getpid()))
        threading.Thread(target=mark, daemon=True).start()
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    print("fake service listening on", port, flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("AURALINK_", "LIVEKIT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_port=free_port())


def fake(name: str, port: int, *extra: str, timeout: float = 20.0, stop_timeout: float = 5.0) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        argv=(sys.executable, "-c", SERVER, str(port), *extra),
        health=http_ok(f"http://127.0.0.1:{port}/"),
        ports=(PortNeed(port=port, setting=f"FAKE_{name.upper()}_PORT", host="127.0.0.1"),),
        url=f"http://127.0.0.1:{port}/",
        start_timeout=timeout,
        stop_timeout=stop_timeout,
    )


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def get_json(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return dict(json.loads(data.split(b"\r\n\r\n", 1)[1]))


@pytest.fixture
def listener() -> Iterator[int]:
    """A port someone else is already listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_starts_in_order_reports_health_and_stops_everything(settings: Settings, tmp_path: Path) -> None:
    pa, pb = free_port(), free_port()
    events: list[str] = []
    stack = Stack(
        settings,
        specs=[fake("first", pa), fake("second", pb)],
        run_dir=tmp_path / "run",
        on_event=events.append,
    )
    with stack:
        assert [s.state for s in stack.status()] == ["healthy", "healthy"]
        assert port_taken(pa) and port_taken(pb)
        assert [e.split()[:2] for e in events] == [
            ["first", "starting"],
            ["first", "healthy"],
            ["second", "starting"],
            ["second", "healthy"],
        ]
        assert f"http://127.0.0.1:{pa}/" in events[1]
        pids = [s.pid for s in stack.status()]
        assert "fake service listening" in (tmp_path / "run" / "first.log").read_text()
        # children see the supervisor's settings, dev keys included
        seen = get_json(pa)
        assert seen == {"key": stack.settings.livekit_api_key, "api_port": settings.api_port}
        assert stack.settings.livekit_api_key is not None
    assert [s.state for s in stack.status()] == ["stopped", "stopped"]
    assert not port_taken(pa) and not port_taken(pb)
    assert not any(alive(pid) for pid in pids if pid)
    assert [e.split()[:2] for e in events[-2:]] == [["second", "stopped"], ["first", "stopped"]]
    stack.stop()  # idempotent


def test_a_service_that_exits_at_once_fails_with_its_log_and_stops_the_others(
    settings: Settings, tmp_path: Path
) -> None:
    pa = free_port()
    crash = ServiceSpec(
        name="crashy",
        argv=(sys.executable, "-c", "print('boom: no config here'); raise SystemExit(3)"),
        health=lambda: False,
    )
    stack = Stack(settings, specs=[fake("first", pa), crash], run_dir=tmp_path / "run")
    with pytest.raises(ServiceFailed) as err:
        stack.start()
    message = str(err.value)
    assert "crashy failed: exited with code 3" in message
    assert "boom: no config here" in message
    assert str(tmp_path / "run" / "crashy.log") in message
    assert not port_taken(pa)  # the healthy one was stopped too
    assert [s.state for s in stack.status()] == ["stopped", "stopped"]


def test_a_service_never_healthy_times_out(settings: Settings, tmp_path: Path) -> None:
    sleeper = ServiceSpec(
        name="sleepy",
        argv=(sys.executable, "-c", "import time; print('loading…', flush=True); time.sleep(600)"),
        health=lambda: False,
        start_timeout=1.0,
    )
    stack = Stack(settings, specs=[sleeper], run_dir=tmp_path / "run")
    with pytest.raises(ServiceFailed, match=r"sleepy failed: not healthy after 1s(.|\n)*loading…"):
        stack.start()
    assert stack.status()[0].state == "stopped"


def test_a_missing_program_is_a_clear_failure(settings: Settings, tmp_path: Path) -> None:
    spec = ServiceSpec(name="ghost", argv=("/nonexistent/ghost-server",), health=lambda: True)
    with pytest.raises(ServiceFailed, match="ghost failed: cannot run /nonexistent/ghost-server"):
        Stack(settings, specs=[spec], run_dir=tmp_path / "run").start()


def test_port_in_use_names_the_setting_and_starts_nothing(
    settings: Settings, tmp_path: Path, listener: int
) -> None:
    pa = free_port()
    stack = Stack(settings, specs=[fake("first", pa), fake("second", listener)], run_dir=tmp_path / "run")
    with pytest.raises(PortInUse, match=f"second needs port {listener}.*FAKE_SECOND_PORT"):
        stack.start()
    assert not (tmp_path / "run" / "first.log").exists()
    assert not port_taken(pa)


def test_real_service_specs_name_their_settings_when_ports_are_taken(
    settings: Settings, tmp_path: Path, listener: int
) -> None:
    taken = settings.model_copy(update={"redis_port": listener})
    with pytest.raises(PortInUse, match=f"port {listener}.*AURALINK_REDIS_PORT"):
        Stack(taken, services=["redis"], run_dir=tmp_path / "run").start()
    taken = settings.model_copy(update={"api_port": listener})
    with pytest.raises(PortInUse, match="AURALINK_API_PORT"):
        Stack(taken, services=["api"], run_dir=tmp_path / "run").start()


def test_stop_reaches_grandchildren_and_stubborn_services(settings: Settings, tmp_path: Path) -> None:
    pa, pb = free_port(), free_port()
    pidfile = tmp_path / "grandchild.pid"
    specs = [
        fake("parent", pa, "--grandchild", str(pidfile)),
        fake("stubborn", pb, "--stubborn", stop_timeout=1.0),
    ]
    stack = Stack(settings, specs=specs, run_dir=tmp_path / "run")
    with stack:
        grandchild = int(pidfile.read_text())
        assert alive(grandchild)
        stubborn = stack.pid("stubborn")
    began = time.monotonic()
    stack.stop()
    assert time.monotonic() - began < 5
    assert stubborn is not None and not alive(stubborn)
    assert not alive(grandchild)
    assert not port_taken(pa) and not port_taken(pb)


def test_kill_and_restart_one_service(settings: Settings, tmp_path: Path) -> None:
    pa, pb = free_port(), free_port()
    with Stack(settings, specs=[fake("first", pa), fake("worker", pb)], run_dir=tmp_path / "run") as stack:
        old = stack.pid("worker")
        stack.kill("worker")
        assert {s.name: s.state for s in stack.status()} == {"first": "healthy", "worker": "exited"}
        assert not port_taken(pb)
        assert stack.check() is None  # killed on purpose: not an unexpected exit
        stack.restart("worker")
        assert {s.name: s.state for s in stack.status()} == {"first": "healthy", "worker": "healthy"}
        assert stack.pid("worker") != old
        assert port_taken(pb)
        log = (tmp_path / "run" / "worker.log").read_text()
        assert log.count("starting:") == 2  # one log, appended across restarts
    assert not port_taken(pa) and not port_taken(pb)


def test_check_reports_a_service_that_died_on_its_own(settings: Settings, tmp_path: Path) -> None:
    pa = free_port()
    with Stack(settings, specs=[fake("first", pa)], run_dir=tmp_path / "run") as stack:
        assert stack.check() is None
        pid = stack.pid("first")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (dead := stack.check()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dead is not None and dead.name == "first" and dead.returncode == -signal.SIGKILL
        assert stack.status()[0].state == "exited"


def test_default_run_dir_is_timestamped_with_a_latest_link(settings: Settings) -> None:
    a = Stack(settings, specs=[])
    b = Stack(settings, specs=[])
    assert a.run_dir.parent == b.run_dir.parent == settings.run_dir
    assert a.run_dir != b.run_dir
    assert (settings.run_dir / "latest").resolve() == b.run_dir.resolve()


def test_children_die_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    port = free_port()
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from auralink.core import Settings
        from auralink.cli.stack import Stack
        from test_stack import fake
        stack = Stack(Settings(data_dir={str(tmp_path / "data")!r}), specs=[fake("svc", {port})])
        stack.start()
        open({str(pidfile)!r}, "w").write(str(stack.pid("svc")))
        time.sleep(600)
        """
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert supervisor.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        child = int(pidfile.read_text())
        assert alive(child)
        supervisor.kill()
        supervisor.wait()
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
        assert not port_taken(port)
    finally:
        supervisor.kill()
        supervisor.wait()


def test_settings_round_trip_through_the_child_environment(settings: Settings, tmp_path: Path) -> None:
    from auralink.cli.keys import with_dev_keys

    filled = with_dev_keys(settings.model_copy(update={"models_url": "http://10.0.0.5:9000/v1"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURALINK_", "LIVEKIT_"))}
    env.update(settings_env(filled))
    code = (
        "from auralink.core import Settings; s = Settings(); "
        "print(s.model_dump_json(exclude={'livekit_api_secret'})); print(s.livekit_api_secret.get_secret_value())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True, check=True, timeout=60
    )
    dumped, secret = out.stdout.splitlines()
    seen = json.loads(dumped)
    expected = json.loads(filled.model_dump_json(exclude={"livekit_api_secret"}))
    expected["data_dir"] = str(filled.data_dir.absolute())  # paths travel absolute
    expected["agents_file"] = str(filled.agents_file.absolute())
    assert seen == expected
    assert filled.livekit_api_secret is not None and secret == filled.livekit_api_secret.get_secret_value()


def test_livekit_config_is_loopback_with_the_dev_keys(settings: Settings, tmp_path: Path) -> None:
    with Stack(settings, specs=[], run_dir=tmp_path / "run") as stack:
        s = stack.settings
    config = yaml.safe_load(livekit_config(s, with_redis=True))
    assert s.livekit_api_key is not None and s.livekit_api_secret is not None
    assert config["keys"] == {s.livekit_api_key: s.livekit_api_secret.get_secret_value()}
    assert config["port"] == s.livekit_port and config["bind_addresses"] == ["127.0.0.1"]
    assert config["rtc"]["tcp_port"] == s.livekit_rtc_tcp_port
    assert config["rtc"]["use_external_ip"] is False
    assert config["redis"]["address"] == f"127.0.0.1:{s.redis_port}"
    assert "redis" not in yaml.safe_load(livekit_config(s, with_redis=False))


def test_default_specs_follow_the_settings(settings: Settings, tmp_path: Path) -> None:
    stack = Stack(
        settings.model_copy(update={"livekit_port": 0, "worker_port": 0}), specs=[], run_dir=tmp_path
    )
    s = stack.settings
    assert s.livekit_port != 0 and s.worker_port != 0  # 0 means "pick a free port"
    specs = {spec.name: spec for spec in default_specs(s, run_dir=tmp_path, names=["redis", "worker", "api"])}
    assert list(specs) == ["redis", "worker", "api"]
    assert specs["redis"].argv[:3] == ("redis-server", "--port", str(s.redis_port))
    assert specs["worker"].argv[1:] == ("-m", "auralink", "worker")
    assert specs["api"].url == f"http://127.0.0.1:{s.api_port}/"


def test_readiness_marker_is_awaited_and_a_stale_one_is_not_trusted(
    settings: Settings, tmp_path: Path
) -> None:
    port, marker = free_port(), tmp_path / "svc.ready"
    base = fake("svc", port, "--ready", str(marker))
    spec = ServiceSpec(
        name=base.name,
        argv=base.argv,
        health=all_of(base.health, file_exists(marker)),
        ports=base.ports,
        stale=(marker,),
    )
    with Stack(settings, specs=[spec], run_dir=tmp_path / "run") as stack:
        first = stack.pid("svc")
        assert marker.read_text() == str(first)  # start() returned only once the marker was written
        stack.kill("svc")
        assert marker.exists()  # a crash leaves the old marker behind
        began = time.monotonic()
        stack.restart("svc")
        assert time.monotonic() - began >= 1.0  # the old marker was removed, the new one awaited
        assert marker.read_text() == str(stack.pid("svc")) != str(first)


def test_the_worker_is_ready_only_once_registered(settings: Settings, tmp_path: Path) -> None:
    stack = Stack(settings, services=["worker"], run_dir=tmp_path / "run")
    ready = stack.settings.worker_ready_file
    assert ready == (tmp_path / "run" / "worker.ready").absolute()
    (worker,) = default_specs(stack.settings, run_dir=stack.run_dir, names=["worker"])
    assert worker.stale == (ready,)
    assert settings_env(stack.settings)["AURALINK_WORKER_READY_FILE"] == str(ready)
