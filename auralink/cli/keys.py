"""Dev LiveKit API keys: made once per data folder, kept in a 0600 file, never hard-coded.

When ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` are set (LiveKit Cloud, a shared server),
they win and nothing is written. Otherwise ``settings.dev_keys_file`` holds a random key pair
that the local livekit-server, the worker and the API all read, so a fresh checkout works
without anyone choosing a secret.
"""

from __future__ import annotations

__all__ = ["DevKeys", "print_keys", "read_or_create_keys", "with_dev_keys"]

import contextlib
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from auralink.core import ConfigError, MissingCredential, Settings

_KEY_VAR = "LIVEKIT_API_KEY"
_SECRET_VAR = "LIVEKIT_API_SECRET"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True, slots=True, kw_only=True)
class DevKeys:
    """One LiveKit API key pair."""

    api_key: str
    api_secret: str

    @classmethod
    def generate(cls) -> DevKeys:
        # "AL" + 12 hex chars; token_urlsafe(36) is 48 url-safe characters (LiveKit wants >= 32)
        return cls(api_key="AL" + secrets.token_hex(6), api_secret=secrets.token_urlsafe(36))

    def dump(self) -> str:
        return f"{_KEY_VAR}={self.api_key}\n{_SECRET_VAR}={self.api_secret}\n"


def with_dev_keys(settings: Settings) -> Settings:
    """``settings`` with LiveKit keys filled in from the dev keys file (created if missing).

    Keys already set in the environment are returned unchanged; setting only one of the two
    is an error that names the missing variable.
    """
    key, secret = settings.livekit_api_key, settings.livekit_api_secret
    if key and secret is not None:
        return settings
    if key and secret is None:
        raise MissingCredential(_SECRET_VAR, what=f"the LiveKit key {key!r} set in {_KEY_VAR}")
    if secret is not None:
        raise MissingCredential(_KEY_VAR, what=f"the LiveKit secret set in {_SECRET_VAR}")
    keys = read_or_create_keys(settings.dev_keys_file)
    return settings.model_copy(
        update={"livekit_api_key": keys.api_key, "livekit_api_secret": SecretStr(keys.api_secret)}
    )


def read_or_create_keys(path: Path, *, rotate: bool = False) -> DevKeys:
    """The key pair stored at ``path``; a new random one is written first when absent or ``rotate``."""
    if not rotate:
        existing = _read(path)
        if existing is not None:
            return existing
    keys = DevKeys.generate()
    _write(path, keys, replace=rotate)
    # another process may have won the race to create the file: its keys are the ones in use
    stored = _read(path)
    if stored is None:  # pragma: no cover - the file was removed between write and read
        raise ConfigError(f"could not store dev LiveKit keys in {path}")
    return stored


def print_keys(settings: Settings, *, rotate: bool) -> int:
    """``auralink keys``: print the key pair (as sourceable lines) and where it comes from."""
    env_key, env_secret = settings.livekit_api_key, settings.livekit_api_secret
    from_env = bool(env_key) and env_secret is not None
    if env_key and env_secret is not None and not rotate:
        keys = DevKeys(api_key=env_key, api_secret=env_secret.get_secret_value())
        print(keys.dump(), end="")
        print(f"# from the environment ({_KEY_VAR}, {_SECRET_VAR})", file=sys.stderr)
        return 0
    keys = read_or_create_keys(settings.dev_keys_file, rotate=rotate)
    print(keys.dump(), end="")
    path = settings.dev_keys_file
    if rotate:
        print(f"# new dev keys written to {path}; restart `auralink up` to use them", file=sys.stderr)
        if from_env:
            print(f"# note: {_KEY_VAR}/{_SECRET_VAR} are set and win over the file", file=sys.stderr)
    else:
        print(f"# dev keys from {path} (make new ones with `auralink keys --rotate`)", file=sys.stderr)
    return 0


def _read(path: Path) -> DevKeys | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value.strip()
    key, secret = values.get(_KEY_VAR), values.get(_SECRET_VAR)
    if not key or not secret:
        raise ConfigError(
            f"{path} does not hold {_KEY_VAR}= and {_SECRET_VAR}= lines; "
            "delete it or run `auralink keys --rotate` to make new dev keys"
        )
    return DevKeys(api_key=key, api_secret=secret)


def _write(path: Path, keys: DevKeys, *, replace: bool) -> None:
    """Write ``keys`` to ``path`` atomically with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(keys.dump())
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            # link() fails when the file exists, so two first runs cannot overwrite each other
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
