"""Dev LiveKit keys: made once, kept private, reused, rotated on request, never over env keys."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from auralink.cli.keys import print_keys, with_dev_keys
from auralink.core import ConfigError, MissingCredential, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("AURALINK_", "LIVEKIT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]


def test_first_use_creates_private_random_keys_and_reuses_them(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    filled = with_dev_keys(settings)

    assert filled.livekit_api_key is not None and re.fullmatch(r"AL[0-9a-f]{12}", filled.livekit_api_key)
    assert filled.livekit_api_secret is not None
    secret = filled.livekit_api_secret.get_secret_value()
    assert re.fullmatch(r"[A-Za-z0-9_-]{48}", secret)
    assert settings.livekit_api_key is None  # the input is not changed

    path = settings.dev_keys_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"LIVEKIT_API_KEY={filled.livekit_api_key}\nLIVEKIT_API_SECRET={secret}\n"

    again = with_dev_keys(_settings(tmp_path))
    assert again.livekit_api_key == filled.livekit_api_key
    assert again.livekit_api_secret is not None and again.livekit_api_secret.get_secret_value() == secret


def test_two_data_folders_get_different_keys(tmp_path: Path) -> None:
    a = with_dev_keys(Settings(data_dir=tmp_path / "a"))
    b = with_dev_keys(Settings(data_dir=tmp_path / "b"))
    assert a.livekit_api_key != b.livekit_api_key


def test_keys_from_the_environment_win_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_API_KEY", "cloudkey")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "a-cloud-secret-that-is-long-enough-0123456789")
    settings = _settings(tmp_path)
    assert with_dev_keys(settings) is settings
    assert not settings.dev_keys_file.exists()


def test_half_set_keys_name_the_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(MissingCredential, match="LIVEKIT_API_SECRET"):
        with_dev_keys(_settings(tmp_path, livekit_api_key="cloudkey"))
    with pytest.raises(MissingCredential, match="LIVEKIT_API_KEY"):
        with_dev_keys(_settings(tmp_path, livekit_api_secret=SecretStr("x" * 40)))


def test_a_damaged_keys_file_says_how_to_fix_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.dev_keys_file.parent.mkdir(parents=True)
    settings.dev_keys_file.write_text("LIVEKIT_API_KEY=only-half\n")
    with pytest.raises(ConfigError, match=r"livekit-dev-keys\.env.*auralink keys --rotate"):
        with_dev_keys(settings)


def test_print_keys_prints_sourceable_lines_and_rotate_makes_new_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    assert print_keys(settings, rotate=False) == 0
    first = capsys.readouterr()
    assert re.fullmatch(r"LIVEKIT_API_KEY=AL[0-9a-f]{12}\nLIVEKIT_API_SECRET=[A-Za-z0-9_-]{48}\n", first.out)
    assert str(settings.dev_keys_file) in first.err

    assert print_keys(settings, rotate=False) == 0
    assert capsys.readouterr().out == first.out  # stable

    assert print_keys(settings, rotate=True) == 0
    rotated = capsys.readouterr()
    assert rotated.out != first.out
    assert settings.dev_keys_file.read_text() == rotated.out
    assert stat.S_IMODE(settings.dev_keys_file.stat().st_mode) == 0o600


def test_auralink_keys_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURALINK_", "LIVEKIT_"))}
    env["AURALINK_DATA_DIR"] = str(tmp_path / "data")
    out = subprocess.run(
        [sys.executable, "-m", "auralink", "keys"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (tmp_path / "data" / "livekit-dev-keys.env").read_text()
