"""What a login remembers between the redirect to the provider and the callback: a signed cookie.

The login route draws ``state`` (ties the callback to this browser), ``nonce`` (ties the ID token
to this login) and a PKCE ``code_verifier`` (ties the code to this login, RFC 7636, S256), and puts
them with the page to return to in an HttpOnly, SameSite=Lax cookie on ``/v1/auth/oidc``, HMAC-signed
and valid for ten minutes. The callback clears it, so a finished login cannot be replayed from
the same browser. The signing key is derived from the LiveKit API secret, which every API
instance of one installation shares, so a login may start on one instance and end on another.
"""

from __future__ import annotations

__all__ = [
    "STATE_COOKIE",
    "STATE_PATH",
    "STATE_TTL",
    "LoginState",
    "code_challenge",
    "safe_next",
    "state_key",
]

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field

from .errors import OidcLoginFailed

STATE_COOKIE = "auralink_oidc"
STATE_PATH = "/v1/auth/oidc"
STATE_TTL = 600  # seconds
_MAX_NEXT = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def state_key(secret: str) -> bytes:
    """The HMAC key for login cookies, derived from an installation secret (never used raw)."""
    return hmac.new(secret.encode(), b"auralink oidc login state v1", hashlib.sha256).digest()


def code_challenge(verifier: str) -> str:
    """PKCE S256: base64url(sha256(verifier)) without padding."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def safe_next(value: str | None) -> str:
    """The page to return to after login: a path on this server, never another site.

    Raises :class:`ValueError` for absolute URLs, scheme-relative ``//host`` paths, backslashes
    and control characters; ``None`` or empty means the dashboard's start page ``/``.
    """
    if not value:
        return "/"
    if len(value) > _MAX_NEXT:
        raise ValueError(f"must be at most {_MAX_NEXT} characters")
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        raise ValueError("must be a path on this server, starting with a single /")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


@dataclass(frozen=True, slots=True)
class LoginState:
    """One login in flight, as the signed cookie carries it."""

    redirect_uri: str
    next: str = "/"
    state: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    expires: int = field(default_factory=lambda: int(time.time()) + STATE_TTL)

    def seal(self, key: bytes) -> str:
        """The cookie value: ``base64url(json).base64url(hmac-sha256)``."""
        payload = _b64(json.dumps(asdict(self), separators=(",", ":")).encode())
        return f"{payload}.{_b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"

    @classmethod
    def open(cls, cookie: str | None, key: bytes, *, now: float | None = None) -> LoginState:
        """The state sealed in ``cookie``; :class:`OidcLoginFailed` if missing, altered or stale."""
        if not cookie:
            raise OidcLoginFailed(
                "no login is in progress in this browser (the login cookie is missing); "
                "start again from the login page"
            )
        payload, _, mac = cookie.partition(".")
        expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            raise OidcLoginFailed("the login cookie was altered; start again from the login page")
        try:
            data = json.loads(_unb64(payload))
            state = cls(**data)
        except (ValueError, TypeError) as e:
            raise OidcLoginFailed("the login cookie is not readable; start again from the login page") from e
        if state.expires < (time.time() if now is None else now):
            raise OidcLoginFailed(
                f"the login took longer than {STATE_TTL // 60} minutes; start again from the login page"
            )
        return state

    def check_state(self, returned: str | None) -> None:
        """The ``state`` the provider sent back must be the one this browser started with."""
        if not returned or not hmac.compare_digest(returned.encode(), self.state.encode()):
            raise OidcLoginFailed(
                "the state returned by the provider does not match this browser's login; "
                "start again from the login page"
            )
