"""Bodies of the dev page's routes and of health and errors."""

from __future__ import annotations

__all__ = [
    "AgentPublic",
    "ErrorBody",
    "ErrorPublic",
    "FieldErrorPublic",
    "HealthPublic",
    "SessionCreate",
    "SessionPublic",
    "ValidationErrorBody",
    "ValidationErrorPublic",
]

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class AgentPublic(BaseModel):
    """What a page needs to offer an agent to a person."""

    name: str
    description: str
    language: str
    greeting: str | None
    default: bool = Field(description="the agent a session gets when it names none")


class SessionCreate(BaseModel):
    """Ask for a room with an agent in it and a token to join it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"agent": "assistant", "name": "Ada"}]}
    )

    agent: str | None = Field(
        default=None, min_length=1, max_length=63, description="agent name; the default agent if omitted"
    )
    identity: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:@-]+$",
        description="participant identity; a random one if omitted",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=128, description="display name shown to others"
    )


class SessionPublic(BaseModel):
    """Everything a browser needs to join: where, with which token, as whom, with whom."""

    url: str = Field(description="the LiveKit URL the browser connects to")
    token: str = Field(description="a LiveKit access token for this room and identity")
    room: str
    identity: str
    agent: str


class ErrorPublic(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorPublic


class FieldErrorPublic(BaseModel):
    field: str = Field(description="dotted path of the field in the body, query or path")
    message: str


class ValidationErrorPublic(ErrorPublic):
    fields: list[FieldErrorPublic]


class ValidationErrorBody(BaseModel):
    """The 422 answer: one entry per bad field."""

    error: ValidationErrorPublic
