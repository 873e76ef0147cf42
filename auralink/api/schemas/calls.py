"""Calls: what the list and one call show, their transcript, and the worker's ingest batches.

The ingest bodies (``IngestBatch`` and its events, discriminated by ``type``) are the wire format
``auralink.agents.reporting`` sends; docs/api-calls.md describes it for other workers.
"""

from __future__ import annotations

__all__ = [
    "CallDetail",
    "CallPage",
    "CallParticipantPublic",
    "CallPublic",
    "CallStatus",
    "IngestBatch",
    "IngestError",
    "IngestEvent",
    "IngestResult",
    "IngestTurn",
    "IngestUsage",
    "LatencySummary",
    "TranscriptPublic",
    "TurnPublic",
]

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from .common import StrictBody
from .meetings import IngestModeration, IngestNotes

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
# transcript lines may hold newlines and tabs, never NUL or other control characters
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Identity = Annotated[str, StringConstraints(max_length=255, pattern=_NO_CONTROL)]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]


class CallStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    FAILED = "failed"


class CallParticipantPublic(BaseModel):
    identity: str
    name: str
    kind: str = Field(description="standard, agent, sip, ingress or egress (LiveKit's participant kind)")
    joined_at: datetime
    left_at: datetime | None


class CallPublic(BaseModel):
    """One call as lists show it."""

    id: str
    room: str = Field(description="the LiveKit room name")
    room_sid: str
    agent: str | None
    agent_version: int | None
    source: str = Field(description="api, link, dev, sip, twilio, or unknown")
    link_id: str | None
    status: CallStatus
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    end_reason: str | None
    errors: int = Field(description="agent errors reported during the call")
    participant_count: int = Field(description="how many participants joined (agents included)")
    turn_count: int = Field(description="transcript lines stored")


class CallPage(BaseModel):
    items: list[CallPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class LatencySummary(BaseModel):
    """One per-turn latency figure over the call's turns, in milliseconds."""

    turns: int = Field(description="turns that reported this figure")
    p50_ms: float
    p95_ms: float
    max_ms: float


class CallDetail(CallPublic):
    participants: list[CallParticipantPublic]
    latency: dict[str, LatencySummary] = Field(
        description="per figure (end_of_utterance, transcription, llm_ttft, tts_ttfb, e2e, ...)"
    )
    usage: dict[str, float] = Field(
        description="totals per metric (call_seconds, stt_seconds, tts_characters, llm_*_tokens)"
    )
    has_notes: bool = Field(default=False, description="meeting notes exist: GET /v1/calls/{id}/notes")


class TurnPublic(BaseModel):
    seq: int = Field(description="orders the lines of the call")
    role: Literal["user", "assistant"]
    speaker: str = Field(description="the participant identity who spoke (the agent's for its lines)")
    text: str
    language: str | None
    metrics: dict[str, float] | None = Field(description="this turn's latency figures in milliseconds")
    spoken_at: datetime


class TranscriptPublic(BaseModel):
    call_id: str
    room: str
    turns: list[TurnPublic]


# -- the worker's reports (POST /v1/ingest/calls/{room_sid}/events)


class IngestTurn(StrictBody):
    """A final transcript line; ``seq`` is unique within the call, so a resend lands once."""

    type: Literal["turn"]
    seq: int = Field(ge=0, le=2**31 - 1)
    role: Literal["user", "assistant"]
    speaker: Identity = ""
    text: Annotated[str, StringConstraints(max_length=20_000, pattern=_TEXT)]
    language: Annotated[str, StringConstraints(max_length=16, pattern=r"^[A-Za-z0-9-]*$")] | None = None
    metrics: dict[MetricName, Annotated[float, Field(ge=0, le=3_600_000)]] | None = Field(
        default=None, max_length=32, description="latency figures in milliseconds"
    )
    spoken_at: AwareDatetime | None = None


class IngestUsage(StrictBody):
    """Quantities used since the previous usage report of this job (added to the call's totals)."""

    type: Literal["usage"]
    stt_seconds: float = Field(default=0, ge=0, le=1e7)
    tts_characters: float = Field(default=0, ge=0, le=1e9)
    llm_prompt_tokens: float = Field(default=0, ge=0, le=1e10)
    llm_completion_tokens: float = Field(default=0, ge=0, le=1e10)


class IngestError(StrictBody):
    """An agent error; ``recoverable: false`` marks the call failed."""

    type: Literal["error"]
    kind: Annotated[str, StringConstraints(max_length=64, pattern=_NO_CONTROL)] = "error"
    recoverable: bool = True


IngestEvent = Annotated[
    IngestTurn | IngestUsage | IngestError | IngestModeration | IngestNotes, Field(discriminator="type")
]


class IngestBatch(StrictBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "room": "link-3f9a0c2d7b1e",
                    "metadata": '{"org":"org_3f9a0c2d7b1e4a55","source":"link","agent":"assistant"}',
                    "agent": "assistant",
                    "events": [
                        {"type": "turn", "seq": 5120, "role": "user", "speaker": "guest-1a2b", "text": "Hi"},
                        {"type": "usage", "stt_seconds": 1.4, "tts_characters": 52},
                    ],
                }
            ]
        },
    )

    room: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_CONTROL)]
    metadata: str = Field(default="", max_length=10_000, description="the room's metadata, as LiveKit has it")
    agent: Annotated[str, StringConstraints(max_length=63, pattern=r"^[A-Za-z0-9_.-]*$")] | None = None
    agent_version: int | None = Field(default=None, ge=1)
    events: list[IngestEvent] = Field(max_length=200)


class IngestResult(BaseModel):
    call_id: str
    turns: int = Field(description="new transcript lines stored")
    duplicates: int = Field(description="lines already stored (a resend)")
    usage: int = Field(description="usage reports added")
    errors: int = Field(description="errors counted")
    moderation: int = Field(default=0, description="moderation decisions stored")
    notes: int = Field(default=0, description="meeting notes stored (a later report replaces an earlier)")
