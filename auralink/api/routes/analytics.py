"""Call analytics of the caller's organisation: volume, minutes, latency, quality, cost estimates."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
