"""Liveness: the API process answers."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

from auralink.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> HealthPublic:
    return HealthPublic()
