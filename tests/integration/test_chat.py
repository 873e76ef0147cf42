"""`auralink chat` holds a text conversation with the same agent logic, no LiveKit server needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _chat(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURALINK_", "LIVEKIT_"))}
    env["AURALINK_DATA_DIR"] = str(tmp_path)
    env["AURALINK_MODELS_PORT"] = "1"  # nothing listens there: chat must start its own model server
    return subprocess.run(
        [sys.executable, "-m", "auralink", "chat", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_chat_answers_in_the_terminal(tmp_path: Path) -> None:
    out = _chat("assistant", "-m", "What is the capital of France?", "-m", "Thank you!", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("assistant> Hello, I am Aura")  # the greeting from agents.yaml
    replies = [ln for ln in lines[1:] if ln.startswith("assistant> ")]
    assert len(replies) == 2 and all(len(r) > len("assistant> ") + 2 for r in replies), out.stdout


def test_chat_with_unknown_agent_is_a_clear_error(tmp_path: Path) -> None:
    out = _chat("nobody", "-m", "hi", tmp_path=tmp_path)
    assert out.returncode == 2
    assert "no agent named 'nobody'" in out.stderr and "assistant" in out.stderr
