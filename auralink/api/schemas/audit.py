"""The audit log as the API shows it: entries, a page of them, and the chain check's result."""

from __future__ import annotations

__all__ = ["AuditEntryPublic", "AuditPage", "AuditVerifyPublic"]

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryPublic(BaseModel):
    seq: int = Field(description="the entry's place in the chain (1, 2, …; shared by all organisations)")
    actor: str = Field(description="`member:<id>`, `key:<id>`, `anonymous` or `system`")
    action: str = Field(description="e.g. `api_key.created`, `member.updated`, `gdpr.exported`")
    target: str = Field(description="the id acted on, if any")
    detail: dict[str, Any] = Field(description="changed field names (values only for roles, plans …)")
    ip: str | None = Field(description="the client address of the request")
    occurred_at: datetime
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryPublic] = Field(description="newest first")
    next_before: int | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class AuditVerifyPublic(BaseModel):
    ok: bool
    entries: int = Field(description="entries checked (the whole installation's chain)")
    head_hash: str | None = Field(description="the newest entry's hash; note it to detect truncation later")
    broken_at: int | None = Field(description="the first seq that does not verify")
    reason: str | None = None
