"""The hash chain of the audit log: appending entries in order, and checking the whole chain.

Each entry's ``hash`` is ``sha256(prev_hash + canonical JSON of (seq, org_id, actor, action,
target, detail, ip, occurred_at))`` and its ``prev_hash`` is the hash of the entry before it
(64 zeros for the first), so altering, inserting or removing any entry but the newest breaks
the chain from there on. Appends are serialised: SQLite runs every write transaction as
``BEGIN IMMEDIATE`` (one writer at a time, see :mod:`auralink.api.db.engine`); on PostgreSQL
the appender takes a transaction-scoped advisory lock before it reads the head. Either way
``seq`` has no gaps and two writers can never fork the chain.
"""

from __future__ import annotations

__all__ = ["GENESIS", "ChainReport", "PendingEntry", "append_entries", "entry_hash", "verify_chain"]

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import AuditEntry, utcnow

GENESIS = "0" * 64
# any constant will do; every appender on the database agrees on it ("auralink" in ASCII)
_PG_LOCK_KEY = 0x617572616C696E6B
_VERIFY_BATCH = 1000


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry before it has its place in the chain."""

    actor: str
    action: str
    target: str = ""
    org_id: str | None = None
    ip: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    org_id: str | None,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any],
    ip: str | None,
    occurred_at: datetime,
) -> str:
    """The hash an entry with these fields must carry after ``prev_hash``."""
    canonical = json.dumps(
        {
            "seq": seq,
            "org_id": org_id,
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
            "ip": ip,
            "occurred_at": _iso(occurred_at),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append_entries(connection: Connection, entries: list[PendingEntry]) -> None:
    """Chain ``entries`` after the head, in ``connection``'s transaction (which must write)."""
    if not entries:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    table = cast(Table, AuditEntry.__table__)
    head = connection.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)).first()
    seq, prev = (head[0], head[1]) if head is not None else (0, GENESIS)
    now = utcnow()
    rows = []
    for entry in entries:
        seq += 1
        detail = json.loads(json.dumps(entry.detail, sort_keys=True))  # exactly what reads back
        digest = entry_hash(
            prev_hash=prev,
            seq=seq,
            org_id=entry.org_id,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            detail=detail,
            ip=entry.ip,
            occurred_at=now,
        )
        rows.append(
            {
                "seq": seq,
                "org_id": entry.org_id,
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "detail": detail,
                "ip": entry.ip,
                "occurred_at": now,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    connection.execute(table.insert(), rows)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of walking the chain: ``broken_at`` is the first bad seq, with the reason."""

    entries: int
    head_hash: str | None
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _check(entry: Row[Any], *, expected_seq: int, prev: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entries {expected_seq}..{entry.seq - 1} are missing"
    if entry.prev_hash != prev:
        return "prev_hash is not the hash of the entry before it (an entry was replaced or removed)"
    digest = entry_hash(
        prev_hash=entry.prev_hash,
        seq=entry.seq,
        org_id=entry.org_id,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        detail=entry.detail,
        ip=entry.ip,
        occurred_at=entry.occurred_at,
    )
    if digest != entry.hash:
        return "the hash does not match the entry's contents (the entry was altered)"
    return None


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the whole chain in seq order, in batches; stops at the first broken entry."""
    prev, expected, count = GENESIS, 1, 0
    while True:
        table = cast(Table, AuditEntry.__table__)
        batch = (
            await session.execute(
                select(*table.c).where(table.c.seq >= expected).order_by(table.c.seq).limit(_VERIFY_BATCH)
            )
        ).all()
        if not batch:
            return ChainReport(entries=count, head_hash=prev if count else None)
        for entry in batch:
            reason = _check(entry, expected_seq=expected, prev=prev)
            if reason is not None:
                return ChainReport(entries=count, head_hash=None, broken_at=expected, reason=reason)
            prev, expected, count = entry.hash, expected + 1, count + 1
