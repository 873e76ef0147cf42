"""Webhook signatures: the ``AuraLink-Signature`` header, made by the sender, checked by receivers.

``AuraLink-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the
endpoint's secret>``. A receiver recomputes the HMAC over the raw bytes it got, compares in
constant time, and refuses a timestamp outside its replay window. Several ``v1=`` entries may
appear (each is tried), so a sender could sign with an old and a new secret during a rotation.
"""

from __future__ import annotations

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "InvalidSignature",
    "new_secret",
    "sign",
    "signature_header",
    "verify_signature",
]

import hashlib
import hmac
import secrets
import time

from auralink.api.errors import NotAuthenticated

SIGNATURE_HEADER = "AuraLink-Signature"
EVENT_ID_HEADER = "AuraLink-Event-Id"
EVENT_TYPE_HEADER = "AuraLink-Event-Type"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the visible prefix of generated secrets, not a secret


class InvalidSignature(NotAuthenticated):
    """The signature header is missing, malformed, wrong, or too old (a possible replay)."""


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The value of ``AuraLink-Signature`` for ``body`` sent now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={sign(secret, t, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("the signature header's timestamp is not a number") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("the signature header needs t=<unix time> and v1=<hmac>")
    return timestamp, signatures


def verify_signature(
    secret: str, header: str | None, body: bytes, *, tolerance_s: float = 300, now: float | None = None
) -> None:
    """Check ``header`` (the ``AuraLink-Signature`` value) against the raw ``body``.

    Returns nothing when the signature is right and its timestamp is within ``tolerance_s`` of
    ``now`` (default: the clock); raises :class:`InvalidSignature` otherwise.
    """
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature("the signature's timestamp is outside the replay window")
    expected = sign(secret, timestamp, body)
    # compare_digest on every candidate, no early exit on the first mismatch
    matches = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    if not any(matches):
        raise InvalidSignature("the signature does not match the body")
