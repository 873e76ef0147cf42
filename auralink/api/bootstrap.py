"""Creating an organisation with its owner: shared by ``POST /v1/organisations`` and the CLI."""

from __future__ import annotations

__all__ = ["create_organisation", "create_organisation_with_settings", "upgrade_database"]

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.core import Settings

from .auth import hash_password
from .db import Database, Member, Organisation, upgrade
from .errors import Conflict
from .permissions import Role


async def create_organisation(
    session: AsyncSession, *, name: str, owner_email: str, owner_name: str, password: str
) -> tuple[Organisation, Member]:
    """A new organisation and its owner, committed; :class:`Conflict` if the e-mail is taken."""
    email = owner_email.strip().lower()
    if await session.scalar(select(Member.id).where(Member.email == email)) is not None:
        raise Conflict(f"a member with the e-mail {email!r} already exists")
    organisation = Organisation(name=name)
    session.add(organisation)
    await session.flush()
    owner = Member(
        org_id=organisation.id,
        email=email,
        name=owner_name,
        role=Role.OWNER.value,
        password_hash=await hash_password(password),
    )
    session.add(owner)
    try:
        await session.commit()
    except IntegrityError:  # the same e-mail signed up a moment ago
        await session.rollback()
        raise Conflict(f"a member with the e-mail {email!r} already exists") from None
    return organisation, owner


async def upgrade_database(settings: Settings) -> None:
    """Bring ``settings.database_url`` to the newest schema (``auralink db upgrade``)."""
    async with Database(url=settings.database_url) as db:
        await upgrade(db)


async def create_organisation_with_settings(
    settings: Settings, *, name: str, owner_email: str, owner_name: str, password: str
) -> tuple[str, str]:
    """Migrate, then create the organisation; returns (organisation id, owner id)."""
    async with Database(url=settings.database_url) as db:
        await upgrade(db)
        async with db.session() as session:
            organisation, owner = await create_organisation(
                session, name=name, owner_email=owner_email, owner_name=owner_name, password=password
            )
            return organisation.id, owner.id
