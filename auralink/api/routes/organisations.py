"""Organisations: sign-up (an organisation and its owner), read and rename your own, feature toggles."""

from __future__ import annotations

__all__ = ["router"]

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.agent_store import effective_features, merge_toggles
from auralink.api.auth import Principal
from auralink.api.bootstrap import create_organisation
from auralink.api.db import Organisation, is_id
from auralink.api.deps import SessionDep, SettingsDep, require
from auralink.api.errors import NotFound, SignupClosed
from auralink.api.permissions import Action
from auralink.api.schemas import (
    ErrorBody,
    FeatureToggles,
    FeatureTogglesUpdate,
    MemberPublic,
    OrganisationCreate,
    OrganisationCreated,
    OrganisationFeatures,
    OrganisationPublic,
    OrganisationUpdate,
)

from .common import AUTH, MISSING, TOO_LARGE

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/organisations", tags=["organisations"])


def _public(org: Organisation) -> OrganisationPublic:
    return OrganisationPublic.model_validate(org, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"model": ErrorBody, "description": "sign-up is closed on this server"},
        409: {"model": ErrorBody, "description": "the owner's e-mail is taken"},
        **TOO_LARGE,
    },
)
async def create(body: OrganisationCreate, settings: SettingsDep, session: SessionDep) -> OrganisationCreated:
    """Create an organisation and its owner (open while AURALINK_ALLOW_SIGNUP is true)."""
    if not settings.allow_signup:
        raise SignupClosed()
    organisation, owner = await create_organisation(
        session,
        name=body.name,
        owner_email=body.owner.email,
        owner_name=body.owner.name,
        password=body.owner.password,
    )
    logger.info("organisation %s created", organisation.id)
    return OrganisationCreated(
        organisation=_public(organisation), owner=MemberPublic.model_validate(owner, from_attributes=True)
    )


async def _own(session: AsyncSession, principal: Principal, org_id: str) -> Organisation:
    organisation = (
        await session.get(Organisation, org_id)
        if org_id == principal.org_id and is_id(org_id, "org")
        else None
    )
    if organisation is None:
        raise NotFound("organisation", org_id)
    return organisation


@router.get("/{org_id}", responses={**AUTH, **MISSING})
async def read(
    org_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.ORGANISATION_READ))],
) -> OrganisationPublic:
    return _public(await _own(session, principal, org_id))


@router.patch("/{org_id}", responses={**AUTH, **MISSING, **TOO_LARGE})
async def update(
    org_id: str,
    body: OrganisationUpdate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.ORGANISATION_UPDATE))],
) -> OrganisationPublic:
    organisation = await _own(session, principal, org_id)
    if body.name is not None:
        organisation.name = body.name
    await session.commit()
    return _public(organisation)


def _features(org: Organisation) -> OrganisationFeatures:
    overrides = dict(org.features or {})
    return OrganisationFeatures(
        features=FeatureToggles.model_validate(effective_features(overrides)), overrides=overrides
    )


@router.get("/{org_id}/features", responses={**AUTH, **MISSING})
async def read_features(
    org_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.ORGANISATION_READ))],
) -> OrganisationFeatures:
    """The organisation's feature toggles: its own, else the defaults (agents may override them)."""
    return _features(await _own(session, principal, org_id))


@router.patch("/{org_id}/features", responses={**AUTH, **MISSING, **TOO_LARGE})
async def update_features(
    org_id: str,
    body: FeatureTogglesUpdate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.ORGANISATION_UPDATE))],
) -> OrganisationFeatures:
    """Set toggles for every agent of the organisation; ``null`` removes one (the default applies)."""
    organisation = await _own(session, principal, org_id)
    organisation.features = merge_toggles(
        organisation.features or {}, body.model_dump(include=body.model_fields_set)
    )
    await session.commit()
    return _features(organisation)
