"""How the API reaches LiveKit: the server API URL and the key pair, checked once.

The browser connects to ``settings.livekit_url`` (``ws://`` or ``wss://``); the server API
speaks HTTP on the same host and port, so its URL is the same with ``http(s)://``.
"""

from __future__ import annotations

__all__ = ["LiveKitCredentials", "http_url", "livekit_credentials", "open_livekit_api"]

from dataclasses import dataclass

from livekit import api

from auralink.core import ConfigError, MissingCredential, Settings

_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


@dataclass(frozen=True, slots=True)
class LiveKitCredentials:
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"LiveKitCredentials(api_key={self.api_key!r}, api_secret='**********')"


def http_url(url: str) -> str:
    """``ws://host:7880`` → ``http://host:7880``; ``wss://`` → ``https://``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES or not rest:
        raise ConfigError(
            f"LIVEKIT_URL {url!r} is not a LiveKit URL; expected ws://, wss://, http:// or https://host:port"
        )
    return f"{_SCHEMES[scheme.lower()]}://{rest}"


def livekit_credentials(settings: Settings) -> LiveKitCredentials:
    """The key pair tokens are signed with; raises :class:`MissingCredential` naming the variable."""
    if not settings.livekit_api_key:
        raise MissingCredential("LIVEKIT_API_KEY", what="the API (to sign LiveKit tokens)")
    if settings.livekit_api_secret is None or not settings.livekit_api_secret.get_secret_value():
        raise MissingCredential("LIVEKIT_API_SECRET", what="the API (to sign LiveKit tokens)")
    return LiveKitCredentials(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())


def open_livekit_api(settings: Settings) -> api.LiveKitAPI:
    """One server API client; call inside a running event loop and ``await client.aclose()``."""
    creds = livekit_credentials(settings)
    return api.LiveKitAPI(http_url(settings.livekit_url), creds.api_key, creds.api_secret)
