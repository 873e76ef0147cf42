"""GDPR: export everything stored about a subject as one archive, and erase it everywhere."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/gdpr", tags=["gdpr"])
