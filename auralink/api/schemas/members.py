"""Members of an organisation and their roles."""

from __future__ import annotations

__all__ = ["MemberCreate", "MemberCreated", "MemberPublic", "MemberUpdate"]

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from auralink.api.permissions import Role

from .common import Email, Name, Password, StrictBody


class MemberCreate(StrictBody):
    """Invite a person with a role; without a password one is generated and shown once."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "grace@acme.test", "name": "Grace", "role": "developer"}]}
    )

    email: Email
    name: Name
    role: Role = Role.VIEWER
    password: Password | None = None


class MemberUpdate(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "admin"}]})

    name: Name | None = None
    role: Role | None = None


class MemberPublic(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime


class MemberCreated(MemberPublic):
    password: str | None = Field(
        default=None, description="the generated initial password, shown only in this response"
    )
