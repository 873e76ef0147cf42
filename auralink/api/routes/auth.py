"""Dashboard sessions: log in with e-mail and password, log out, and ask who you are."""

from __future__ import annotations

__all__ = ["router"]

import logging
from functools import cache

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import delete, select

from auralink.api.auth import (
    SESSION_COOKIE,
    Principal,
    hash_token,
    open_member_session,
    verify_password,
)
from auralink.api.db import Member, MemberSession
from auralink.api.deps import CurrentPrincipal, SessionDep
from auralink.api.errors import NotAuthenticated
from auralink.api.permissions import Role
from auralink.api.schemas import ErrorBody, LoginCreate, PrincipalPublic

from .common import TOO_LARGE

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@cache
def _decoy_hash() -> str:
    # verified against when the e-mail is unknown, so both failures take the same time
    from argon2 import PasswordHasher

    return PasswordHasher().hash("not a real password")


def principal_public(principal: Principal) -> PrincipalPublic:
    return PrincipalPublic(
        org_id=principal.org_id,
        role=principal.role,
        member_id=principal.member_id,
        key_id=principal.key_id,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
    )


@router.post(
    "/login",
    responses={401: {"model": ErrorBody, "description": "wrong e-mail or password"}, **TOO_LARGE},
)
async def login(
    body: LoginCreate, request: Request, response: Response, session: SessionDep
) -> PrincipalPublic:
    """Check the password and set the HttpOnly session cookie the dashboard sends from then on."""
    member = await session.scalar(select(Member).where(Member.email == body.email))
    ok = await verify_password(member.password_hash if member else _decoy_hash(), body.password)
    if member is None or not ok:
        raise NotAuthenticated("wrong e-mail or password")
    await open_member_session(session, member=member, request=request, response=response)
    logger.info("member %s logged in", member.id)
    return principal_public(Principal(org_id=member.org_id, role=Role(member.role), member_id=member.id))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, response: Response, session: SessionDep) -> None:
    """End the session of the cookie (if any) on the server and clear the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await session.execute(delete(MemberSession).where(MemberSession.token_hash == hash_token(token)))
        await session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


@router.get("/me", responses={401: {"model": ErrorBody, "description": "no valid credentials"}})
async def me(principal: CurrentPrincipal) -> PrincipalPublic:
    """The organisation, member or key, role and scopes the request acts as."""
    return principal_public(principal)
