"""Usage of the caller's organisation: report per period and agent, CSV export, plan and quotas."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/usage", tags=["usage"])
