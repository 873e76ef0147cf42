"""Calls of the caller's organisation: list, filter, search, one call with participants and transcript."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/calls", tags=["calls"])
