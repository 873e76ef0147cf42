"""Long-term memories through the API: a subject's memories, search, add, delete."""

from __future__ import annotations

__all__ = [
    "MemoryCreate",
    "MemoryForgotten",
    "MemoryHit",
    "MemoryKindName",
    "MemoryPublic",
    "MemorySearch",
    "SubjectKey",
]

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import StrictBody

#: ``identity:<participant identity>``, ``phone:<number>`` or ``member:<member id>``
SubjectKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=280,
        pattern=r"^(identity|phone|member):[^\x00-\x1f\x7f]+$",
    ),
]
MemoryKindName = Literal["fact", "preference", "summary", "turn"]


class MemoryPublic(BaseModel):
    id: str
    subject: str = Field(description="identity:<id>, phone:<number> or member:<id>")
    kind: MemoryKindName
    text: str
    agent: str = Field(description="the agent that learned it (empty when added through the API)")
    conversation: str = Field(description="the room (or chat) it came from")
    created_at: datetime
    updated_at: datetime | None


class MemoryHit(BaseModel):
    memory: MemoryPublic
    score: float = Field(description="the ranking score: similarity, keyword match, recency and kind")
    similarity: float


class MemorySearch(StrictBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"subject": "identity:ada", "query": "what does she drink", "top_k": 5}]
        },
    )

    subject: SubjectKey
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    top_k: int = Field(default=5, ge=1, le=50)


class MemoryCreate(StrictBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"subject": "phone:+15551234567", "kind": "preference", "text": "Prefers calls after 5 pm."}
            ]
        },
    )

    subject: SubjectKey
    kind: Literal["fact", "preference", "summary"] = "fact"
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class MemoryForgotten(BaseModel):
    removed: int = Field(description="memories removed (the subject's queued ones included)")
