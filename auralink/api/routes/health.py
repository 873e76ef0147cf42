"""Liveness (``/healthz``), readiness (``/readyz``) and Prometheus metrics (``/metrics``).

``/readyz`` checks what a request needs: the database answers ``SELECT 1``, Redis answers
``PING`` when ``AURALINK_REDIS_URL`` is set, and the LiveKit server API answers ``ListRooms``.
Each check has a short timeout; a failure names the part and the kind of error, never a trace.
"""

from __future__ import annotations

__all__ = ["router"]

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from livekit import api
from sqlalchemy import text

from auralink.api.db import Database
from auralink.api.metrics import ApiMetrics
from auralink.api.schemas import HealthPublic

logger = logging.getLogger("auralink.api")

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> HealthPublic:
    return HealthPublic()


async def _database(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe()
    except TimeoutError:
        logger.warning("readiness: %s did not answer within %.0f s", name, CHECK_TIMEOUT_S)
        return f"failed: no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as e:  # any failure means "not ready"; reported by its kind only
        logger.warning("readiness: %s failed: %s", name, type(e).__name__)
        return f"failed: {type(e).__name__}"
    return "ok"


@router.get(
    "/readyz",
    responses={
        200: {"description": "every part answers", "content": {"application/json": {"example": {
            "status": "ready", "checks": {"database": "ok", "redis": "ok", "livekit": "ok"}}}}},
        503: {"description": "a part does not answer; `checks` names it", "content": {"application/json": {
            "example": {"status": "not ready", "checks": {"database": "ok", "livekit": "failed: ClientConnectorError"}}}}},
    },
)  # fmt: skip
async def readyz(request: Request) -> JSONResponse:
    """Whether this instance can serve requests: database, Redis (if configured), LiveKit."""
    state = request.app.state
    probes: dict[str, Callable[[], Awaitable[Any]]] = {}
    db = getattr(state, "database", None)
    if isinstance(db, Database):
        probes["database"] = lambda: _database(db)
    redis = getattr(state, "redis", None)
    if redis is not None:
        probes["redis"] = redis.ping
    livekit = getattr(state, "livekit", None)
    if isinstance(livekit, api.LiveKitAPI):
        probes["livekit"] = lambda: livekit.room.list_rooms(api.ListRoomsRequest())
    names = list(probes)
    results = await asyncio.gather(*(_check(n, probes[n]) for n in names))
    checks = dict(zip(names, results, strict=True))
    for part in ("database", "livekit"):
        checks.setdefault(part, "failed: not started")
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this instance (text exposition format)."""
    collected = request.app.state.metrics
    assert isinstance(collected, ApiMetrics)
    return Response(collected.render(), media_type=collected.content_type)
