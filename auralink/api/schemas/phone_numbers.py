"""Phone numbers and outbound calls: what a caller sends and what the API answers.

A number is E.164 (``+`` and 8 to 15 digits). Passwords of SIP digest credentials are never
sent or stored: bodies name the environment variable of the API server that holds each one.
"""

from __future__ import annotations

__all__ = [
    "DialOutcome",
    "InboundSettings",
    "OutboundCallCreate",
    "OutboundCallPublic",
    "OutboundSettings",
    "PhoneNumberCreate",
    "PhoneNumberPublic",
    "PhoneNumberUpdate",
]

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .common import StrictBody

E164 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9][0-9]{7,14}$"),
    Field(description="E.164: `+`, country code and number, digits only", examples=["+15551234567"]),
]
AgentName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_.-]+$")]
EnvName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    Field(description="name of the API server's environment variable holding the password"),
]
SipUser = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x20\x7f:@]+$")]
Host = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,5})?$",
    ),
]


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError("an IP address or CIDR range, e.g. 54.172.60.0/30") from None


Network = Annotated[str, StringConstraints(max_length=64), AfterValidator(_network)]


class InboundSettings(StrictBody):
    """Who may send calls to the number: the carrier's addresses and, optionally, credentials."""

    allowed_addresses: list[Network] = Field(
        default_factory=list,
        max_length=64,
        description="the carrier's signalling addresses (Twilio's ranges); empty accepts any",
    )
    username: SipUser | None = Field(default=None, description="digest user the carrier must send")
    password_env: EnvName | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> InboundSettings:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("give username and password_env together, or neither")
        return self


class OutboundSettings(StrictBody):
    """The carrier's termination settings (Twilio: the trunk's Termination SIP URI and a credential list)."""

    address: Host = Field(
        description="e.g. `my-trunk.pstn.twilio.com`", examples=["my-trunk.pstn.twilio.com"]
    )
    transport: Literal["udp", "tcp", "tls", "auto"] = "auto"
    username: SipUser | None = None
    password_env: EnvName | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> OutboundSettings:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("give username and password_env together, or neither")
        return self


class PhoneNumberCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "+15551234567",
                    "agent": "assistant",
                    "inbound": {"allowed_addresses": ["54.172.60.0/30", "54.244.51.0/30"]},
                    "outbound": {
                        "address": "my-trunk.pstn.twilio.com",
                        "username": "auralink",
                        "password_env": "TWILIO_SIP_PASSWORD",
                    },
                }
            ]
        }
    )

    number: E164
    agent: AgentName = Field(description="the organisation's agent that answers calls to the number")
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    outbound: OutboundSettings | None = Field(default=None, description="needed to place calls from it")


class PhoneNumberUpdate(StrictBody):
    """Fields left out stay as they are; ``outbound: null`` removes the outbound trunk."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"agent": "receptionist"}]})

    agent: AgentName | None = None
    inbound: InboundSettings | None = None
    outbound: OutboundSettings | None = None


class PhoneNumberPublic(BaseModel):
    id: str
    number: str
    agent: str
    inbound: InboundSettings
    outbound: OutboundSettings | None
    inbound_trunk_id: str | None = Field(description="LiveKit's inbound SIP trunk")
    dispatch_rule_id: str | None = Field(description="LiveKit's SIP dispatch rule")
    outbound_trunk_id: str | None = Field(description="LiveKit's outbound SIP trunk")
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class OutboundCallCreate(StrictBody):
    """Call ``to`` from one of the organisation's numbers (``from_number_id`` or ``from``)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{"to": "+15557654321", "from": "+15551234567"}]},
    )

    to: E164
    from_number_id: str | None = Field(default=None, max_length=32)
    from_: E164 | None = Field(default=None, alias="from")
    agent: AgentName | None = Field(default=None, description="default: the number's own agent")
    ringing_timeout_s: int = Field(default=30, ge=5, le=120, description="how long to let it ring")

    @model_validator(mode="after")
    def _one_from(self) -> OutboundCallCreate:
        if (self.from_number_id is None) == (self.from_ is None):
            raise ValueError("give exactly one of from_number_id and from")
        return self


class DialOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    FAILED = "failed"


class OutboundCallPublic(BaseModel):
    """How the call went; an unanswered call is a result (and a ``call.failed`` webhook), not an error."""

    room: str = Field(description="the LiveKit room; its call record appears under /v1/calls")
    agent: str
    phone_number_id: str
    status: DialOutcome
    sip_status_code: int | None = Field(description="the callee's final SIP status when not answered")
    reason: str = ""
    participant_identity: str | None = Field(description="the callee in the room when answered")
