"""AgentSpecs of the caller's organisation: CRUD, versions, rollback, feature toggles, import.

Agents are named in paths by their spec name. The list and reads show database agents and the
agents.yaml ones the organisation has not shadowed (:mod:`auralink.api.agent_store`); the
routes that change an agent need a database agent, and answer 409 for a file agent (it is
changed in agents.yaml, or shadowed by creating a database agent of the same name).
Every save is a new version; rollback saves an old version's spec as a new one; delete
is soft, so the versions stay for the calls that ran them.
"""

from __future__ import annotations

__all__ = ["router"]

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, status

from auralink.api.agent_store import (
    AgentSource,
    AgentStore,
    AgentStoreDep,
    ResolvedAgent,
    parse_spec,
    spec_json,
)
from auralink.api.auth import Principal
from auralink.api.db import AgentRecord, AgentVersion
from auralink.api.deps import SessionDep, require
from auralink.api.errors import Conflict, InvalidField, NotFound
from auralink.api.permissions import Action
from auralink.api.schemas import (
    AgentDetail,
    AgentImported,
    AgentRollback,
    AgentSpecBody,
    AgentSummary,
    AgentVersionDetail,
    AgentVersionSummary,
    AgentWarning,
    ErrorBody,
    FeatureToggles,
    FeatureTogglesUpdate,
)
from auralink.core import AgentSpec, ConfigError

from .common import AUTH, CLASH, MISSING, TOO_LARGE, Responses

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=AUTH)

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")  # AgentSpec's names; anything else names nothing

MISSING_OR_FILE: Responses = {
    **MISSING,
    409: {"model": ErrorBody, "description": "the agent comes from agents.yaml, not the database"},
}


class FileAgent(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"agent {name!r} comes from agents.yaml, not the database: change it in the file, or "
            "create a database agent of that name with POST /v1/agents (it shadows the file one), "
            "or copy the catalogue in with POST /v1/agents/import"
        )


def _warnings(spec: AgentSpec) -> list[AgentWarning]:
    return [
        AgentWarning(
            field=field,
            env=env,
            message=f"{env} is not set on the API host; the worker host running this agent needs it",
        )
        for field, env in spec.missing_credentials()
    ]


def _summary(agent: ResolvedAgent) -> AgentSummary:
    record = agent.record
    return AgentSummary(
        id=record.id if record else None,
        name=agent.name,
        description=agent.spec.description,
        source=agent.source,
        version=agent.version,
        features=FeatureToggles.model_validate(agent.features),
        created_at=record.created_at if record else None,
        updated_at=record.updated_at if record else None,
    )


def _detail(agent: ResolvedAgent) -> AgentDetail:
    return AgentDetail(
        **_summary(agent).model_dump(),
        spec=agent.spec,
        feature_overrides=agent.overrides,
        warnings=_warnings(agent.spec),
    )


def _version(row: AgentVersion, record: AgentRecord) -> AgentVersionSummary:
    return AgentVersionSummary(
        version=row.version,
        current=row.version == record.version,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def _own(store: AgentStore, principal: Principal, name: str) -> AgentRecord:
    """The organisation's live database agent ``name``; 409 for a file agent, else 404."""
    if not _NAME.fullmatch(name):
        raise NotFound("agent", name)
    record = await store.record(principal.org_id, name)
    if record is not None:
        return record
    try:
        in_file = await store.file_agent(name) is not None
    except ConfigError:  # a broken agents.yaml: no file agent can be meant
        in_file = False
    raise FileAgent(name) if in_file else NotFound("agent", name)


@router.get("")
async def list_agents(
    store: AgentStoreDep, principal: Annotated[Principal, Depends(require(Action.AGENTS_READ))]
) -> list[AgentSummary]:
    """Every agent the organisation can dispatch, by name: its database agents and the
    agents.yaml ones it has not shadowed, each with its source, version and effective toggles."""
    return [_summary(agent) for agent in await store.all(principal.org_id)]


@router.post("", status_code=status.HTTP_201_CREATED, responses={**CLASH, **TOO_LARGE})
async def create(
    body: AgentSpecBody,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_CREATE))],
) -> AgentDetail:
    """Save an AgentSpec (the agents.yaml shape, as JSON) as version 1 of a database agent.

    A file agent of the same name is shadowed from now on. Missing BYOK keys are not an error
    here (the worker host holds them); the answer lists them under ``warnings``."""
    spec = parse_spec(body.root)
    if await store.record(principal.org_id, spec.name) is not None:
        raise Conflict(
            f"your organisation already has an agent named {spec.name!r}; "
            f"PUT /v1/agents/{spec.name} saves a new version of it"
        )
    record = await store.create(principal.org_id, spec, by=principal.member_id)
    await session.commit()
    logger.info("agent %s version %d created in %s", record.name, record.version, record.org_id)
    return _detail(await store.resolve_record(record))


@router.post("/import")
async def import_catalogue(
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_CREATE))],
) -> AgentImported:
    """Copy the agents.yaml catalogue into the organisation's database (source ``catalogue``).

    Names the organisation already has in the database are left untouched; the answer says
    which agents were copied and which skipped."""
    copied: list[str] = []
    skipped: list[str] = []
    for spec in (await store.catalogue()).agents:
        if await store.record(principal.org_id, spec.name) is not None:
            skipped.append(spec.name)
            continue
        await store.create(principal.org_id, spec, by=principal.member_id, source=AgentSource.CATALOGUE)
        copied.append(spec.name)
    await session.commit()
    logger.info("imported %d catalogue agent(s) into %s", len(copied), principal.org_id)
    return AgentImported(copied=copied, skipped=skipped)


@router.get("/{name}", responses=MISSING)
async def read(
    name: str,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_READ))],
) -> AgentDetail:
    """The spec in use for ``name`` (database agent, else agents.yaml), its toggles and warnings."""
    agent = await store.resolve(principal.org_id, name) if _NAME.fullmatch(name) else None
    if agent is None:
        raise NotFound("agent", name)
    return _detail(agent)


@router.put("/{name}", responses={**MISSING_OR_FILE, **TOO_LARGE})
async def update(
    name: str,
    *,
    body: AgentSpecBody,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_UPDATE))],
) -> AgentDetail:
    """Save the whole spec as a new version, which new calls use at once.

    Sending the spec in use again saves nothing. The spec's ``name`` must be the agent's."""
    record = await _own(store, principal, name)
    spec = parse_spec(body.root)
    if spec.name != record.name:
        raise InvalidField("name", f"must be {record.name!r}; an agent cannot be renamed (create a new one)")
    current = await store.resolve_record(record)
    if spec_json(spec) != spec_json(current.spec):
        await store.save(record, spec, by=principal.member_id)
        await session.commit()
        logger.info("agent %s version %d saved in %s", record.name, record.version, record.org_id)
        current = await store.resolve_record(record)
    return _detail(current)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=MISSING_OR_FILE)
async def delete(
    name: str,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_DELETE))],
) -> None:
    """Delete the database agent; a file agent of that name applies again. Versions are kept."""
    record = await _own(store, principal, name)
    await store.delete(record)
    await session.commit()
    logger.info("agent %s deleted in %s", record.name, record.org_id)


@router.get("/{name}/versions", responses=MISSING_OR_FILE)
async def list_versions(
    name: str,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_READ))],
) -> list[AgentVersionSummary]:
    """Every saved version of the agent, newest first; ``current`` marks the one in use."""
    record = await _own(store, principal, name)
    return [_version(row, record) for row in await store.versions(record)]


@router.get("/{name}/versions/{version}", responses=MISSING_OR_FILE)
async def read_version(
    name: str,
    version: int,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_READ))],
) -> AgentVersionDetail:
    """One saved version with its spec."""
    record = await _own(store, principal, name)
    row = await store.version(record, version)
    if row is None:
        raise NotFound("version", f"{name} v{version}")
    return AgentVersionDetail(**_version(row, record).model_dump(), spec=store.spec_of(record, row))


@router.post("/{name}/rollback", responses={**MISSING_OR_FILE, **TOO_LARGE})
async def rollback(
    name: str,
    *,
    body: AgentRollback,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_UPDATE))],
) -> AgentDetail:
    """Save an old version's spec as a new version (history is never rewritten).

    Rolling back to the spec already in use saves nothing."""
    record = await _own(store, principal, name)
    row = await store.version(record, body.version)
    if row is None:
        raise InvalidField("version", f"agent {name!r} has versions 1 to {record.version}")
    spec = parse_spec(row.spec, loc=("body", "version"))
    current = await store.resolve_record(record)
    if spec_json(spec) != spec_json(current.spec):
        await store.save(record, spec, by=principal.member_id)
        await session.commit()
        logger.info("agent %s rolled back to version %d in %s", record.name, body.version, record.org_id)
        current = await store.resolve_record(record)
    return _detail(current)


@router.patch("/{name}/features", responses={**MISSING_OR_FILE, **TOO_LARGE})
async def update_features(
    name: str,
    *,
    body: FeatureTogglesUpdate,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.AGENTS_UPDATE))],
) -> AgentDetail:
    """Set this agent's toggles over the organisation's; ``null`` removes one (inherit).

    Toggles are not versioned: they apply to the next call whatever the version."""
    record = await _own(store, principal, name)
    await store.set_toggles(record, body.model_dump(include=body.model_fields_set))
    await session.commit()
    return _detail(await store.resolve_record(record))
