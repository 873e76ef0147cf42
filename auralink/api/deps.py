"""FastAPI dependencies as ``Annotated`` aliases: what a route may ask for by type.

Everything here is read from ``request.app.state``, filled by :func:`auralink.api.app.create_app`
and its lifespan, so no dependency is a module-level global.
"""

from __future__ import annotations

__all__ = [
    "CatalogueDep",
    "CurrentPrincipal",
    "DatabaseDep",
    "LiveKitDep",
    "SessionDep",
    "SettingsDep",
    "reads",
    "require",
    "writes",
]

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Annotated

from fastapi import Depends, Request
from livekit import api
from sqlalchemy.ext.asyncio import AsyncSession

from auralink.core import Catalogue, Settings

from .audit import AuditContext, bind, context_of
from .auth import Principal, authenticate
from .catalogue import CatalogueCache
from .db import Database
from .errors import PermissionDenied
from .permissions import Action


async def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


async def get_livekit(request: Request) -> api.LiveKitAPI:
    client = getattr(request.app.state, "livekit", None)
    assert isinstance(client, api.LiveKitAPI), "the LiveKit client is made in the app's lifespan"
    return client


def get_catalogue(request: Request) -> Catalogue:
    # a plain def: FastAPI runs it in a worker thread, so reading the file never blocks the loop
    cache = request.app.state.catalogue
    assert isinstance(cache, CatalogueCache)
    return cache.get()


SettingsDep = Annotated[Settings, Depends(get_settings)]
LiveKitDep = Annotated[api.LiveKitAPI, Depends(get_livekit)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]


async def get_database(request: Request) -> Database:
    db = getattr(request.app.state, "database", None)
    assert isinstance(db, Database), "the database is opened in the app's lifespan"
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]


async def writes(request: Request) -> None:
    """Mark a GET route that writes (counts a visit, audits a sensitive read): its session is a
    write session. Use as ``dependencies=[Depends(writes)]`` (route dependencies run first)."""
    request.state.db_writes = True


async def reads(request: Request) -> None:
    """Mark a POST route that only reads (mints a token): its session is a read session, so it
    runs beside other requests instead of queueing for SQLite's write lock."""
    request.state.db_writes = False


async def get_session(request: Request, db: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """One database session per request; routes commit what they change.

    GET and HEAD requests get a read session (no write lock on SQLite, so reads run side by
    side) unless the route depends on :func:`writes`; other methods get a write session unless
    the route depends on :func:`reads`. Changes made through it are audited as
    ``anonymous`` from the client's address until :func:`get_principal` names the caller.
    """
    marked = getattr(request.state, "db_writes", None)
    read_only = request.method in ("GET", "HEAD") if marked is None else not marked
    async with AsyncExitStack() as stack:
        if not read_only and db.write_lock is not None:
            await stack.enter_async_context(db.write_lock)  # this process's SQLite writers, in turn
        session = await stack.enter_async_context(db.read_session() if read_only else db.session())
        bind(session, AuditContext(actor="anonymous", ip=request.client.host if request.client else None))
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_principal(request: Request, session: SessionDep) -> Principal:
    principal = await authenticate(request, session)
    bind(session, context_of(session).acting_as(actor=principal.actor, org_id=principal.org_id))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(action: Action) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency yielding the caller if the permission matrix lets them do ``action`` (else 403)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(action):
            who = "this API key" if principal.key_id else f"the {principal.role.value} role"
            raise PermissionDenied(f"{who} may not {action.value}")
        return principal

    return check
