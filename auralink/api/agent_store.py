"""Which AgentSpec an organisation's agent name means, and with which feature toggles.

A name resolves, for one organisation, in this order:

1. the organisation's database agent: its ``agents`` row (not deleted) and the spec of the
   ``agent_versions`` row its ``version`` points at;
2. otherwise the agents.yaml catalogue entry of that name (the file is re-read when it changes).

So the database wins at run time, and a database agent may shadow a file agent of the same
name. Feature toggles (:class:`Feature`) resolve the same way, most specific first: the agent's
own toggles, then the organisation's, then :data:`FEATURE_DEFAULTS`. A toggle that is off turns
the feature off for the agent even if its spec asks for it; on leaves the spec to decide.

Specs are stored as ``AgentSpec.model_dump(mode="json", by_alias=True)`` (the agents.yaml shape)
and validated again on the way out. The store adds and flushes; routes commit.
"""

from __future__ import annotations

__all__ = [
    "FEATURE_DEFAULTS",
    "AgentSource",
    "AgentStore",
    "AgentStoreDep",
    "Feature",
    "ResolvedAgent",
    "call_toggles",
    "effective_features",
    "get_agent_store",
    "merge_toggles",
    "parse_spec",
    "spec_json",
]

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.core import AgentSpec, Catalogue, ConfigError
from auralink.core.catalogue import spec_problems

from .catalogue import CatalogueCache
from .db import AgentRecord, AgentVersion, ModerationPolicyRecord, Organisation, new_id, utcnow
from .deps import SessionDep
from .schemas.agents import AgentSource
from .tokens import DispatchMetadata


class Feature(StrEnum):
    """What an organisation or an agent can switch on and off."""

    MEMORY = "memory"
    RECORDING = "recording"
    TRANSLATION = "translation"
    MODERATION = "moderation"
    MCP = "mcp"
    NOTES = "notes"
    FILES = "files"


#: the toggles before any organisation or agent changes them; recording waits for a yes
FEATURE_DEFAULTS: Mapping[Feature, bool] = MappingProxyType(
    {
        Feature.MEMORY: True,
        Feature.RECORDING: False,
        Feature.TRANSLATION: True,
        Feature.MODERATION: True,
        Feature.MCP: True,
        Feature.NOTES: True,
        Feature.FILES: True,
    }
)


def effective_features(*layers: Mapping[str, bool]) -> dict[str, bool]:
    """The defaults overridden by each layer in turn (least specific first); unknown keys are ignored."""
    out = {f.value: on for f, on in FEATURE_DEFAULTS.items()}
    for layer in layers:
        out.update({k: v for k, v in layer.items() if k in out and isinstance(v, bool)})
    return out


async def call_toggles(session: AsyncSession, *, org_id: str, agent: str | None) -> dict[str, bool]:
    """The effective toggles of a call's agent now: its own (a database agent) over the
    organisation's, over the defaults. The API checks them again where a worker's report would
    store something (a dispatch rule may hold toggles older than a change)."""
    organisation = await session.get(Organisation, org_id)
    layers: list[Mapping[str, bool]] = [dict(organisation.features or {}) if organisation else {}]
    if agent:
        own = await session.scalar(
            select(AgentRecord.features).where(
                AgentRecord.org_id == org_id, AgentRecord.name == agent, AgentRecord.deleted_at.is_(None)
            )
        )
        layers.append(dict(own or {}))
    return effective_features(*layers)


def merge_toggles(current: Mapping[str, bool], changes: Mapping[str, bool | None]) -> dict[str, bool]:
    """``current`` overrides with ``changes`` applied: a bool sets one, ``None`` removes it (inherit)."""
    names = {f.value for f in Feature}
    out = {k: v for k, v in current.items() if k in names}
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def spec_json(spec: AgentSpec) -> dict[str, Any]:
    """The spec as stored and dispatched: the agents.yaml shape, as JSON."""
    return spec.model_dump(mode="json", by_alias=True)


# ------------------------------------------------------------------ validation with field paths
_Loc = tuple[str | int, ...]


def parse_spec(data: Any, *, loc: _Loc = ("body",)) -> AgentSpec:
    """Validate an AgentSpec given as JSON; a bad one is a 422 naming each field (``llm.provider``)."""
    if not isinstance(data, dict):
        raise RequestValidationError(
            [{"loc": loc, "msg": "expected a JSON object (an AgentSpec)", "type": "dict_type"}]
        )
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as e:
        errors = [{"loc": (*loc, *path), "msg": message} for path, message in spec_problems(e, data)]
        raise RequestValidationError(errors) from None


# ------------------------------------------------------------------ resolution
@dataclass(frozen=True, slots=True)
class ResolvedAgent:
    """An agent as an organisation sees it now: the spec, where it comes from, its toggles."""

    spec: AgentSpec
    source: AgentSource
    features: dict[str, bool]
    version: int | None = None  # the database version; None for a file agent
    record: AgentRecord | None = field(default=None, compare=False)
    #: the organisation's moderation policy as JSON (None: it has none); the worker merges it
    moderation: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def overrides(self) -> dict[str, bool]:
        """The agent's own toggles (none for a file agent)."""
        return dict(self.record.features or {}) if self.record is not None else {}

    def dispatch(self, org_id: str | None) -> DispatchMetadata:
        """What a dispatch of this agent tells the worker: a database agent's whole spec and version,
        and the effective feature toggles (the worker switches off what they switch off)."""
        if self.record is None:
            return DispatchMetadata(
                agent=self.name, org=org_id, features=dict(self.features), moderation=self.moderation
            )
        return DispatchMetadata(
            agent=self.name,
            org=org_id,
            version=self.version,
            spec=spec_json(self.spec),
            features=dict(self.features),
            moderation=self.moderation,
        )


class AgentStore:
    """The agents of organisations: the database first, then the catalogue file."""

    def __init__(self, *, session: AsyncSession, catalogue: CatalogueCache) -> None:
        self._session = session
        self._catalogue = catalogue

    async def catalogue(self) -> Catalogue:
        """agents.yaml (read off the event loop); a broken file raises SpecError (file, line, field)."""
        return await asyncio.to_thread(self._catalogue.get)

    async def org_toggles(self, org_id: str) -> dict[str, bool]:
        organisation = await self._session.get(Organisation, org_id)
        return dict(organisation.features or {}) if organisation is not None else {}

    async def org_moderation(self, org_id: str) -> dict[str, Any] | None:
        """The organisation's stored moderation policy as JSON, or None when it has none."""
        policy: dict[str, Any] | None = await self._session.scalar(
            select(ModerationPolicyRecord.policy).where(ModerationPolicyRecord.org_id == org_id)
        )
        return policy

    async def record(self, org_id: str, name: str, *, deleted: bool = False) -> AgentRecord | None:
        """The organisation's database agent of that name (with ``deleted``: even a deleted one)."""
        query = select(AgentRecord).where(AgentRecord.org_id == org_id, AgentRecord.name == name)
        if not deleted:
            query = query.where(AgentRecord.deleted_at.is_(None))
        found: AgentRecord | None = await self._session.scalar(query)
        return found

    async def version(self, record: AgentRecord, number: int) -> AgentVersion | None:
        found: AgentVersion | None = await self._session.scalar(
            select(AgentVersion).where(AgentVersion.agent_id == record.id, AgentVersion.version == number)
        )
        return found

    async def versions(self, record: AgentRecord) -> list[AgentVersion]:
        """Every saved version, newest first."""
        rows = await self._session.scalars(
            select(AgentVersion)
            .where(AgentVersion.agent_id == record.id)
            .order_by(AgentVersion.version.desc())
        )
        return list(rows)

    @staticmethod
    def spec_of(record: AgentRecord, stored: AgentVersion) -> AgentSpec:
        """The AgentSpec a version holds (a ConfigError if today's schema no longer accepts it)."""
        try:
            return AgentSpec.model_validate(stored.spec)
        except ValidationError as e:
            raise ConfigError(
                f"the stored spec of agent {record.name!r} version {stored.version} is no longer valid "
                f"({e.error_count()} problem(s)); save a new version"
            ) from None

    def _resolved(
        self,
        record: AgentRecord,
        stored: AgentVersion,
        org_toggles: Mapping[str, bool],
        moderation: dict[str, Any] | None = None,
    ) -> ResolvedAgent:
        return ResolvedAgent(
            spec=self.spec_of(record, stored),
            source=AgentSource(record.source),
            features=effective_features(org_toggles, record.features or {}),
            version=record.version,
            record=record,
            moderation=moderation,
        )

    async def resolve_record(self, record: AgentRecord) -> ResolvedAgent:
        """A database agent with the spec of its current version."""
        stored = await self.version(record, record.version)
        if stored is None:  # never left so by the store; a hand-edited database
            raise ConfigError(f"agent {record.name!r} has no version {record.version}")
        return self._resolved(
            record, stored, await self.org_toggles(record.org_id), await self.org_moderation(record.org_id)
        )

    async def resolve(self, org_id: str, name: str) -> ResolvedAgent | None:
        """What ``name`` means for the organisation now (None: neither in the database nor the file)."""
        record = await self.record(org_id, name)
        if record is not None:
            return await self.resolve_record(record)
        spec = (await self.catalogue()).get(name)
        if spec is None:
            return None
        return ResolvedAgent(
            spec=spec,
            source=AgentSource.FILE,
            features=effective_features(await self.org_toggles(org_id)),
            moderation=await self.org_moderation(org_id),
        )

    async def file_agent(self, name: str) -> AgentSpec | None:
        return (await self.catalogue()).get(name)

    async def all(self, org_id: str) -> list[ResolvedAgent]:
        """Every agent the organisation can use, by name: database agents shadow file ones."""
        rows = await self._session.execute(
            select(AgentRecord, AgentVersion)
            .join(
                AgentVersion,
                and_(AgentVersion.agent_id == AgentRecord.id, AgentVersion.version == AgentRecord.version),
            )
            .where(AgentRecord.org_id == org_id, AgentRecord.deleted_at.is_(None))
        )
        org_toggles = await self.org_toggles(org_id)
        moderation = await self.org_moderation(org_id)
        agents = {
            record.name: self._resolved(record, stored, org_toggles, moderation) for record, stored in rows
        }
        file_features = effective_features(org_toggles)
        for spec in (await self.catalogue()).agents:
            if spec.name not in agents:
                agents[spec.name] = ResolvedAgent(
                    spec=spec, source=AgentSource.FILE, features=file_features, moderation=moderation
                )
        return [agents[name] for name in sorted(agents)]

    async def known_names(self, org_id: str) -> list[str]:
        return [agent.name for agent in await self.all(org_id)]

    # -------------------------------------------------------------- changes (the route commits)
    async def create(
        self, org_id: str, spec: AgentSpec, *, by: str | None, source: AgentSource = AgentSource.API
    ) -> AgentRecord:
        """A new database agent at version 1, or a deleted one of that name back with a new version.

        The caller has checked that no live agent of the organisation has this name.
        """
        now = utcnow()
        record = await self.record(org_id, spec.name, deleted=True)
        if record is None:
            record = AgentRecord(
                id=new_id("agt"),
                org_id=org_id,
                name=spec.name,
                version=0,
                features={},
                source=source.value,
                created_by=by,
                created_at=now,
                updated_at=now,
            )
            self._session.add(record)
            await self._session.flush()
        else:  # a name comes back after a delete: its versions continue, so old calls stay exact
            record.deleted_at, record.features, record.source = None, {}, source.value
        await self._add_version(record, spec_json(spec), by=by, at=now)
        return record

    async def save(self, record: AgentRecord, spec: AgentSpec, *, by: str | None) -> AgentVersion:
        """A new version of ``record`` with ``spec``; it becomes the one in use."""
        return await self._add_version(record, spec_json(spec), by=by, at=utcnow())

    async def _add_version(
        self, record: AgentRecord, spec: dict[str, Any], *, by: str | None, at: datetime
    ) -> AgentVersion:
        number = record.version + 1
        row = AgentVersion(
            id=new_id("agv"), agent_id=record.id, version=number, spec=spec, created_by=by, created_at=at
        )
        self._session.add(row)
        record.version, record.updated_at = number, at
        await self._session.flush()
        return row

    async def set_toggles(self, record: AgentRecord, changes: Mapping[str, bool | None]) -> None:
        record.features = merge_toggles(record.features or {}, changes)  # a new dict: JSON is replaced
        record.updated_at = utcnow()
        await self._session.flush()

    async def delete(self, record: AgentRecord) -> None:
        """Soft delete: the row and its versions stay for the calls that ran them."""
        record.deleted_at = record.updated_at = utcnow()
        await self._session.flush()


async def get_agent_store(request: Request, session: SessionDep) -> AgentStore:
    cache = request.app.state.catalogue
    assert isinstance(cache, CatalogueCache)
    return AgentStore(session=session, catalogue=cache)


AgentStoreDep = Annotated[AgentStore, Depends(get_agent_store)]
