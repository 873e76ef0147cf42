"""Rooms and participant tokens: bodies of ``/v1/rooms``."""

from __future__ import annotations

__all__ = ["ParticipantPublic", "RoomCreate", "RoomPublic", "TokenCreate", "TokenPublic"]

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import Name, StrictBody

RoomName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
AgentName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_.-]+$")]
Identity = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]


class RoomCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "standup", "agents": ["assistant"], "empty_timeout": 300}]}
    )

    name: RoomName | None = Field(default=None, description="a random `room-…` name if omitted")
    agents: list[AgentName] = Field(
        default_factory=list, max_length=8, description="catalogue agents dispatched to the room"
    )
    empty_timeout: int | None = Field(
        default=None, ge=10, le=86_400, description="seconds the room lives with nobody in it"
    )


class RoomPublic(BaseModel):
    name: str
    agents: list[str]
    empty_timeout: int | None
    created_by: str | None
    created_at: datetime


class TokenCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"identity": "ada", "name": "Ada", "can_publish": True, "ttl": 3600}]}
    )

    identity: Identity
    name: Name | None = Field(default=None, description="display name; the identity if omitted")
    can_publish: bool = Field(default=True, description="may send audio, video and data")
    ttl: int = Field(default=3600, ge=60, le=86_400, description="seconds the token may be used to join")


class TokenPublic(BaseModel):
    url: str = Field(description="the LiveKit URL to connect to")
    token: str
    room: str
    identity: str
    expires_at: datetime


class ParticipantPublic(BaseModel):
    sid: str
    identity: str
    name: str
    kind: str = Field(description="STANDARD, AGENT, SIP, INGRESS or EGRESS")
    state: str = Field(description="JOINING, JOINED, ACTIVE or DISCONNECTED")
    joined_at: datetime | None
    publishing: bool
