"""Logging in to the dashboard, and who the caller is."""

from __future__ import annotations

__all__ = ["LoginCreate", "PrincipalPublic"]

from pydantic import BaseModel, ConfigDict, Field

from auralink.api.permissions import Role

from .common import Email, StrictBody


class LoginCreate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@acme.test", "password": "correct horse battery"}]}
    )

    email: Email
    password: str = Field(min_length=1, max_length=256)


class PrincipalPublic(BaseModel):
    org_id: str
    role: Role
    member_id: str | None
    key_id: str | None
    scopes: list[str] | None
