"""API keys: what a caller sends to make one, and what lists show (never the secret)."""

from __future__ import annotations

__all__ = ["ApiKeyCreate", "ApiKeyCreated", "ApiKeyPublic", "ApiKeyUpdate"]

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from auralink.api.permissions import Action, Role

from .common import Name, StrictBody


class ApiKeyCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "ci pipeline",
                    "role": "developer",
                    "scopes": ["keys:read"],
                    "expires_at": "2027-01-01T00:00:00Z",
                }
            ]
        }
    )

    name: Name
    role: Role = Field(default=Role.DEVELOPER, description="the key acts with this role; at most yours")
    scopes: list[Action] | None = Field(
        default=None,
        max_length=len(Action),
        description="narrow the key to these actions; all of the role's if omitted",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="the key stops working at this time")


class ApiKeyUpdate(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "ci pipeline (old)"}]})

    name: Name | None = None


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it")
    role: Role
    scopes: list[str] | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(
        description="the whole key; shown only in this response, send it as `Bearer <secret>`"
    )
