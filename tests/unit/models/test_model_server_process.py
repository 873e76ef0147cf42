"""``auralink models serve`` as a process: ``--only``, SIGTERM, and no Piper left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from auralink.testing.ports import free_ports

REPO = Path(__file__).resolve().parents[3]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_serve_with_only_tts_answers_503_for_the_rest_and_stops_piper_on_sigterm(tmp_path: Path) -> None:
    models_port, piper_port = free_ports(2)
    env = {
        **os.environ,
        "AURALINK_MODELS_PORT": str(models_port),
        "AURALINK_PIPER_PORT": str(piper_port),
        "AURALINK_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", "tts"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{models_port}"
    try:
        health: dict[str, object] = {}
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=base, timeout=10) as http:
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                try:
                    r = http.get("/health")
                    if r.status_code == 200:
                        health = r.json()
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            assert health.get("status") == "ready", "the server never became ready"
            piper = health["piper"]
            assert isinstance(piper, dict)
            piper_pid = int(piper["pid"])
            assert _alive(piper_pid)

            r = http.post(
                "/v1/chat/completions",
                json={"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "model_not_ready"
            assert "--only" in r.json()["error"]["message"]

            speech = http.post(
                "/v1/audio/speech", json={"model": "piper", "input": "Hello.", "response_format": "pcm"}
            )
            assert speech.status_code == 200 and len(speech.content) > 4800

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while _alive(piper_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(piper_pid), "the piper child outlived the server"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_serve_refuses_an_unknown_only_kind(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", "llm,video"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "--only" in r.stderr and "video" in r.stderr
