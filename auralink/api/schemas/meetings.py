"""Meetings: the worker's moderation and notes reports, moderation policy and decisions, notes,
shared files and the searchable archive (docs/api-meetings.md).

``IngestModeration`` and ``IngestNotes`` join the ingest batch's events (``type`` ``moderation``
and ``notes``); their payloads are the worker's own models, :class:`~auralink.core.moderation.
ModerationRecord` and :class:`~auralink.core.meeting_notes.MeetingNotes`, validated as they are.
"""

from __future__ import annotations

__all__ = [
    "CallFilePublic",
    "FileCreated",
    "IngestModeration",
    "IngestNotes",
    "ModerationDecisionPage",
    "ModerationDecisionPublic",
    "ModerationPolicyPublic",
    "NotesPublic",
    "ReviewCreate",
    "ReviewStatus",
    "SearchHit",
    "SearchMode",
    "SearchPage",
]

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from auralink.core.meeting_notes import MeetingNotes
from auralink.core.moderation import ModerationRecord

from .common import StrictBody

# transcript text may hold newlines and tabs, never NUL or other control characters
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


# -- the worker's reports (events of POST /v1/ingest/calls/{room_sid}/events)


class IngestModeration(StrictBody):
    """One rule that matched one line: stored as a decision of the call; a ``flag`` awaits review."""

    type: Literal["moderation"]
    record: ModerationRecord
    text_redacted: Annotated[str, StringConstraints(max_length=20_000, pattern=_TEXT)] | None = Field(
        default=None, description="the line with redactions applied (what reviewers see), if sent"
    )
    at: AwareDatetime | None = Field(default=None, description="when the line was said; now if unset")


class IngestNotes(StrictBody):
    """The meeting's notes so far; a later report replaces an earlier one, ``final`` at the end."""

    type: Literal["notes"]
    notes: MeetingNotes
    final: bool = False


# -- moderation


class ModerationPolicyPublic(BaseModel):
    """The organisation's policy (``ModerationPolicy`` as JSON) and whether one is stored."""

    stored: bool = Field(description="false: none is stored, and agents run their own policies only")
    policy: dict[str, Any] = Field(description="rules, enabled, llm_classifier (docs/moderation.md)")
    updated_at: datetime | None
    updated_by: str | None


class ReviewStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    OVERTURNED = "overturned"


class ModerationDecisionPublic(BaseModel):
    id: str
    call_id: str
    rule_id: str
    kind: str = Field(description="blocklist, pii, toxicity or regex")
    entity: str | None = Field(description="card_number, email, phone or iban for pii rules")
    actions: list[str] = Field(description="what was done, strongest first")
    speaker: str = Field(description="the participant identity")
    source: Literal["speech", "chat"]
    excerpt: str = Field(description="non-reversible: a kind, last digits or a salted hash")
    text_redacted: str | None = Field(description="the line with its PII redacted, if the worker sent it")
    score: float | None
    categories: list[str]
    at: datetime
    review_status: ReviewStatus
    reviewed_by: str | None = Field(description="member:<id> or key:<id>")
    reviewed_at: datetime | None
    review_note: str | None


class ModerationDecisionPage(BaseModel):
    items: list[ModerationDecisionPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class ReviewCreate(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"verdict": "overturn", "note": "friendly banter"}]}
    )

    verdict: Literal["confirm", "overturn"]
    note: Annotated[str, StringConstraints(max_length=1000, pattern=_TEXT)] = ""


# -- notes


class NotesPublic(BaseModel):
    call_id: str
    final: bool = Field(description="true once the meeting ended and the notes are complete")
    notes: dict[str, Any] = Field(
        description="summary, decisions, action_items, open_questions, follow_ups (MeetingNotes)"
    )
    markdown: str
    updated_at: datetime


# -- files


class FileCreated(BaseModel):
    id: str


class CallFilePublic(BaseModel):
    id: str
    call_id: str
    sender: str = Field(description="the participant identity who shared it")
    name: str
    mime: str
    size: int = Field(description="bytes")
    sha256: str
    created_at: datetime


# -- search


class SearchMode(StrEnum):
    TEXT = "text"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


class SearchHit(BaseModel):
    call_id: str
    room: str
    kind: Literal["line", "notes"]
    at: datetime = Field(description="when the line was said, or when the notes were written")
    speaker: str | None = Field(description="the participant identity (lines only)")
    snippet: str = Field(description="the text around the match")
    score: float = Field(description="higher is better; comparable within one answer")


class SearchPage(BaseModel):
    mode: SearchMode
    items: list[SearchHit]
