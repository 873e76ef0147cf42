"""Members of the caller's organisation: list, invite with a role, change, remove.

Beyond the matrix: nobody grants a role above their own or touches a member who outranks
them, only an owner makes or unmakes an owner, and the last owner can be neither demoted
nor removed.
"""

from __future__ import annotations

__all__ = ["router"]

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.auth import Principal, hash_password
from auralink.api.db import Member, is_id
from auralink.api.deps import SessionDep, require
from auralink.api.errors import Conflict, NotFound, PermissionDenied
from auralink.api.permissions import Action, Role, outranks
from auralink.api.schemas import MemberCreate, MemberCreated, MemberPublic, MemberUpdate

from .common import AUTH, CLASH, MISSING, TOO_LARGE

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/members", tags=["members"], responses=AUTH)


def _public(member: Member) -> MemberPublic:
    return MemberPublic.model_validate(member, from_attributes=True)


async def _own(session: AsyncSession, principal: Principal, member_id: str) -> Member:
    member = await session.get(Member, member_id) if is_id(member_id, "mem") else None
    if member is None or member.org_id != principal.org_id:
        raise NotFound("member", member_id)
    return member


def _may_grant(principal: Principal, role: Role) -> None:
    if outranks(role, principal.role):
        raise PermissionDenied(f"a {principal.role.value} cannot grant the {role.value} role")


def _may_touch(principal: Principal, member: Member) -> None:
    if outranks(Role(member.role), principal.role):
        raise PermissionDenied(f"a {principal.role.value} cannot change a {member.role}")


async def _other_owners(session: AsyncSession, member: Member) -> int:
    """How many owners besides ``member`` the organisation has.

    On PostgreSQL every owner row is locked in id order first, so two owners demoting each
    other at once are serialised and the second sees the first's change (SQLite serialises
    writers itself and refuses a write on a stale read).
    """
    owners = await session.scalars(
        select(Member.id)
        .where(Member.org_id == member.org_id, Member.role == Role.OWNER.value)
        .order_by(Member.id)
        .with_for_update()
    )
    return sum(1 for owner_id in owners if owner_id != member.id)


@router.get("")
async def list_members(
    session: SessionDep, principal: Annotated[Principal, Depends(require(Action.MEMBERS_READ))]
) -> list[MemberPublic]:
    rows = await session.scalars(
        select(Member).where(Member.org_id == principal.org_id).order_by(Member.created_at, Member.id)
    )
    return [_public(m) for m in rows]


@router.post("", status_code=status.HTTP_201_CREATED, responses={**CLASH, **TOO_LARGE})
async def invite(
    body: MemberCreate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.MEMBERS_INVITE))],
) -> MemberCreated:
    """Add a person with a role. Without ``password`` one is generated and returned once."""
    _may_grant(principal, body.role)
    if await session.scalar(select(func.count()).where(Member.email == body.email)):
        raise Conflict(f"a member with the e-mail {body.email!r} already exists")
    generated = None if body.password else secrets.token_urlsafe(12)
    password = body.password or generated
    assert password is not None
    member = Member(
        org_id=principal.org_id,
        email=body.email,
        name=body.name,
        role=body.role.value,
        password_hash=await hash_password(password),
    )
    session.add(member)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a member with the e-mail {body.email!r} already exists") from None
    logger.info("member %s added to %s as %s", member.id, member.org_id, member.role)
    return MemberCreated(**_public(member).model_dump(), password=generated)


@router.get("/{member_id}", responses=MISSING)
async def read(
    member_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.MEMBERS_READ))],
) -> MemberPublic:
    return _public(await _own(session, principal, member_id))


@router.patch("/{member_id}", responses={**MISSING, **CLASH, **TOO_LARGE})
async def update(
    member_id: str,
    body: MemberUpdate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.MEMBERS_UPDATE))],
) -> MemberPublic:
    member = await _own(session, principal, member_id)
    _may_touch(principal, member)
    if body.role is not None and body.role.value != member.role:
        _may_grant(principal, body.role)
        if member.role == Role.OWNER.value and not await _other_owners(session, member):
            raise Conflict("this is the last owner; make another member owner first")
        member.role = body.role.value
    if body.name is not None:
        member.name = body.name
    await session.commit()
    return _public(member)


@router.delete("/{member_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**MISSING, **CLASH})
async def remove(
    member_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.MEMBERS_REMOVE))],
) -> None:
    """Remove a member; their dashboard sessions end with them, their keys stay (created_by is cleared)."""
    member = await _own(session, principal, member_id)
    _may_touch(principal, member)
    if member.role == Role.OWNER.value and not await _other_owners(session, member):
        raise Conflict("this is the last owner; make another member owner first")
    await session.delete(member)
    await session.commit()
    logger.info("member %s removed from %s", member_id, principal.org_id)
