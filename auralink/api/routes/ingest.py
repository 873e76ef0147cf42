"""What the agents worker reports about its calls: transcript turns, per-turn latency, usage, errors."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])
