"""A member as a GDPR subject: their record, logins, OIDC identities and what they created.

Erasing a member deletes them with their sessions and OIDC identities; what they created for
the organisation (keys, links, rooms, agents, webhooks) stays and forgets its creator
(``created_by`` is cleared). The last owner cannot be erased, and nobody erases a member who
outranks them.
"""

from __future__ import annotations

__all__ = ["erase_member", "export_member", "find_member"]

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import (
    AgentRecord,
    AgentVersion,
    ApiKey,
    Member,
    MemberIdentity,
    MemberSession,
    Room,
    ShareLink,
    WebhookEndpoint,
    is_id,
)
from auralink.api.errors import Conflict, InvalidField, PermissionDenied
from auralink.api.permissions import Role, outranks

from .subject import Subject

_CREATED = (ApiKey, ShareLink, Room, AgentRecord, AgentVersion, WebhookEndpoint)


async def find_member(session: AsyncSession, subject: Subject) -> Member | None:
    """The member named by ``subject`` in its organisation (None: nothing stored about them)."""
    if not is_id(subject.value, "mem"):
        raise InvalidField("subject.value", "a member is named by their id (mem_…)")
    member = await session.get(Member, subject.value)
    return member if member is not None and member.org_id == subject.org_id else None


async def export_member(session: AsyncSession, member: Member | None) -> dict[str, Any]:
    if member is None:
        return {"member": None, "sessions": 0, "identities": [], "created": []}
    sessions = await session.scalar(
        select(func.count()).select_from(MemberSession).where(MemberSession.member_id == member.id)
    )
    identities = await session.scalars(select(MemberIdentity).where(MemberIdentity.member_id == member.id))
    keys = await session.scalars(select(ApiKey).where(ApiKey.created_by == member.id))
    links = await session.scalars(select(ShareLink).where(ShareLink.created_by == member.id))
    created: list[dict[str, Any]] = [
        {"kind": "api_key", "id": k.id, "prefix": k.prefix, "name": k.name, "created_at": k.created_at}
        for k in keys
    ]
    created += [{"kind": "link", "id": ln.id, "agent": ln.agent, "created_at": ln.created_at} for ln in links]
    for model, kind in ((Room, "room"), (AgentRecord, "agent"), (WebhookEndpoint, "webhook")):
        rows = await session.execute(select(model.id, model.created_at).where(model.created_by == member.id))
        created += [{"kind": kind, "id": rid, "created_at": at} for rid, at in rows]
    return {
        "member": {
            "id": member.id,
            "email": member.email,
            "name": member.name,
            "role": member.role,
            "created_at": member.created_at,
        },
        "sessions": sessions or 0,
        "identities": [
            {"issuer": i.issuer, "subject": i.subject, "created_at": i.created_at} for i in identities
        ],
        "created": created,
    }


async def _other_owners(session: AsyncSession, member: Member) -> int:
    owners = await session.scalars(
        select(Member.id)
        .where(Member.org_id == member.org_id, Member.role == Role.OWNER.value)
        .order_by(Member.id)
        .with_for_update()
    )
    return sum(1 for owner_id in owners if owner_id != member.id)


async def erase_member(session: AsyncSession, member: Member | None, *, by: Role) -> dict[str, int]:
    """Delete ``member`` and their logins; :class:`Conflict` for the last owner."""
    counts = {"member": 0, "member_sessions": 0, "member_identities": 0, "created_by_cleared": 0}
    if member is None:
        return counts
    if outranks(Role(member.role), by):
        raise PermissionDenied(f"a {by.value} cannot erase a {member.role}")
    if member.role == Role.OWNER.value and not await _other_owners(session, member):
        raise Conflict("this is the last owner; make another member owner first")
    for model in _CREATED:
        result = await session.execute(
            update(model)
            .where(model.created_by == member.id)
            .values(created_by=None)
            .execution_options(synchronize_session=False)
        )
        counts["created_by_cleared"] += result.rowcount  # type: ignore[attr-defined]
    result = await session.execute(delete(MemberSession).where(MemberSession.member_id == member.id))
    counts["member_sessions"] = result.rowcount  # type: ignore[attr-defined]
    result = await session.execute(delete(MemberIdentity).where(MemberIdentity.member_id == member.id))
    counts["member_identities"] = result.rowcount  # type: ignore[attr-defined]
    await session.delete(member)
    counts["member"] = 1
    return counts
