"""The page in a real browser against the whole stack: a person picks an agent, presses
Start, asks a question out loud, and reads the conversation in the live captions.

Chromium is Debian's (/usr/bin/chromium), driven by ``web/e2e/page.e2e.mjs`` through npm's
playwright-core, with a WAV file as the microphone. Needs the fixtures ``stack`` (the running
services; ``stack.settings`` says where the API is) and ``question_wav`` (a spoken question).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "web" / "e2e" / "page.e2e.mjs"
CHROMIUM = Path("/usr/bin/chromium")


async def _drive_page(stack: Any, question_wav: Path, tmp_path: Path, *, until: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is not on PATH (scripts/setup.sh installs it)"
    assert (REPO / "web" / "node_modules" / "playwright-core").is_dir(), (
        "web/node_modules is missing: run scripts/setup.sh (npm ci in web/)"
    )
    assert CHROMIUM.exists(), "Debian's chromium is not installed (scripts/setup.sh installs it)"
    settings = stack.settings
    url = f"http://{settings.api_host}:{settings.api_port}/"
    screenshot = tmp_path / f"page-{until}.png"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        "--url",
        url,
        "--agent",
        settings.default_agent,
        "--wav",
        str(question_wav),
        "--until",
        until,
        "--timeout",
        "90",
        "--screenshot",
        str(screenshot),
        "--chromium",
        str(CHROMIUM),
        cwd=REPO / "web",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=240)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the browser script did not finish within 240 s") from None
    lines = out.decode().strip().splitlines()
    assert lines, f"the browser script printed nothing (exit {proc.returncode}): {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["exit"] = proc.returncode
    result["screenshot"] = str(screenshot)
    return result


def _why(result: dict[str, Any]) -> str:
    """The browser's view of what happened, for the assertion message."""
    keys = (
        "exit",
        "failure",
        "status",
        "error",
        "agentState",
        "captions",
        "timings",
        "console",
        "screenshot",
    )
    return json.dumps({k: result.get(k) for k in keys}, indent=1)


async def test_agent_speaks_in_the_captions(stack: Any, question_wav: Path, tmp_path: Path) -> None:
    result = await _drive_page(stack, question_wav, tmp_path, until="agent-caption")
    assert result["exit"] == 0, _why(result)
    assert result["status"] == "connected", _why(result)
    assert result["error"] is None, _why(result)
    assert any(c["text"] for c in result["agentCaptions"]), _why(result)
    assert all(c["label"] == stack.settings.default_agent for c in result["agentCaptions"]), _why(result)


async def test_agent_answers_a_spoken_question(stack: Any, question_wav: Path, tmp_path: Path) -> None:
    result = await _drive_page(stack, question_wav, tmp_path, until="answer")
    assert result["exit"] == 0, _why(result)
    user = [c for c in result["captions"] if c["speaker"] == "user" and c["text"]]
    assert user, _why(result)
    assert all(c["label"] == "You" for c in user), _why(result)
    first_question = result["captions"].index(user[0])
    assert any(c["speaker"] == "agent" and c["text"] for c in result["captions"][first_question + 1 :]), (
        result
    )
