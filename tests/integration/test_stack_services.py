"""The supervisor with the real Redis and livekit-server on free ports, and `auralink up` itself."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api, rtc

from auralink.cli.stack import Stack
from auralink.core import Settings
from auralink.testing.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("AURALINK_", "LIVEKIT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        redis_port=free_port(),
        livekit_port=free_port(),
        livekit_rtc_tcp_port=free_port(),
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _redis(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command)
        time.sleep(0.2)
        return sock.recv(65536)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(_settings(tmp_path), services=["redis", "livekit"], run_dir=tmp_path / "run") as running:
        yield running


async def _media_flows(settings: Settings) -> None:
    """Two participants join; one publishes audio and the other receives the track."""
    assert settings.livekit_api_key and settings.livekit_api_secret is not None
    key, secret = settings.livekit_api_key, settings.livekit_api_secret.get_secret_value()

    def token(identity: str) -> str:
        grants = api.VideoGrants(room_join=True, room="stack-test")
        return api.AccessToken(key, secret).with_identity(identity).with_grants(grants).to_jwt()

    listener, speaker = rtc.Room(), rtc.Room()
    got_track: asyncio.Future[rtc.TrackKind.ValueType] = asyncio.get_running_loop().create_future()

    @listener.on("track_subscribed")
    def _on_track(track: rtc.Track, *_: object) -> None:
        if not got_track.done():
            got_track.set_result(track.kind)

    try:
        await listener.connect(settings.livekit_url, token("listener"))
        await speaker.connect(settings.livekit_url, token("speaker"))
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("mic", source)
        await speaker.local_participant.publish_track(track)
        assert await asyncio.wait_for(got_track, timeout=30) == rtc.TrackKind.KIND_AUDIO
    finally:
        await speaker.disconnect()
        await listener.disconnect()


async def _room_api(settings: Settings, *, secret: str, room: str = "made-by-test") -> list[str]:
    assert settings.livekit_api_key
    url = settings.livekit_url.replace("ws://", "http://")
    async with api.LiveKitAPI(url, settings.livekit_api_key, secret) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room))
        return [room.name for room in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms]


def test_redis_and_livekit_run_on_the_settings_ports(stack: Stack) -> None:
    s = stack.settings
    assert s.livekit_url == f"ws://127.0.0.1:{s.livekit_port}"
    assert {st.name: st.state for st in stack.status()} == {"redis": "healthy", "livekit": "healthy"}
    assert _redis(s.redis_port, b"PING\r\n") == b"+PONG\r\n"

    # the dev keys from the data folder are the server's keys; another secret is refused
    assert s.livekit_api_secret is not None
    assert "made-by-test" in asyncio.run(_room_api(s, secret=s.livekit_api_secret.get_secret_value()))
    with pytest.raises(api.TwirpError):
        asyncio.run(_room_api(s, secret="not-the-secret-" + "x" * 32))

    # livekit keeps its state in the stack's Redis
    assert b"rooms" in _redis(s.redis_port, b"KEYS *\r\n")

    # WebRTC over loopback works (node_ip 127.0.0.1, no external IP lookup)
    asyncio.run(_media_flows(s))


def test_stop_frees_every_port_and_leaves_no_process(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path), services=["redis", "livekit"], run_dir=tmp_path / "run")
    stack.start()
    s = stack.settings
    pids = [st.pid for st in stack.status() if st.pid]
    ports = [s.redis_port, s.livekit_port, s.livekit_rtc_tcp_port]
    assert all(_listening(p) for p in ports)
    stack.stop()
    assert not any(_listening(p) for p in ports)
    assert not any(_alive(pid) for pid in pids)
    assert "exit requested, shutting down" in (tmp_path / "run" / "livekit.log").read_text()


def test_restarted_livekit_answers_again(stack: Stack) -> None:
    s = stack.settings
    assert s.livekit_api_secret is not None
    secret = s.livekit_api_secret.get_secret_value()
    asyncio.run(_room_api(s, secret=secret, room="before-crash"))
    stack.kill("livekit")
    assert not _listening(s.livekit_port)
    stack.restart("livekit")
    assert _listening(s.livekit_port)
    # Redis still lists the crashed node; LiveKit stops choosing it 5 s after its last heartbeat
    # (selector.AvailableSeconds), so a new room may need a retry or two in that window
    deadline = time.monotonic() + 20
    while True:
        try:
            rooms = asyncio.run(_room_api(s, secret=secret, room="after-restart"))
            break
        except api.TwirpError:
            assert time.monotonic() < deadline, "livekit did not serve new rooms after a restart"
            time.sleep(1)
    assert "after-restart" in rooms


def _up_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURALINK_", "LIVEKIT_"))}
    env.update(AURALINK_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", **extra)
    return env


class _Up:
    """`auralink up --services redis,livekit` as a child process, read until its box is printed."""

    def __init__(self, tmp_path: Path) -> None:
        self.redis_port, self.lk_port, self.rtc_port = free_port(), free_port(), free_port()
        env = _up_env(
            tmp_path,
            AURALINK_REDIS_PORT=str(self.redis_port),
            AURALINK_LIVEKIT_PORT=str(self.lk_port),
            AURALINK_LIVEKIT_RTC_TCP_PORT=str(self.rtc_port),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auralink", "up", "--services", "redis,livekit"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []

    def wait_until_up(self) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops everything" in line for line in self.lines):
            assert time.monotonic() < deadline, self.lines
            line = self.proc.stdout.readline()
            assert line, f"auralink up ended early: {self.lines}"
            self.lines.append(line)

    def finish(self) -> str:
        rest, _ = self.proc.communicate(timeout=30)
        return "".join(self.lines) + rest

    def ports_closed(self) -> bool:
        return not any(_listening(p) for p in (self.redis_port, self.lk_port, self.rtc_port))


@pytest.fixture
def up(tmp_path: Path) -> Iterator[_Up]:
    running = _Up(tmp_path)
    try:
        yield running
    finally:
        running.proc.kill()
        running.proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_auralink_up_runs_until_stopped_then_stops_everything(
    up: _Up, tmp_path: Path, sig: signal.Signals
) -> None:
    up.wait_until_up()
    assert _listening(up.redis_port) and _listening(up.lk_port)
    up.proc.send_signal(sig)
    out = up.finish()
    assert up.proc.returncode == 0, out
    assert "livekit  healthy" in out and f"ws://127.0.0.1:{up.lk_port}" in out
    assert "AuraLink is up" in out and str(tmp_path / "data" / "run") in out
    assert out.rstrip().endswith("stopped")
    assert up.ports_closed()


def test_auralink_up_stops_everything_when_a_service_dies(up: _Up) -> None:
    up.wait_until_up()
    _redis(up.redis_port, b"SHUTDOWN NOSAVE\r\n")  # redis exits on its own
    out = up.finish()
    assert up.proc.returncode == 1, out
    assert "redis exited unexpectedly (code 0)" in out
    assert "last log lines:" in out and "Redis is now ready to exit" in out
    assert up.ports_closed()


def test_auralink_up_with_a_taken_port_names_the_setting_and_starts_nothing(tmp_path: Path) -> None:
    redis_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lk_port = int(taken.getsockname()[1])
        out = subprocess.run(
            [sys.executable, "-m", "auralink", "up", "--services", "redis,livekit"],
            cwd=tmp_path,
            env=_up_env(tmp_path, AURALINK_REDIS_PORT=str(redis_port), AURALINK_LIVEKIT_PORT=str(lk_port)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert out.returncode == 2, out
    assert f"livekit needs port {lk_port}" in out.stderr and "AURALINK_LIVEKIT_PORT" in out.stderr
    assert not _listening(redis_port)  # checked before anything started
