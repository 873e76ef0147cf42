"""Share links: what a caller sends to make or change one, what lists show, and the visitor's bodies."""

from __future__ import annotations

__all__ = [
    "Domain",
    "LinkAnalytics",
    "LinkCreate",
    "LinkInfo",
    "LinkJoin",
    "LinkPublic",
    "LinkSession",
    "LinkState",
    "LinkUpdate",
]

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from .common import Name, StrictBody
from .dev import SessionPublic

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def _lower(value: str) -> str:
    return value.lower()


Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=253,
        # host names only (letters, digits, hyphens, dots) with an optional port: no scheme, no path
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(:[0-9]{1,5})?$",
    ),
    AfterValidator(_lower),
]
AgentName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_.-]+$")]
Passcode = Annotated[str, StringConstraints(min_length=4, max_length=128, pattern=_NO_CONTROL)]
MaxUses = Annotated[int, Field(ge=1, le=1_000_000)]


class LinkState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


class LinkCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agent": "assistant",
                    "display_name": "Support line",
                    "expires_at": "2027-01-01T00:00:00Z",
                    "max_uses": 100,
                    "passcode": "blue-falcon",
                    "custom_domain": "talk.example.com",
                }
            ]
        }
    )

    agent: AgentName = Field(description="the catalogue agent the call is with")
    display_name: Name | None = Field(default=None, description="shown to visitors instead of the agent")
    expires_at: AwareDatetime | None = Field(default=None, description="the link stops working at this time")
    max_uses: MaxUses | None = Field(default=None, description="how many calls the link may start")
    passcode: Passcode | None = Field(default=None, description="visitors must give it to join")
    custom_domain: Domain | None = Field(
        default=None, description="the host the link is shown under (https://<domain>/j/<code>)"
    )


class LinkUpdate(StrictBody):
    """Fields left out stay as they are; ``null`` clears expiry, max uses, passcode, name or domain."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"max_uses": 200, "passcode": None}]})

    agent: AgentName | None = None
    display_name: Name | None = None
    expires_at: AwareDatetime | None = None
    max_uses: MaxUses | None = None
    passcode: Passcode | None = None
    custom_domain: Domain | None = None


class LinkAnalytics(BaseModel):
    opens: int = Field(description="visits of the link's page")
    joins: int = Field(description="calls started through the link")
    unique_visitors: int = Field(description="distinct visitors (salted hashes; no address is stored)")
    last_used_at: datetime | None


class LinkPublic(BaseModel):
    id: str
    code: str
    url: str = Field(description="the public URL to share")
    agent: str
    display_name: str | None
    custom_domain: str | None
    passcode_required: bool
    max_uses: int | None
    uses: int
    state: LinkState
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    analytics: LinkAnalytics


class LinkInfo(BaseModel):
    """What the join page shows before a visitor joins."""

    code: str
    title: str = Field(description="the link's display name, or its agent's name")
    agent: str
    passcode_required: bool
    meeting: bool = Field(
        default=False, description="a meeting: every visitor joins the link's one room with the agent"
    )


class LinkJoin(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Ada", "passcode": "blue-falcon"}]})

    passcode: str | None = Field(default=None, max_length=128)
    name: Name | None = Field(default=None, description="display name shown to others in the call")


class LinkSession(SessionPublic):
    """A visitor's way in: a ``call`` is a new room with the agent for this visit alone; a
    ``meeting`` (the agent has ``meeting.transcribe``) is the link's one shared room, where every
    visitor meets the others and the agent, and may set their own ``auralink.language``."""

    mode: Literal["meeting", "call"] = Field(description="a shared meeting room, or a call of one's own")
