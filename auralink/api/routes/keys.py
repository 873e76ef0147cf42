"""API keys of the caller's organisation: create (the secret once), list, rename, revoke, rotate.

A key acts with a role no higher than its creator's, narrowed to its scopes if it has any;
nobody acts on a key whose role outranks their own.
"""

from __future__ import annotations

__all__ = ["router"]

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.auth import Principal, issue_key
from auralink.api.db import ApiKey, is_id, utcnow
from auralink.api.deps import SessionDep, require
from auralink.api.errors import Conflict, InvalidField, NotFound, PermissionDenied
from auralink.api.permissions import Action, Role, allowed, outranks
from auralink.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeyUpdate

from .common import AUTH, CLASH, MISSING, TOO_LARGE

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=AUTH)


def _public(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(key, from_attributes=True)


async def _get(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    key = await session.get(ApiKey, key_id) if is_id(key_id, "key") else None
    if key is None or key.org_id != principal.org_id:
        raise NotFound("API key", key_id)
    return key


async def _own(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    key = await _get(session, principal, key_id)
    if outranks(Role(key.role), principal.role):
        raise PermissionDenied(f"a {principal.role.value} cannot manage a key with the {key.role} role")
    return key


def _new_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    role: Role,
    scopes: list[str] | None,
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    issued = issue_key()
    key = ApiKey(
        org_id=principal.org_id,
        name=name,
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        role=role.value,
        scopes=scopes,
        created_by=principal.member_id,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(key)
    return key, issued.secret


@router.get("")
async def list_keys(
    session: SessionDep, principal: Annotated[Principal, Depends(require(Action.KEYS_READ))]
) -> list[ApiKeyPublic]:
    """Every key of the organisation, newest first, revoked ones included; never a secret."""
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.org_id == principal.org_id).order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return [_public(k) for k in rows]


@router.post("", status_code=status.HTTP_201_CREATED, responses=TOO_LARGE)
async def create(
    body: ApiKeyCreate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.KEYS_CREATE))],
) -> ApiKeyCreated:
    """Make a key; the response carries the secret, the only time it is shown."""
    if outranks(body.role, principal.role):
        raise PermissionDenied(
            f"a {principal.role.value} cannot create a key with the {body.role.value} role"
        )
    scopes = sorted({a.value for a in body.scopes}) if body.scopes is not None else None
    if scopes is not None:
        if not scopes:
            raise InvalidField("scopes", "give at least one action, or omit scopes for all of the role's")
        denied = [a for a in body.scopes or [] if not allowed(body.role, a)]
        if denied:
            raise InvalidField("scopes", f"the {body.role.value} role cannot {denied[0].value}")
        if principal.scopes is not None and not set(scopes) <= principal.scopes:
            raise PermissionDenied("a key cannot create a key with scopes it does not have")
    elif principal.scopes is not None:
        raise PermissionDenied("a key with scopes can only create keys with a subset of them")
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise InvalidField("expires_at", "must be in the future")
    key, secret = _new_key(
        session, principal, name=body.name, role=body.role, scopes=scopes, expires_at=body.expires_at
    )
    await session.commit()
    logger.info("API key %s (%s) created in %s", key.id, key.prefix, key.org_id)
    return ApiKeyCreated(**_public(key).model_dump(), secret=secret)


@router.get("/{key_id}", responses=MISSING)
async def read(
    key_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.KEYS_READ))],
) -> ApiKeyPublic:
    return _public(await _get(session, principal, key_id))


@router.patch("/{key_id}", responses={**MISSING, **TOO_LARGE})
async def update(
    key_id: str,
    body: ApiKeyUpdate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.KEYS_UPDATE))],
) -> ApiKeyPublic:
    key = await _own(session, principal, key_id)
    if body.name is not None:
        key.name = body.name
    await session.commit()
    return _public(key)


@router.post("/{key_id}/revoke", responses=MISSING)
async def revoke(
    key_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.KEYS_REVOKE))],
) -> ApiKeyPublic:
    """Stop the key working at once; revoking a revoked key changes nothing."""
    key = await _own(session, principal, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.commit()
        logger.info("API key %s revoked", key.id)
    return _public(key)


@router.post(
    "/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses={**MISSING, **CLASH},
)
async def rotate(
    key_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.KEYS_ROTATE))],
) -> ApiKeyCreated:
    """A new key with the same name, role, scopes and expiry; the old one is revoked."""
    old = await _own(session, principal, key_id)
    if old.revoked_at is not None:
        raise Conflict("this key is revoked; create a new one instead")
    if old.expires_at is not None and old.expires_at <= utcnow():
        raise Conflict("this key has expired; create a new one instead")
    old.revoked_at = utcnow()
    key, secret = _new_key(
        session,
        principal,
        name=old.name,
        role=Role(old.role),
        scopes=list(old.scopes) if old.scopes is not None else None,
        expires_at=old.expires_at,
    )
    await session.commit()
    logger.info("API key %s rotated to %s", old.id, key.id)
    return ApiKeyCreated(**_public(key).model_dump(), secret=secret)
