"""Outbound webhooks: endpoint bodies, the once-shown secret, deliveries and their attempts."""

from __future__ import annotations

__all__ = [
    "DeliveryPublic",
    "DeliveryQueued",
    "DeliveryStatus",
    "WebhookAttemptPublic",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPublic",
    "WebhookUpdate",
]

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from .common import StrictBody

FilterEvent = Literal[
    "call.started",
    "call.ended",
    "call.failed",
    "transcript.final",
    "summary.ready",
    "moderation.flagged",
    "link.used",
    "usage.threshold",
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")
]


def _url_text(url: HttpUrl) -> str:
    return str(url)


Url = Annotated[HttpUrl, Field(max_length=2048), AfterValidator(_url_text)]
Events = Annotated[list[FilterEvent], Field(max_length=8), AfterValidator(lambda v: sorted(set(v)))]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.com/hooks/auralink",
                    "description": "CRM sync",
                    "events": ["call.ended", "link.used"],
                }
            ]
        }
    )

    url: Url = Field(
        description="http(s) URL the events are POSTed to; its host must resolve to public addresses "
        "only, unless the server sets AURALINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true"
    )
    description: Description = ""
    events: Events = Field(default_factory=list, description="event types sent; empty sends all")
    enabled: bool = True


class WebhookUpdate(StrictBody):
    """Fields left out stay as they are."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})

    url: Url | None = None
    description: Description | None = None
    events: Events | None = None
    enabled: bool | None = None


class WebhookPublic(BaseModel):
    id: str
    url: str
    description: str
    events: list[str] = Field(description="empty: every event type")
    enabled: bool
    created_by: str | None
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="the signing secret (whsec_...); shown only now")


class WebhookAttemptPublic(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeliveryPublic(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[WebhookAttemptPublic] = Field(description="every attempt, oldest first")


class DeliveryQueued(BaseModel):
    delivery_id: str
    event_id: str
