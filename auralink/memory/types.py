"""The memory data model: kinds, subjects, scopes and records.

A memory belongs to one organisation and (usually) one *subject*: the person it is about, keyed
by participant identity, phone number or organisation member. A :class:`MemoryScope` says which
memories a read may see; it always names the organisation, so one organisation never sees
another's memories.
"""

from __future__ import annotations

__all__ = [
    "LOCAL_ORG",
    "MEMORY_KINDS",
    "MemoryKind",
    "MemoryRecord",
    "MemoryScope",
    "ScoredMemory",
    "Subject",
    "SubjectKind",
    "new_memory_id",
]

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

MemoryKind = Literal["fact", "preference", "summary", "turn"]
MEMORY_KINDS: tuple[MemoryKind, ...] = ("fact", "preference", "summary", "turn")

#: the organisation of memories made outside any (a terminal chat, a dev-page call)
LOCAL_ORG = "local"
SubjectKind = Literal["identity", "phone", "member"]


def new_memory_id() -> str:
    return "mem_" + secrets.token_hex(10)


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a memory is about: ``identity:<participant>``, ``phone:<E.164>`` or ``member:<id>``."""

    kind: SubjectKind
    value: str

    def __post_init__(self) -> None:
        if not self.value.strip():
            raise ValueError("a memory subject needs a non-empty value")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, key: str) -> Subject:
        kind, sep, value = key.partition(":")
        if not sep or kind not in ("identity", "phone", "member"):
            raise ValueError(
                f"a subject key looks like identity:<id>, phone:<number> or member:<id>; got {key!r}"
            )
        return cls(kind=kind, value=value)  # type: ignore[arg-type]

    def __str__(self) -> str:  # never log this: it is personal data
        return self.key


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryScope:
    """Which memories a read sees: an organisation, narrowed to a subject and/or an agent."""

    org_id: str
    subject: str | None = None
    agent: str | None = None

    def __post_init__(self) -> None:
        if not self.org_id:
            raise ValueError("a memory scope needs an organisation")

    @classmethod
    def for_spec(
        cls, scope: Literal["subject", "organisation", "agent"], *, org_id: str, subject: Subject, agent: str
    ) -> MemoryScope:
        """The scope an agent's ``memory.scope`` setting asks for."""
        if scope == "subject":
            return cls(org_id=org_id, subject=subject.key)
        if scope == "agent":
            return cls(org_id=org_id, subject=subject.key, agent=agent)
        return cls(org_id=org_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryRecord:
    """One stored memory. ``slot`` names a single-valued fact ("name", "birthday") for de-duplication."""

    org_id: str
    subject: str
    kind: MemoryKind
    text: str
    agent: str = ""
    conversation: str = ""
    id: str = field(default_factory=new_memory_id)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    importance: float = 0.5
    slot: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.updated_at:
            object.__setattr__(self, "updated_at", self.created_at)

    def updated(self, **changes: Any) -> MemoryRecord:
        return replace(self, **changes)

    def to_export(self) -> dict[str, Any]:
        """A JSON-ready dict (GDPR export)."""
        return {
            "id": self.id,
            "org_id": self.org_id,
            "subject": self.subject,
            "agent": self.agent,
            "conversation": self.conversation,
            "kind": self.kind,
            "text": self.text,
            "slot": self.slot or None,
            "importance": self.importance,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class ScoredMemory:
    """A retrieved memory with its final score and the signals that made it."""

    record: MemoryRecord
    score: float
    similarity: float
    keyword: float = 0.0
    recency: float = 0.0
