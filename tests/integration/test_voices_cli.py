"""`auralink voices` lists what an agent can speak with: the local Piper voices, and says how to see
ElevenLabs voices when the key is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _voices(agents_file: Path, models_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURALINK_", "ELEVENLABS_"))}
    env.update(AURALINK_AGENTS_FILE=str(agents_file), AURALINK_MODELS_URL=models_url)
    return subprocess.run(
        [sys.executable, "-m", "auralink", "voices", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_voices_lists_local_piper_voices_and_names_the_byok_key(stack: Any, tmp_path: Path) -> None:
    catalogue = tmp_path / "agents.yaml"
    catalogue.write_text(
        "version: 1\nagents:\n"
        "  - {name: local, instructions: hi}\n"
        "  - {name: eleven, instructions: hi, tts: {provider: elevenlabs}}\n"
    )
    out = _voices(catalogue, stack.settings.models_base_url)
    assert out.returncode == 0, out.stderr
    assert "en_US-joe-medium" in out.stdout
    assert "set ELEVENLABS_API_KEY to list ElevenLabs voices" in out.stdout
    only_local = _voices(catalogue, stack.settings.models_base_url, "local")
    assert "en_US-joe-medium" in only_local.stdout and "elevenlabs" not in only_local.stdout
    unknown = _voices(catalogue, stack.settings.models_base_url, "nobody")
    assert unknown.returncode == 2 and "no agent named 'nobody'" in unknown.stderr
