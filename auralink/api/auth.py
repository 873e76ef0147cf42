"""Who is calling: API keys, dashboard sessions, passwords, and the principal a route acts for.

- **API keys** look like ``al_<8 chars>_<43 chars>``. The first part is the prefix people see
  in lists; the row keeps it and the sha256 of the whole key (a 256-bit random secret needs no
  slow hash). A key works until it is revoked or expires; each use stamps ``last_used_at``
  (at most once a minute, so busy keys do not write on every call).
- **Sessions** are for members in the dashboard: ``POST /v1/auth/login`` checks the argon2
  password hash (or ``GET /v1/auth/oidc/callback`` checks a single sign-on) and sets an
  HttpOnly, SameSite=Lax cookie whose token is stored as a sha256 (:func:`open_member_session`).
- :class:`Principal` is the result: organisation, member or key, role, scopes.
"""

from __future__ import annotations

__all__ = [
    "KEY_PREFIX",
    "SESSION_COOKIE",
    "SESSION_TTL",
    "IssuedKey",
    "Principal",
    "authenticate",
    "hash_password",
    "hash_token",
    "issue_key",
    "new_session_token",
    "open_member_session",
    "verify_password",
]

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from .db import ApiKey, Member, MemberSession, utcnow
from .errors import NotAuthenticated
from .permissions import Action, Role, allowed

logger = logging.getLogger("auralink.api")

KEY_PREFIX = "al_"
SESSION_COOKIE = "auralink_session"
SESSION_TTL = timedelta(days=14)
_LAST_USED_EVERY = timedelta(minutes=1)
_PREFIX_CHARS = string.ascii_lowercase + string.digits
_PREFIX_LEN = len(KEY_PREFIX) + 8
_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}[a-z0-9]{{8}}_[A-Za-z0-9_-]{{20,100}}")

# argon2id with the library's defaults (RFC 9106 low-memory profile), made once per process
_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed off the event loop)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def hash_token(token: str) -> str:
    """sha256 hex of a high-entropy secret (API key or session token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


async def open_member_session(
    session: AsyncSession, *, member: Member, request: Request, response: Response
) -> None:
    """Store a new dashboard session for ``member`` and set its HttpOnly cookie on ``response``.

    Shared by the password login and the single sign-on callback, so both make the same cookie.
    """
    token = new_session_token()
    now = utcnow()
    # the member's expired sessions are dead weight; drop them while we are here
    await session.execute(
        delete(MemberSession).where(MemberSession.member_id == member.id, MemberSession.expires_at <= now)
    )
    session.add(
        MemberSession(
            member_id=member.id, token_hash=hash_token(token), created_at=now, expires_at=now + SESSION_TTL
        )
    )
    await session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: ``secret`` goes to the caller once, ``prefix`` and ``secret_hash`` to the row."""

    secret: str
    prefix: str
    secret_hash: str


async def _stamp_last_used(session: AsyncSession, key: ApiKey, now: datetime) -> None:
    """Best effort: a stamp that loses a race with another writer waits for the next use."""
    key_id = key.id
    key.last_used_at = now
    try:
        await session.commit()
    except OperationalError:
        await session.rollback()
        logger.debug("last-used stamp of key %s skipped (database busy)", key_id)


def issue_key() -> IssuedKey:
    prefix = KEY_PREFIX + "".join(secrets.choice(_PREFIX_CHARS) for _ in range(8))
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedKey(secret=secret, prefix=prefix, secret_hash=hash_token(secret))


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request: a member (dashboard session) or an API key, in one organisation."""

    org_id: str
    role: Role
    member_id: str | None = None
    key_id: str | None = None
    scopes: frozenset[str] | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller: ``key:<id>`` or ``member:<id>``."""
        return f"key:{self.key_id}" if self.key_id else f"member:{self.member_id}"

    def can(self, action: Action) -> bool:
        if not allowed(self.role, action):
            return False
        return self.scopes is None or action.value in self.scopes


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("the Authorization header must be `Bearer al_...`")
    return value.strip()


async def _from_key(session: AsyncSession, secret: str) -> Principal:
    if not _KEY_SHAPE.fullmatch(secret):
        raise NotAuthenticated("this is not an AuraLink API key")
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == secret[:_PREFIX_LEN]))
    if key is None or not hmac.compare_digest(key.secret_hash, hash_token(secret)):
        raise NotAuthenticated("unknown API key")
    now = utcnow()
    if key.revoked_at is not None:
        raise NotAuthenticated("this API key was revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise NotAuthenticated("this API key has expired")
    principal = Principal(
        org_id=key.org_id,
        role=Role(key.role),
        key_id=key.id,
        member_id=None,
        scopes=frozenset(key.scopes) if key.scopes else None,
    )
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_EVERY:
        await _stamp_last_used(session, key, now)
    return principal


async def _from_session(session: AsyncSession, token: str) -> Principal:
    row = (
        await session.execute(
            select(MemberSession, Member)
            .join(Member, Member.id == MemberSession.member_id)
            .where(MemberSession.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        raise NotAuthenticated("the session has ended; log in again")
    member_session, member = row
    if member_session.expires_at <= utcnow():
        raise NotAuthenticated("the session has expired; log in again")
    return Principal(org_id=member.org_id, role=Role(member.role), member_id=member.id)


async def authenticate(request: Request, session: AsyncSession) -> Principal:
    """The principal behind the request: a Bearer API key first, else the session cookie."""
    secret = _bearer(request)
    if secret is not None:
        return await _from_key(session, secret)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return await _from_session(session, token)
    raise NotAuthenticated()
