"""Organisations and their first owner."""

from __future__ import annotations

__all__ = [
    "OrganisationCreate",
    "OrganisationCreated",
    "OrganisationPublic",
    "OrganisationUpdate",
    "OwnerCreate",
]

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .common import Email, Name, Password, StrictBody
from .members import MemberPublic


class OwnerCreate(StrictBody):
    email: Email
    name: Name
    password: Password = Field(description="at least 10 characters; stored as an argon2id hash")


class OrganisationCreate(StrictBody):
    """A new organisation and the member who owns it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme Voice",
                    "owner": {"email": "ada@acme.test", "name": "Ada", "password": "correct horse battery"},
                }
            ]
        }
    )

    name: Name
    owner: OwnerCreate


class OrganisationUpdate(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Acme Voice Labs"}]})

    name: Name | None = None


class OrganisationPublic(BaseModel):
    id: str
    name: str
    created_at: datetime


class OrganisationCreated(BaseModel):
    organisation: OrganisationPublic
    owner: MemberPublic
