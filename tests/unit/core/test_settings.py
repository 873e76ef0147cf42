"""Settings: env over .env, LiveKit's own variable names, placeholder secrets refused, .env.example complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from auralink.core import Settings

REPO = Path(__file__).resolve().parents[3]


def test_env_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("AURALINK_API_PORT=9001\nLIVEKIT_URL=ws://from-file:7880\n")
    monkeypatch.setenv("AURALINK_API_PORT", "9002")
    monkeypatch.delenv("LIVEKIT_URL", raising=False)
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.api_port == 9002
    assert s.livekit_url == "ws://from-file:7880"
    assert s.models_base_url == "http://127.0.0.1:8811/v1"


def test_placeholder_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", "secret")
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^# ?((?:AURALINK|LIVEKIT)_[A-Z_]+)=", text, flags=re.M))
    expected = set()
    for name, field in Settings.model_fields.items():
        if name in {"livekit_url", "livekit_api_key", "livekit_api_secret"}:
            expected.add(name.upper())
        elif name != "worker_ready_file":  # set by the supervisor, not by people
            expected.add(f"AURALINK_{name.upper()}")
        del field
    assert expected <= documented, sorted(expected - documented)
