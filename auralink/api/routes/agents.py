"""AgentSpecs of the caller's organisation: CRUD, versions, rollback, feature toggles."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/agents", tags=["agents"])
