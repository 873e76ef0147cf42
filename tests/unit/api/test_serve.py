"""``auralink api`` as a process: it answers on the configured port and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from auralink.api import serve
from auralink.core import PortInUse, Settings
from auralink.testing.ports import free_port

KEY = "test-key"
SECRET = "0123456789abcdef0123456789abcdef-test-secret"


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    (tmp_path / "agents.yaml").write_text(
        "version: 1\nagents:\n  - name: assistant\n    instructions: Be brief.\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURALINK_", "LIVEKIT_"))}
    env.update(
        LIVEKIT_URL="ws://127.0.0.1:7880",
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
        AURALINK_API_HOST="127.0.0.1",
        AURALINK_API_PORT=str(port),
        AURALINK_AGENTS_FILE=str(tmp_path / "agents.yaml"),
    )
    return env


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_then_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    code = (
        "import sys; from auralink.api import serve; from auralink.core import Settings; "
        "sys.exit(serve(Settings()))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(tmp_path, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/dev/agents", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None, proc.stdout.read().decode() if proc.stdout else ""
        assert answer.status_code == 200
        assert [a["name"] for a in answer.json()] == ["assistant"]

        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_serve_names_the_setting_when_the_port_is_taken(tmp_path: Path) -> None:
    (tmp_path / "agents.yaml").write_text("version: 1\nagents: []\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        settings = Settings(
            _env_file=None,
            LIVEKIT_API_KEY=KEY,
            LIVEKIT_API_SECRET=SECRET,
            api_host="127.0.0.1",
            api_port=port,
            agents_file=tmp_path / "agents.yaml",
            data_dir=tmp_path / "data",
        )
        with pytest.raises(PortInUse, match="AURALINK_API_PORT"):
            serve(settings)
