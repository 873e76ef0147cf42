"""GDPR requests: the subject to export or erase, and what an erase removed."""

from __future__ import annotations

__all__ = ["GdprErased", "GdprRequest", "GdprSubject", "SubjectKind"]

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import StrictBody


class SubjectKind(StrEnum):
    IDENTITY = "identity"
    PHONE = "phone"
    MEMBER = "member"


SubjectValue = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$"),
]


class GdprSubject(StrictBody):
    kind: SubjectKind = Field(
        description="`identity`: a LiveKit participant identity; `phone`: a phone number (E.164, "
        "matched as identity, `sip_<number>` identity or display name); `member`: a member id"
    )
    value: SubjectValue


class GdprRequest(StrictBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"subject": {"kind": "phone", "value": "+15551234567"}}]},
    )

    subject: GdprSubject


class GdprErased(BaseModel):
    kind: SubjectKind
    erased: dict[str, int] = Field(description="how many records were removed or cleared, per place")
    total: int
