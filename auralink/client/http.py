"""The client object: one ``httpx.AsyncClient``, the API key, and a resource per attribute."""

from __future__ import annotations

__all__ = ["AuraLink", "JSONObject"]

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from auralink.core import ProviderError

from .errors import ApiError

#: an object of the API's JSON answers, as documented in its OpenAPI schema
JSONObject = dict[str, Any]

_USER_AGENT = "auralink-client/1"


class AuraLink:
    """The management API at ``base_url``, as the holder of ``api_key``.

    Use it as ``async with AuraLink(...) as al`` or call :meth:`aclose`. ``transport`` lets
    tests run it against an in-process app (``httpx.ASGITransport``).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        from .resources import (
            Agents,
            Analytics,
            Audit,
            Calls,
            Gdpr,
            Keys,
            Links,
            Rooms,
            Usage,
            Webhooks,
        )

        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": _USER_AGENT},
            timeout=timeout,
            transport=transport,
        )
        self.keys = Keys(self)
        self.agents = Agents(self)
        self.links = Links(self)
        self.rooms = Rooms(self)
        self.calls = Calls(self)
        self.webhooks = Webhooks(self)
        self.usage = Usage(self)
        self.analytics = Analytics(self)
        self.audit = Audit(self)
        self.gdpr = Gdpr(self)

    async def search(self, q: str, **filters: Any) -> JSONObject:
        """The meeting archive: ``calls.search`` (``mode``, ``since``, ``until``, ``participant``,
        ``agent``, ``limit``)."""
        return await self.calls.search(q, **filters)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AuraLink:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One request; an answer that is not 2xx raises :class:`ApiError`."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            r = await self._http.request(method, path, json=json, params=query)
        except httpx.HTTPError as e:
            raise ProviderError(f"the AuraLink API at {self.base_url} did not answer: {e}") from None
        if r.is_success:
            return r
        raise _error(r)

    async def json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        r = await self.send(method, path, json=json, params=params)
        return None if r.status_code == 204 or not r.content else r.json()

    async def pages(self, path: str, *, params: Mapping[str, Any] | None = None) -> AsyncIterator[JSONObject]:
        """Every item of a listing, following its ``next_cursor`` when it has one."""
        query = dict(params or {})
        while True:
            page = await self.json("GET", path, params=query)
            if isinstance(page, list):
                for item in page:
                    yield item
                return
            for item in page.get("items", []):
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _error(r: httpx.Response) -> ApiError:
    try:
        body = r.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return ApiError(
            status=r.status_code,
            type=str(error.get("type", "Error")),
            message=str(error.get("message", r.reason_phrase)),
            fields=error.get("fields") if isinstance(error.get("fields"), list) else None,
        )
    return ApiError(status=r.status_code, type="HTTPError", message=r.text[:300] or r.reason_phrase)
