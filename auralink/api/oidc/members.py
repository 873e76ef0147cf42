"""Which member a single sign-on is: a known identity, a member with that verified e-mail, or a newcomer.

1. ``member_identities`` has ``(issuer, subject)``: that member, whatever the e-mail says now.
2. Else a member has the account's e-mail **and the provider says it is verified**: the identity
   is linked to that member, so later logins take step 1.
3. Else, when ``AURALINK_OIDC_AUTO_JOIN_ORG`` names an organisation, a member with the
   verified e-mail is created there with ``AURALINK_OIDC_DEFAULT_ROLE`` (no password: such
   members log in through the provider only), and linked.
4. Else :class:`NoMemberForLogin` (403), saying what the person can do about it.
"""

from __future__ import annotations

__all__ = ["SSO_ONLY_PASSWORD", "member_for_login"]

import logging
from functools import cache

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.api.db import Member, MemberIdentity, Organisation
from auralink.api.schemas.common import Email

from .client import Identity
from .config import OidcConfig
from .errors import NoMemberForLogin

logger = logging.getLogger("auralink.api")

#: stored as the password hash of members made by single sign-on: no password ever matches it
SSO_ONLY_PASSWORD = "!sso-only"  # noqa: S105 - a marker no argon2 check accepts, not a secret


@cache
def _email() -> TypeAdapter[str]:
    return TypeAdapter(Email)


def _usable_email(identity: Identity) -> str | None:
    if identity.email is None or not identity.email_verified:
        return None
    try:
        return _email().validate_python(identity.email)
    except ValidationError:
        return None


async def _link(session: AsyncSession, member: Member, identity: Identity) -> None:
    session.add(MemberIdentity(member_id=member.id, issuer=identity.issuer, subject=identity.subject))
    await session.flush()


async def member_for_login(session: AsyncSession, *, identity: Identity, config: OidcConfig) -> Member:
    """The member ``identity`` logs in as (linking or creating per the steps above); flushed, not committed."""
    member = await session.scalar(
        select(Member)
        .join(MemberIdentity, MemberIdentity.member_id == Member.id)
        .where(MemberIdentity.issuer == identity.issuer, MemberIdentity.subject == identity.subject)
    )
    if member is not None:
        return member
    email = _usable_email(identity)
    if email is None:
        why = "gave no e-mail address" if identity.email is None else "has not verified your e-mail address"
        raise NoMemberForLogin(
            f"your account at {identity.issuer} {why}, so it cannot be matched to a member here; "
            "verify it there, or ask an administrator of your organisation"
        )
    member = await session.scalar(select(Member).where(Member.email == email))
    if member is not None:
        await _link(session, member, identity)
        logger.info("SSO identity linked to member %s by verified e-mail", member.id)
        return member
    if config.auto_join_org is None:
        raise NoMemberForLogin(
            "no member of this AuraLink server has your e-mail address; ask an administrator of "
            "your organisation to invite you (then log in with single sign-on again)"
        )
    org = await session.get(Organisation, config.auto_join_org)
    if org is None:
        logger.warning("AURALINK_OIDC_AUTO_JOIN_ORG names no organisation; SSO newcomers are refused")
        raise NoMemberForLogin(
            "this server lets newcomers join through single sign-on, but AURALINK_OIDC_AUTO_JOIN_ORG "
            "names no organisation; tell its operator"
        )
    name = "".join(c for c in identity.name or "" if c.isprintable()).strip()
    member = Member(
        org_id=org.id,
        email=email,
        name=name or email.split("@", 1)[0],
        password_hash=SSO_ONLY_PASSWORD,
        role=config.default_role.value,
    )
    session.add(member)
    await session.flush()
    await _link(session, member, identity)
    logger.info("member %s joined organisation %s through SSO", member.id, org.id)
    return member
