"""Answers of the Twilio endpoints (:mod:`auralink.api.routes.telephony`)."""

from __future__ import annotations

__all__ = ["TwilioStatusRecorded"]

from pydantic import BaseModel, Field


class TwilioStatusRecorded(BaseModel):
    """What became of a Twilio status callback."""

    event: str = Field(
        description="`twilio.<CallStatus>` or `twilio.<StreamEvent>` (e.g. `twilio.stream-stopped`)"
    )
    recorded: bool = Field(
        description="stored with the call's room events (false: no call record for it yet, or already stored)"
    )
    room: str = Field(description="the room the call is bridged into")
