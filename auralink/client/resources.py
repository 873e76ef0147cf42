"""One class per API resource; each method is one route (see docs/ and ``/docs``)."""

from __future__ import annotations

__all__ = [
    "Agents",
    "Analytics",
    "Audit",
    "Calls",
    "Gdpr",
    "Keys",
    "Links",
    "Rooms",
    "Usage",
    "Webhooks",
]

import builtins
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import AuraLink, JSONObject

    Items = list[JSONObject]  # a listing (``list`` itself is a method name in the classes below)


def _body(**fields: Any) -> dict[str, Any]:
    """The JSON body: only the fields given (None means "leave it out")."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items() if v is not None}


class _Resource:
    def __init__(self, client: AuraLink) -> None:
        self._c = client


class Keys(_Resource):
    """API keys: ``create`` answers the secret once (``secret``)."""

    async def list(self) -> Items:
        result: Items = await self._c.json("GET", "/v1/keys")
        return result

    async def create(
        self,
        *,
        name: str,
        role: str | None = None,
        scopes: builtins.list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> JSONObject:
        body = _body(name=name, role=role, scopes=scopes, expires_at=expires_at)
        result: JSONObject = await self._c.json("POST", "/v1/keys", json=body)
        return result

    async def get(self, key_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/keys/{key_id}")
        return result

    async def rename(self, key_id: str, *, name: str) -> JSONObject:
        result: JSONObject = await self._c.json("PATCH", f"/v1/keys/{key_id}", json={"name": name})
        return result

    async def revoke(self, key_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("POST", f"/v1/keys/{key_id}/revoke")
        return result

    async def rotate(self, key_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("POST", f"/v1/keys/{key_id}/rotate")
        return result


class Links(_Resource):
    """Share links ``/j/<code>`` that open a call with an agent."""

    async def list(self) -> Items:
        result: Items = await self._c.json("GET", "/v1/links")
        return result

    async def create(
        self,
        *,
        agent: str,
        display_name: str | None = None,
        expires_at: datetime | None = None,
        max_uses: int | None = None,
        passcode: str | None = None,
        custom_domain: str | None = None,
    ) -> JSONObject:
        body = _body(
            agent=agent,
            display_name=display_name,
            expires_at=expires_at,
            max_uses=max_uses,
            passcode=passcode,
            custom_domain=custom_domain,
        )
        result: JSONObject = await self._c.json("POST", "/v1/links", json=body)
        return result

    async def get(self, link_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/links/{link_id}")
        return result

    async def update(self, link_id: str, **changes: Any) -> JSONObject:
        """Change any of agent, display_name, expires_at, max_uses, passcode, custom_domain."""
        result: JSONObject = await self._c.json("PATCH", f"/v1/links/{link_id}", json=_body(**changes))
        return result

    async def revoke(self, link_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("POST", f"/v1/links/{link_id}/revoke")
        return result


class Rooms(_Resource):
    """LiveKit rooms made through the API, with agents dispatched, and participant tokens."""

    async def list(self) -> Items:
        result: Items = await self._c.json("GET", "/v1/rooms")
        return result

    async def create(
        self,
        *,
        name: str | None = None,
        agents: builtins.list[str] | None = None,
        empty_timeout: int | None = None,
    ) -> JSONObject:
        body = _body(name=name, agents=agents or [], empty_timeout=empty_timeout)
        result: JSONObject = await self._c.json("POST", "/v1/rooms", json=body)
        return result

    async def get(self, room: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/rooms/{room}")
        return result

    async def token(
        self, room: str, *, identity: str, name: str | None = None, can_publish: bool = True, ttl: int = 3600
    ) -> JSONObject:
        body = _body(identity=identity, name=name, can_publish=can_publish, ttl=ttl)
        result: JSONObject = await self._c.json("POST", f"/v1/rooms/{room}/tokens", json=body)
        return result

    async def participants(self, room: str) -> Items:
        result: Items = await self._c.json("GET", f"/v1/rooms/{room}/participants")
        return result

    async def end(self, room: str) -> None:
        await self._c.json("DELETE", f"/v1/rooms/{room}")


class Webhooks(_Resource):
    """Outbound webhook endpoints; ``create`` and ``rotate_secret`` answer the signing secret once."""

    async def list(self) -> Items:
        result: Items = await self._c.json("GET", "/v1/webhooks")
        return result

    async def create(
        self, *, url: str, events: builtins.list[str], description: str | None = None
    ) -> JSONObject:
        body = _body(url=url, events=events, description=description)
        result: JSONObject = await self._c.json("POST", "/v1/webhooks", json=body)
        return result

    async def get(self, webhook_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/webhooks/{webhook_id}")
        return result

    async def update(self, webhook_id: str, **changes: Any) -> JSONObject:
        """Change any of url, events, description, enabled."""
        result: JSONObject = await self._c.json("PATCH", f"/v1/webhooks/{webhook_id}", json=_body(**changes))
        return result

    async def delete(self, webhook_id: str) -> None:
        await self._c.json("DELETE", f"/v1/webhooks/{webhook_id}")

    async def rotate_secret(self, webhook_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("POST", f"/v1/webhooks/{webhook_id}/rotate-secret")
        return result

    async def test(self, webhook_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("POST", f"/v1/webhooks/{webhook_id}/test")
        return result

    async def deliveries(self, webhook_id: str) -> Items:
        result: Items = await self._c.json("GET", f"/v1/webhooks/{webhook_id}/deliveries")
        return result


class Agents(_Resource):
    """AgentSpecs kept in the API (the database wins over agents.yaml), with every version kept."""

    async def list(self) -> Items:
        result: Items = await self._c.json("GET", "/v1/agents")
        return result

    async def create(self, spec: dict[str, Any]) -> JSONObject:
        """Save ``spec`` (the agents.yaml shape of one agent, as a dict) as version 1."""
        result: JSONObject = await self._c.json("POST", "/v1/agents", json=spec)
        return result

    async def get(self, name: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/agents/{name}")
        return result

    async def update(self, name: str, spec: dict[str, Any]) -> JSONObject:
        """Save ``spec`` as a new version of ``name`` (an unchanged spec makes no version)."""
        result: JSONObject = await self._c.json("PUT", f"/v1/agents/{name}", json=spec)
        return result

    async def delete(self, name: str) -> None:
        await self._c.json("DELETE", f"/v1/agents/{name}")

    async def versions(self, name: str) -> Items:
        result: Items = await self._c.json("GET", f"/v1/agents/{name}/versions")
        return result

    async def version(self, name: str, version: int) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/agents/{name}/versions/{version}")
        return result

    async def rollback(self, name: str, *, version: int) -> JSONObject:
        body = {"version": version}
        result: JSONObject = await self._c.json("POST", f"/v1/agents/{name}/rollback", json=body)
        return result

    async def set_features(self, name: str, **toggles: bool | None) -> JSONObject:
        """memory, recording, translation, moderation, mcp: True/False sets, None inherits."""
        result: JSONObject = await self._c.json("PATCH", f"/v1/agents/{name}/features", json=toggles)
        return result

    async def import_catalogue(self) -> JSONObject:
        """Copy the server's agents.yaml agents into the database (names already there stay)."""
        result: JSONObject = await self._c.json("POST", "/v1/agents/import")
        return result


class Calls(_Resource):
    """Call records: participants, times, transcript, per-turn latency, usage."""

    async def list(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        participant: str | None = None,
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSONObject:
        """One page (``items``, ``next_cursor``); ``q`` searches what was said."""
        params = _body(
            agent=agent,
            status=status,
            source=source,
            since=since,
            until=until,
            participant=participant,
            q=q,
            limit=limit,
            cursor=cursor,
        )
        result: JSONObject = await self._c.json("GET", "/v1/calls", params=params)
        return result

    async def get(self, call_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/calls/{call_id}")
        return result

    async def transcript(self, call_id: str) -> JSONObject:
        result: JSONObject = await self._c.json("GET", f"/v1/calls/{call_id}/transcript")
        return result

    async def notes(self, call_id: str) -> JSONObject:
        """The call's meeting notes: ``notes`` (JSON) and ``markdown``."""
        result: JSONObject = await self._c.json("GET", f"/v1/calls/{call_id}/notes")
        return result

    async def search(
        self,
        q: str,
        *,
        mode: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        participant: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
    ) -> JSONObject:
        """Transcript lines and notes across calls matching ``q`` (``mode`` text|semantic|hybrid)."""
        params = _body(q=q, mode=mode, participant=participant, agent=agent, limit=limit)
        params |= _body(**{"from": since, "to": until})
        result: JSONObject = await self._c.json("GET", "/v1/search", params=params)
        return result


class Usage(_Resource):
    """Metered usage per period, the CSV export, and the organisation's plan and quotas."""

    async def report(
        self,
        *,
        period: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: str | None = None,
    ) -> JSONObject:
        """Totals per metric for a month (``period="2026-11"``) or a span; ``group_by`` agent|day."""
        params = _body(period=period, since=since, until=until, group_by=group_by)
        result: JSONObject = await self._c.json("GET", "/v1/usage", params=params)
        return result

    async def export_csv(
        self, *, period: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> str:
        params = _body(period=period, since=since, until=until)
        r = await self._c.send("GET", "/v1/usage/export.csv", params=params)
        return r.text

    async def plan(self) -> JSONObject:
        result: JSONObject = await self._c.json("GET", "/v1/usage/plan")
        return result

    async def set_plan(self, plan: str) -> JSONObject:
        result: JSONObject = await self._c.json("PUT", "/v1/usage/plan", json={"plan": plan})
        return result


class Analytics(_Resource):
    """Calls per day, minutes, latency per agent, quality, AI usage and cost estimates."""

    async def get(
        self, *, period: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> JSONObject:
        params = _body(period=period, since=since, until=until)
        result: JSONObject = await self._c.json("GET", "/v1/analytics", params=params)
        return result


class Audit(_Resource):
    """The organisation's audit log (newest first) and the check of its hash chain."""

    async def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> JSONObject:
        params = _body(
            actor=actor, action=action, target=target, since=since, until=until, before=before, limit=limit
        )
        result: JSONObject = await self._c.json("GET", "/v1/audit", params=params)
        return result

    async def verify(self) -> JSONObject:
        result: JSONObject = await self._c.json("GET", "/v1/audit/verify")
        return result


class Gdpr(_Resource):
    """Everything stored about a subject: ``kind`` is identity, phone or member."""

    async def export(self, *, kind: str, value: str) -> bytes:
        """The subject's data as a zip archive (bytes)."""
        body = {"subject": {"kind": kind, "value": value}}
        r = await self._c.send("POST", "/v1/gdpr/export", json=body)
        return r.content

    async def erase(self, *, kind: str, value: str) -> JSONObject:
        """Erase the subject everywhere; the answer counts what was removed, per place."""
        body = {"subject": {"kind": kind, "value": value}}
        result: JSONObject = await self._c.json("POST", "/v1/gdpr/erase", json=body)
        return result
