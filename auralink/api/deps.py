"""FastAPI dependencies as ``Annotated`` aliases: what a route may ask for by type.

Everything here is read from ``request.app.state``, filled by :func:`auralink.api.app.create_app`
and its lifespan, so no dependency is a module-level global.
"""

from __future__ import annotations

__all__ = ["CatalogueDep", "LiveKitDep", "SettingsDep"]

from typing import Annotated

from fastapi import Depends, Request
from livekit import api

from auralink.core import Catalogue, Settings

from .catalogue import CatalogueCache


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_livekit(request: Request) -> api.LiveKitAPI:
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
