"""Webhook payloads: pydantic models discriminated by their ``type``.

Every payload has ``id`` (``evt_…``, also sent as ``AuraLink-Event-Id``; receivers dedupe on
it), ``type``, ``created_at``, ``org_id`` and ``data``. :data:`WebhookEvent` parses any of them.
Endpoints filter on :data:`EVENT_TYPES`; ``webhook.test`` is only ever sent by the test-fire route.
"""

from __future__ import annotations

__all__ = [
    "EVENT_TYPES",
    "CallEnded",
    "CallEndedData",
    "CallFailed",
    "CallFailedData",
    "CallStarted",
    "CallStartedData",
    "EventType",
    "LinkUsed",
    "LinkUsedData",
    "ModerationFlagged",
    "ModerationFlaggedData",
    "SummaryReady",
    "SummaryReadyData",
    "TranscriptFinal",
    "TranscriptFinalData",
    "UsageThreshold",
    "UsageThresholdData",
    "WebhookEvent",
    "WebhookEventBase",
    "WebhookTest",
    "WebhookTestData",
    "parse_event",
]

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from auralink.api.db import new_id, utcnow

EventType = Literal[
    "call.started",
    "call.ended",
    "call.failed",
    "transcript.final",
    "summary.ready",
    "moderation.flagged",
    "link.used",
    "usage.threshold",
]
EVENT_TYPES: tuple[str, ...] = (
    "call.started",
    "call.ended",
    "call.failed",
    "transcript.final",
    "summary.ready",
    "moderation.flagged",
    "link.used",
    "usage.threshold",
)


class WebhookEventBase(BaseModel):
    id: str = Field(default_factory=lambda: new_id("evt"), description="unique; receivers dedupe on it")
    created_at: datetime = Field(default_factory=utcnow)
    org_id: str


class CallStartedData(BaseModel):
    room: str
    agent: str | None = None


class CallStarted(WebhookEventBase):
    type: Literal["call.started"] = "call.started"
    data: CallStartedData


class CallEndedData(BaseModel):
    room: str
    agent: str | None = None
    duration_s: float | None = None


class CallEnded(WebhookEventBase):
    type: Literal["call.ended"] = "call.ended"
    data: CallEndedData


class CallFailedData(BaseModel):
    room: str
    agent: str | None = None
    phone_number_id: str | None = Field(default=None, description="the number the call was placed from")
    status: str = Field(description="busy, no_answer, rejected or failed")
    sip_status_code: int | None = Field(default=None, description="the callee's final SIP status")


class CallFailed(WebhookEventBase):
    """An outbound phone call (``POST /v1/calls``) was not answered."""

    type: Literal["call.failed"] = "call.failed"
    data: CallFailedData


class TranscriptFinalData(BaseModel):
    room: str
    turns: int = Field(description="how many turns the transcript has; fetch it through the API")


class TranscriptFinal(WebhookEventBase):
    type: Literal["transcript.final"] = "transcript.final"
    data: TranscriptFinalData


class SummaryReadyData(BaseModel):
    room: str
    call_id: str | None = None
    title: str | None = None
    summary: str = Field(default="", description="the meeting's summary")
    action_items: list[dict[str, Any]] = Field(
        default_factory=list, description="owner, text, due (ISO date), due_phrase: as in the notes"
    )
    follow_ups: list[dict[str, Any]] = Field(default_factory=list, description="owner, message, items")


class ModerationFlaggedData(BaseModel):
    room: str
    call_id: str
    decision_id: str = Field(description="review it with POST /v1/moderation/decisions/{id}/review")
    rule_id: str
    kind: str
    entity: str | None = None
    actions: list[str]
    speaker: str = Field(description="the participant identity")
    source: str
    score: float | None = None


class ModerationFlagged(WebhookEventBase):
    """Moderation flagged a line of a call for human review."""

    type: Literal["moderation.flagged"] = "moderation.flagged"
    data: ModerationFlaggedData


class SummaryReady(WebhookEventBase):
    type: Literal["summary.ready"] = "summary.ready"
    data: SummaryReadyData


class LinkUsedData(BaseModel):
    link_id: str
    room: str
    agent: str
    uses: int = Field(description="calls started through the link so far, this one included")


class LinkUsed(WebhookEventBase):
    type: Literal["link.used"] = "link.used"
    data: LinkUsedData


class UsageThresholdData(BaseModel):
    metric: str = Field(description="call_minutes, api_calls, stt_seconds, tts_characters or llm_tokens")
    used: float
    limit: float
    threshold: int | None = Field(default=None, description="percent of the quota crossed: 80 or 100")
    period: str | None = Field(default=None, description="the calendar month (UTC), YYYY-MM")


class UsageThreshold(WebhookEventBase):
    type: Literal["usage.threshold"] = "usage.threshold"
    data: UsageThresholdData


class WebhookTestData(BaseModel):
    endpoint_id: str
    message: str = "a test event sent from the AuraLink API"


class WebhookTest(WebhookEventBase):
    type: Literal["webhook.test"] = "webhook.test"
    data: WebhookTestData


WebhookEvent = Annotated[
    CallStarted
    | CallEnded
    | CallFailed
    | TranscriptFinal
    | SummaryReady
    | ModerationFlagged
    | LinkUsed
    | UsageThreshold
    | WebhookTest,
    Field(discriminator="type"),
]


class _AnyEvent(RootModel[WebhookEvent]):
    pass


def parse_event(body: bytes | str) -> WebhookEvent:
    """The payload a receiver got, as its model (``pydantic.ValidationError`` if it is none)."""
    return _AnyEvent.model_validate_json(body).root
