"""Meters authenticated API calls and enforces the monthly API-call quota (429), per API key.

Runs for ``/v1/...`` and ``/mcp`` requests carrying a Bearer API key (not LiveKit's
``/v1/livekit/...`` webhooks, not dashboard sessions: the dashboard's own calls are not billed). The key's
organisation and plan come from :class:`~auralink.api.usage.keys.KeyDirectory`. A request
whose organisation has used its month's API calls is answered 429 with the quota body of
:func:`~auralink.api.usage.quotas.quota_error_body` (``/v1/usage...`` stays open so the
caller can see why). Every other request is counted once answered, unless it was refused
with 401 (a wrong, revoked or expired key is no call of the organisation's).
"""

from __future__ import annotations

__all__ = ["UsageMiddleware"]

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auralink.api.db import utcnow
from auralink.api.ratelimit import is_api_path

from .keys import key_prefix
from .periods import month_of
from .plans import Quota
from .quotas import QuotaExceeded, QuotaState, quota_error_body, retry_after
from .runtime import UsageRuntime


class UsageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = None
        if scope["type"] == "http":
            path = str(scope.get("path", ""))
            if is_api_path(path) and "app" in scope:
                runtime = getattr(scope["app"].state, "usage", None)
        prefix = key_prefix(scope) if isinstance(runtime, UsageRuntime) else None
        owner = await runtime.keys.lookup(prefix) if runtime is not None and prefix is not None else None
        if runtime is None or owner is None:
            await self.app(scope, receive, send)
            return
        limit = runtime.plan(owner.plan).limit(Quota.API_CALLS)
        if limit is not None and not path.startswith("/v1/usage"):
            used = await runtime.meter.used(owner.org_id)
            if used >= limit:
                now = utcnow()
                await _refuse(send, QuotaExceeded(QuotaState(Quota.API_CALLS, limit, used), month_of(now)))
                return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if status != 401:
                runtime.meter.count(owner.org_id, owner.key_id)


async def _refuse(send: Send, error: QuotaExceeded) -> None:
    body = json.dumps(quota_error_body(error)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", retry_after(error, utcnow()).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
