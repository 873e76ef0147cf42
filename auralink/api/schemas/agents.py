"""Agents of an organisation: specs as bodies, what lists and reads show, versions, feature toggles.

A spec travels as JSON in the agents.yaml shape (:class:`~auralink.core.AgentSpec`). The body
is taken as a JSON object and validated by the route, so a bad spec answers 422 with the
field's path as it is written in the spec (``llm.provider``), not pydantic's union tags.
"""

from __future__ import annotations

__all__ = [
    "AgentDetail",
    "AgentImported",
    "AgentRollback",
    "AgentSource",
    "AgentSpecBody",
    "AgentSummary",
    "AgentVersionDetail",
    "AgentVersionSummary",
    "AgentWarning",
    "FeatureToggles",
    "FeatureTogglesUpdate",
    "OrganisationFeatures",
]

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, RootModel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

from auralink.core import AgentSpec

from .common import StrictBody


class AgentSource(StrEnum):
    """Where an agent's spec comes from."""

    API = "api"  # saved through the API
    CATALOGUE = "catalogue"  # copied from agents.yaml into the database (import)
    FILE = "file"  # read from agents.yaml at run time; not in the database


_SOURCE = "api: saved through the API; catalogue: copied from agents.yaml by an import; file: agents.yaml"
_EXAMPLE_SPEC: dict[str, Any] = {
    "name": "support",
    "description": "Answers questions about orders",
    "instructions": "You are a support agent. Answer in one or two short sentences.",
    "greeting": "Hello, how can I help with your order?",
    "llm": {"provider": "openai", "model": "gpt-4o-mini"},
    "memory": {"enabled": True},
}


class AgentSpecBody(RootModel[dict[str, Any]]):
    """An AgentSpec as JSON (the agents.yaml shape); documented as AgentSpec, checked by the route."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: cs.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(AgentSpec.__pydantic_core_schema__), "examples": [_EXAMPLE_SPEC]}


class FeatureToggles(BaseModel):
    """Whether each feature may run (off wins over the spec; on leaves it to the spec)."""

    memory: bool = Field(description="long-term memory of who the agent talks to")
    recording: bool = Field(
        description="keeping audio recordings of calls (transcripts are the call record, always kept)"
    )
    translation: bool = Field(
        description="live translation: captions per listener language, Whisper's English of other "
        "languages, spoken translation tracks"
    )
    moderation: bool = Field(description="moderation of what is said and typed")
    mcp: bool = Field(description="tools from MCP servers")
    notes: bool = Field(description="meeting notes: summary, decisions, action items, follow-ups")
    files: bool = Field(description="keeping files shared in meeting rooms")


class FeatureTogglesUpdate(StrictBody):
    """Toggles to change: ``true``/``false`` sets one, ``null`` removes it (inherit); others stay."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"recording": True, "memory": None}]})

    memory: bool | None = None
    recording: bool | None = None
    translation: bool | None = None
    moderation: bool | None = None
    mcp: bool | None = None
    notes: bool | None = None
    files: bool | None = None


class AgentWarning(BaseModel):
    """Something the spec needs that this API host lacks; not an error (the worker host may have it)."""

    field: str = Field(description="where in the spec, e.g. llm.api_key_env")
    env: str = Field(description="the environment variable the spec names")
    message: str


class AgentSummary(BaseModel):
    id: str | None = Field(description="the database agent's id; null for a file agent")
    name: str
    description: str
    source: AgentSource = Field(description=_SOURCE)
    version: int | None = Field(description="the version in use; null for a file agent")
    features: FeatureToggles = Field(description="effective toggles: agent, else organisation, else default")
    created_at: datetime | None
    updated_at: datetime | None


class AgentDetail(AgentSummary):
    spec: AgentSpec
    feature_overrides: dict[str, bool] = Field(
        description="the agent's own toggles (over the organisation's)"
    )
    warnings: list[AgentWarning] = Field(
        description="environment variables the spec needs, unset on the API host"
    )


class AgentVersionSummary(BaseModel):
    version: int
    current: bool = Field(description="the version dispatches run now")
    created_by: str | None
    created_at: datetime


class AgentVersionDetail(AgentVersionSummary):
    spec: AgentSpec


class AgentRollback(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"version": 2}]})

    version: int = Field(ge=1, description="the version whose spec becomes a new version")


class AgentImported(BaseModel):
    copied: list[str] = Field(description="catalogue agents now in the database (source: catalogue)")
    skipped: list[str] = Field(description="names the organisation already has in the database, untouched")


class OrganisationFeatures(BaseModel):
    features: FeatureToggles = Field(
        description="effective toggles of the organisation: its own, else default"
    )
    overrides: dict[str, bool] = Field(description="the organisation's own toggles")
