"""Who may talk to the Twilio endpoints: webhook signatures, replays, and stream tokens.

- **Webhook signatures.** Twilio signs every webhook with the account's auth token:
  ``X-Twilio-Signature`` is base64 HMAC-SHA1 of the URL Twilio called plus the sorted form
  parameters. :class:`WebhookVerifier` checks it with the twilio SDK's ``RequestValidator``.
  The URL must be the one Twilio used, so behind a proxy set ``AURALINK_PUBLIC_URL``
  (:func:`signed_url`).
- **Replays.** A webhook with a (CallSid, signature) pair already accepted within
  ``replay_window_s`` is refused. The memory of pairs is a small TTL set per API process
  (:class:`ReplayGuard`), not shared between processes: with several API processes behind a
  balancer, a replay landing on another process is not caught (the stream token below still
  limits what a replay can do).
- **Stream tokens.** Twilio's Media Streams socket carries no auth header, so the TwiML puts a
  short-lived token into the Stream's custom parameters; it is HMAC-SHA256 (key derived from the
  auth token) over the organisation, agent, call sid, caller and expiry, and the socket checks
  it at ``start`` against the call sid Twilio reports (:func:`sign_stream_token`,
  :func:`verify_stream_token`).

Errors, under :class:`~auralink.core.AuraLinkError`::

    TwilioAuthError                  a request or stream did not prove it comes from Twilio
    ├── InvalidSignature             X-Twilio-Signature missing or wrong
    ├── ReplayedWebhook              the same signed webhook was already accepted
    └── InvalidStreamToken           the stream token is missing, forged, expired or for another call
"""

from __future__ import annotations

__all__ = [
    "InvalidSignature",
    "InvalidStreamToken",
    "ReplayGuard",
    "ReplayedWebhook",
    "StreamClaims",
    "TwilioAuthError",
    "WebhookVerifier",
    "sign_stream_token",
    "signed_url",
    "twilio_auth_token",
    "verify_stream_token",
]

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from twilio.request_validator import RequestValidator  # no stubs

from auralink.core import AuraLinkError, MissingCredential, Settings

STREAM_TOKEN_TTL_S = 120.0  # Twilio opens the socket right after it reads the TwiML


class TwilioAuthError(AuraLinkError):
    """A request or a stream did not prove it comes from Twilio for this account."""


class InvalidSignature(TwilioAuthError):
    pass


class ReplayedWebhook(TwilioAuthError):
    pass


class InvalidStreamToken(TwilioAuthError):
    pass


def twilio_auth_token(settings: Settings) -> str:
    """The auth token from the env var ``settings.twilio_auth_token_env`` names, or MissingCredential."""
    token = os.environ.get(settings.twilio_auth_token_env, "").strip()
    if not token:
        raise MissingCredential(
            settings.twilio_auth_token_env, what="the Twilio endpoints (to check signatures)"
        )
    return token


def signed_url(settings: Settings, *, path_and_query: str, request_url: str) -> str:
    """The URL Twilio signed: ``AURALINK_PUBLIC_URL`` + path and query when set, else the request's."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/" + path_and_query.lstrip("/")
    return request_url


class ReplayGuard:
    """Keys seen in the last ``window_s`` seconds, in memory, at most ``capacity`` of them."""

    def __init__(self, *, window_s: float, capacity: int = 10_000) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when first seen, oldest first

    def check_and_add(self, key: str, *, now: float | None = None) -> bool:
        """True if ``key`` is new (and remember it); False if it was seen within the window."""
        now = time.monotonic() if now is None else now
        while self._seen and (
            next(iter(self._seen.values())) <= now - self.window_s or len(self._seen) >= self.capacity
        ):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class WebhookVerifier:
    """Checks ``X-Twilio-Signature`` and refuses replays of an accepted webhook."""

    def __init__(self, *, auth_token: str, replay_window_s: float) -> None:
        self._validator = RequestValidator(auth_token)
        self._replays = ReplayGuard(window_s=replay_window_s)

    def verify(self, *, url: str, params: Mapping[str, str], signature: str | None) -> None:
        """Raise :class:`InvalidSignature` or :class:`ReplayedWebhook`; return if the webhook is good."""
        if not signature:
            raise InvalidSignature("the request has no X-Twilio-Signature header; only Twilio may call this")
        if not self._validator.validate(url, dict(params), signature):
            raise InvalidSignature(
                "X-Twilio-Signature does not match this request; check the auth token and, behind a "
                "proxy, that AURALINK_PUBLIC_URL is the address Twilio calls"
            )
        if not self._replays.check_and_add(f"{params.get('CallSid', '')}\0{signature}"):
            raise ReplayedWebhook("this webhook was already received (same CallSid and signature)")


@dataclass(frozen=True, slots=True)
class StreamClaims:
    """What a stream token vouches for."""

    org: str
    agent: str
    call_sid: str
    caller: str
    expires_at: float  # unix time


def _key(auth_token: str) -> bytes:
    return hashlib.sha256(b"auralink twilio stream token\0" + auth_token.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_stream_token(
    *, auth_token: str, org: str, agent: str, call_sid: str, caller: str, ttl_s: float = STREAM_TOKEN_TTL_S
) -> str:
    """A token for the Stream's custom parameters: ``<claims>.<mac>``, both base64url."""
    claims = StreamClaims(
        org=org, agent=agent, call_sid=call_sid, caller=caller, expires_at=time.time() + ttl_s
    )
    body = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
    mac = hmac.new(_key(auth_token), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify_stream_token(
    token: str | None, *, auth_token: str, call_sid: str, now: float | None = None
) -> StreamClaims:
    """The claims of a good token for ``call_sid``; :class:`InvalidStreamToken` otherwise."""
    if not token:
        raise InvalidStreamToken(
            "the stream's start has no 'token' parameter; connect through the voice webhook"
        )
    body, _, mac = token.partition(".")
    try:
        expected = hmac.new(_key(auth_token), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise InvalidStreamToken("the stream token's signature is wrong")
        claims = StreamClaims(**json.loads(_unb64(body)))
    except (binascii.Error, ValueError, TypeError) as e:
        raise InvalidStreamToken("the stream token is malformed") from e
    if claims.expires_at < (time.time() if now is None else now):
        raise InvalidStreamToken(
            "the stream token has expired; Twilio should connect right after the webhook"
        )
    if not hmac.compare_digest(claims.call_sid, call_sid):
        raise InvalidStreamToken("the stream token was made for another call")
    return claims
