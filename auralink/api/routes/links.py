"""Share links of the caller's organisation: create, list with analytics, change, revoke.

A link is a public URL, ``/j/<code>``, that starts a call with one agent of the organisation
(a database agent, else agents.yaml; the visitor's side is :mod:`auralink.api.routes.public`). The code is 128 random bits; a passcode
is stored as an argon2 hash, like member passwords, and never shown again.
"""

from __future__ import annotations

__all__ = ["CODE_BYTES", "forget_link", "link_state", "link_title", "public_url", "router"]

import logging
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.agent_store import AgentStore, AgentStoreDep
from auralink.api.auth import Principal, hash_password
from auralink.api.db import LinkVisitor, ShareLink, is_id, utcnow
from auralink.api.deps import SessionDep, require
from auralink.api.errors import InvalidField, NotFound
from auralink.api.linkcache import LinkCache
from auralink.api.permissions import Action
from auralink.api.schemas import LinkAnalytics, LinkCreate, LinkPublic, LinkState, LinkUpdate

from .common import AUTH, MISSING, TOO_LARGE

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/links", tags=["links"], responses=AUTH)

CODE_BYTES = 16  # 128 random bits, 22 URL-safe characters


def link_state(link: ShareLink, now: datetime) -> LinkState:
    """Why a link does or does not work now (revoked beats expired beats used up)."""
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.expires_at is not None and link.expires_at <= now:
        return LinkState.EXPIRED
    if link.max_uses is not None and link.uses >= link.max_uses:
        return LinkState.USED_UP
    return LinkState.ACTIVE


def forget_link(request: Request, code: str) -> None:
    """Drop this process's cached join-page answer for ``code`` (the link changed)."""
    cache = getattr(request.app.state, "link_cache", None)
    if isinstance(cache, LinkCache):
        cache.forget(code)


def link_title(link: ShareLink) -> str:
    return link.display_name or link.agent


def public_url(link: ShareLink, request: Request) -> str:
    """``https://<custom_domain>/j/<code>`` when the link has a domain, else under this API's own base."""
    if link.custom_domain:
        return f"https://{link.custom_domain}/j/{link.code}"
    return f"{str(request.base_url).rstrip('/')}/j/{link.code}"


def _public(link: ShareLink, request: Request, *, visitors: int) -> LinkPublic:
    return LinkPublic(
        id=link.id,
        code=link.code,
        url=public_url(link, request),
        agent=link.agent,
        display_name=link.display_name,
        custom_domain=link.custom_domain,
        passcode_required=link.passcode_hash is not None,
        max_uses=link.max_uses,
        uses=link.uses,
        state=link_state(link, utcnow()),
        created_by=link.created_by,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        analytics=LinkAnalytics(
            opens=link.opens, joins=link.uses, unique_visitors=visitors, last_used_at=link.last_used_at
        ),
    )


async def _visitors(session: AsyncSession, link_ids: list[str]) -> dict[str, int]:
    if not link_ids:
        return {}
    rows = await session.execute(
        select(LinkVisitor.link_id, func.count())
        .where(LinkVisitor.link_id.in_(link_ids))
        .group_by(LinkVisitor.link_id)
    )
    return {link_id: count for link_id, count in rows}


async def _view(session: AsyncSession, link: ShareLink, request: Request) -> LinkPublic:
    visitors = await _visitors(session, [link.id])
    return _public(link, request, visitors=visitors.get(link.id, 0))


async def _own(session: AsyncSession, principal: Principal, link_id: str) -> ShareLink:
    link = await session.get(ShareLink, link_id) if is_id(link_id, "lnk") else None
    if link is None or link.org_id != principal.org_id:
        raise NotFound("link", link_id)
    return link


async def _known_agent(store: AgentStore, org_id: str, agent: str) -> None:
    if await store.resolve(org_id, agent) is None:
        known = ", ".join(await store.known_names(org_id)) or "none"
        raise InvalidField("agent", f"your organisation has no agent named {agent!r} (known: {known})")


def _future(field: str, when: datetime | None) -> None:
    if when is not None and when <= utcnow():
        raise InvalidField(field, "must be in the future")


@router.get("")
async def list_links(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.LINKS_READ))],
) -> list[LinkPublic]:
    """Every link of the organisation, newest first, with its analytics; never a passcode."""
    links = list(
        await session.scalars(
            select(ShareLink)
            .where(ShareLink.org_id == principal.org_id)
            .order_by(ShareLink.created_at.desc(), ShareLink.id)
        )
    )
    visitors = await _visitors(session, [link.id for link in links])
    return [_public(link, request, visitors=visitors.get(link.id, 0)) for link in links]


@router.post("", status_code=status.HTTP_201_CREATED, responses=TOO_LARGE)
async def create(
    body: LinkCreate,
    request: Request,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.LINKS_CREATE))],
) -> LinkPublic:
    """Make a link to a call with ``agent``; the response carries the URL to share."""
    await _known_agent(store, principal.org_id, body.agent)
    _future("expires_at", body.expires_at)
    link = ShareLink(
        org_id=principal.org_id,
        code=secrets.token_urlsafe(CODE_BYTES),
        agent=body.agent,
        display_name=body.display_name,
        custom_domain=body.custom_domain,
        passcode_hash=await hash_password(body.passcode) if body.passcode else None,
        max_uses=body.max_uses,
        uses=0,
        opens=0,
        visitor_salt=secrets.token_hex(16),
        created_by=principal.member_id,
        created_at=utcnow(),
        expires_at=body.expires_at,
    )
    session.add(link)
    await session.commit()
    logger.info("link %s to agent %s created in %s", link.id, link.agent, link.org_id)
    return _public(link, request, visitors=0)


@router.get("/{link_id}", responses=MISSING)
async def read(
    link_id: str,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.LINKS_READ))],
) -> LinkPublic:
    return await _view(session, await _own(session, principal, link_id), request)


@router.patch("/{link_id}", responses={**MISSING, **TOO_LARGE})
async def update(
    link_id: str,
    *,
    body: LinkUpdate,
    request: Request,
    session: SessionDep,
    store: AgentStoreDep,
    principal: Annotated[Principal, Depends(require(Action.LINKS_UPDATE))],
) -> LinkPublic:
    """Change what is sent; ``null`` clears expiry, max uses, passcode, display name or domain."""
    link = await _own(session, principal, link_id)
    given = body.model_fields_set
    if "agent" in given:
        if body.agent is None:
            raise InvalidField("agent", "a link needs an agent")
        await _known_agent(store, principal.org_id, body.agent)
        link.agent = body.agent
    if "expires_at" in given:
        _future("expires_at", body.expires_at)
        link.expires_at = body.expires_at
    if "max_uses" in given:
        link.max_uses = body.max_uses
    if "passcode" in given:
        link.passcode_hash = await hash_password(body.passcode) if body.passcode else None
    if "display_name" in given:
        link.display_name = body.display_name
    if "custom_domain" in given:
        link.custom_domain = body.custom_domain
    await session.commit()
    forget_link(request, link.code)
    return await _view(session, link, request)


@router.post("/{link_id}/revoke", responses=MISSING)
async def revoke(
    link_id: str,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Action.LINKS_REVOKE))],
) -> LinkPublic:
    """Stop the link working at once; revoking a revoked link changes nothing."""
    link = await _own(session, principal, link_id)
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        await session.commit()
        forget_link(request, link.code)
        logger.info("link %s revoked", link.id)
    return await _view(session, link, request)
