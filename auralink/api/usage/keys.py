"""Which organisation, and which plan, an API key's visible prefix belongs to, cached briefly.

The rate limiter and the usage meter run before authentication, on every ``/v1`` request
with ``Authorization: Bearer al_<prefix>_...``. :class:`KeyDirectory` answers "whose key is
this, on which plan" from a small cache (one indexed query per prefix per ``ttl_s``), so they
cost no database round trip on a busy key. Whether the secret is right is still decided by
:mod:`auralink.api.auth`; the meter counts only requests that were not refused with 401.
A plan change is seen at once in the process that made it (:meth:`KeyDirectory.forget_org`)
and within ``ttl_s`` elsewhere.
"""

from __future__ import annotations

__all__ = ["KeyDirectory", "KeyOwner", "key_prefix"]

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Scope

from auralink.api.db import ApiKey, Database, Organisation

logger = logging.getLogger("auralink.api")

_PREFIX_LEN = 11  # "al_" + 8 characters
_WARN_EVERY_S = 10.0


def key_prefix(scope: Scope) -> str | None:
    """The visible prefix of the Bearer API key a request carries, read from the raw header."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, secret = bytes(value).decode("latin-1").partition(" ")
            secret = secret.strip()
            # al_<8 chars>_<secret>: the visible prefix names the key
            if scheme.lower() == "bearer" and secret.startswith("al_") and len(secret) > _PREFIX_LEN + 1:
                return secret[:_PREFIX_LEN]
            return None
    return None


@dataclass(frozen=True, slots=True)
class KeyOwner:
    key_id: str
    org_id: str
    plan: str


class KeyDirectory:
    """Prefix -> :class:`KeyOwner` (or nobody), each answer kept for ``ttl_s``."""

    def __init__(self, *, database: Database, ttl_s: float = 30.0, max_entries: int = 50_000) -> None:
        self._db = database
        self._ttl = ttl_s
        self._max = max_entries
        self._cache: dict[str, tuple[KeyOwner | None, float]] = {}
        self._warned_at = -_WARN_EVERY_S

    async def lookup(self, prefix: str) -> KeyOwner | None:
        now = time.monotonic()
        hit = self._cache.get(prefix)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            async with self._db.session() as session:
                row = (
                    await session.execute(
                        select(ApiKey.id, ApiKey.org_id, Organisation.plan)
                        .join(Organisation, Organisation.id == ApiKey.org_id)
                        .where(ApiKey.prefix == prefix)
                    )
                ).first()
        except SQLAlchemyError as e:
            if now - self._warned_at >= _WARN_EVERY_S:
                self._warned_at = now
                logger.warning("API key plans not read (%s); free-plan limits apply", type(e).__name__)
            return None
        owner = KeyOwner(key_id=row[0], org_id=row[1], plan=row[2]) if row is not None else None
        if len(self._cache) >= self._max:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= self._max:
                self._cache.clear()
        self._cache[prefix] = (owner, now + self._ttl)
        return owner

    def forget_org(self, org_id: str) -> None:
        """Drop the cached keys of ``org_id`` (its plan changed)."""
        self._cache = {k: v for k, v in self._cache.items() if v[0] is None or v[0].org_id != org_id}
