"""The audit log of the caller's organisation: filter, and check its hash chain."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/audit", tags=["audit"])
