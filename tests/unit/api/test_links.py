"""Share links as their makers and visitors meet them: a link starts a call with its agent,
stops at its expiry, its maximum uses (even under concurrent joins) or its revocation, asks for
its passcode, counts opens, joins and unique visitors, and stays inside its organisation.

The same tests run on PostgreSQL through tests/integration/test_api_postgres.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from livekit import api as lk
from sqlalchemy import select, update

from auralink.api.db import LinkVisitor, ShareLink, utcnow
from auralink.api.linkcache import LinkCache
from tests.unit.api.test_auth import Api

CATALOGUE = """\
version: 1
agents:
  - name: assistant
    description: A friendly general helper
    instructions: You are a helpful assistant.
  - name: barista
    description: Takes coffee orders
    instructions: You take coffee orders.
"""


async def _owner(api: Api) -> httpx.AsyncClient:
    """An organisation's owner, with the catalogue the links point into."""
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    org = await api.signup()
    return await api.login(org.email)


async def _link(owner: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await owner.post("/v1/links", json={"agent": "barista", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _join(api: Api, code: str, **body: Any) -> httpx.Response:
    return await api.client().post(f"/j/{code}/session", json=body)


def _claims(api: Api, token: str) -> lk.access_token.Claims:
    secret = api.settings.livekit_api_secret
    assert api.settings.livekit_api_key and secret is not None
    return lk.TokenVerifier(api.settings.livekit_api_key, secret.get_secret_value()).verify(token)


async def test_a_link_starts_a_call_with_its_agent_and_counts_the_join(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner, display_name="Coffee orders")
    assert len(link["code"]) >= 22  # token_urlsafe(16): 128 random bits
    assert link["url"] == f"http://testserver/j/{link['code']}"
    assert link["state"] == "active" and link["passcode_required"] is False

    r = await _join(api, link["code"], name="Ada")
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["url"] == api.settings.livekit_url and session["agent"] == "barista"
    claims = _claims(api, session["token"])
    assert claims.identity == session["identity"] and claims.name == "Ada"
    assert claims.video is not None and claims.video.room_join and claims.video.room == session["room"]
    assert claims.room_config is not None
    (dispatch,) = claims.room_config.agents
    assert dispatch.agent_name == api.settings.worker_agent_name
    org_id = (await owner.get("/v1/auth/me")).json()["org_id"]
    carried = json.loads(dispatch.metadata)
    assert (carried["agent"], carried["org"]) == ("barista", org_id)
    assert carried["features"]["recording"] is False  # the organisation's toggles ride along
    # the room says whose it is, so LiveKit's webhooks about it become this organisation's call
    assert json.loads(claims.room_config.metadata) == {
        "org": org_id,
        "source": "link",
        "agent": "barista",
        "link": link["id"],
    }

    again = await _join(api, link["code"])
    assert again.status_code == 201 and again.json()["room"] != session["room"]  # a call each

    shown = (await owner.get(f"/v1/links/{link['id']}")).json()
    assert shown["uses"] == 2 and shown["analytics"]["joins"] == 2
    assert shown["analytics"]["last_used_at"] is not None


async def test_opens_and_unique_visitors_are_counted_without_storing_addresses(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner)
    firefox, chrome = {"user-agent": "Firefox/140"}, {"user-agent": "Chrome/150"}
    visitor = api.client()
    r = await visitor.get(f"/j/{link['code']}", headers=firefox)
    assert r.status_code == 303 and r.headers["location"] == f"/?link={link['code']}"
    await visitor.get(f"/j/{link['code']}", headers=firefox)
    await visitor.get(f"/j/{link['code']}", headers=chrome)
    await visitor.post(f"/j/{link['code']}/session", json={}, headers=firefox)  # a known visitor

    stats = (await owner.get(f"/v1/links/{link['id']}")).json()["analytics"]
    assert (stats["opens"], stats["joins"], stats["unique_visitors"]) == (3, 1, 2)
    listed = (await owner.get("/v1/links")).json()
    assert listed[0]["analytics"] == stats

    async with api.db.session() as s:
        hashes = list(await s.scalars(select(LinkVisitor.visitor_hash)))
    assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)
    assert not any("127.0.0.1" in h or "Firefox" in h for h in hashes)


async def test_expired_used_up_and_revoked_links_answer_410_with_a_clear_page(api: Api) -> None:
    owner = await _owner(api)
    expired = await _link(owner, expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    async with api.db.session() as s:  # let the day pass
        past = datetime.now(UTC) - timedelta(seconds=1)
        await s.execute(update(ShareLink).where(ShareLink.id == expired["id"]).values(expires_at=past))
        await s.commit()
    used = await _link(owner, max_uses=1)
    assert (await _join(api, used["code"])).status_code == 201
    revoked = await _link(owner)
    r = await owner.post(f"/v1/links/{revoked['id']}/revoke")
    assert r.status_code == 200 and r.json()["state"] == "revoked"

    for link, kind, words in (
        (expired, "LinkExpired", "expired"),
        (used, "LinkUsedUp", "used up"),
        (revoked, "LinkRevoked", "turned off"),
    ):
        page = await api.client().get(f"/j/{link['code']}")
        assert page.status_code == 410 and page.headers["content-type"].startswith("text/html")
        assert words in page.text
        joined = await _join(api, link["code"])
        assert joined.status_code == 410 and joined.json()["error"]["type"] == kind
        assert (await api.client().get(f"/j/{link['code']}/info")).status_code == 410
    states = {link["id"]: link["state"] for link in (await owner.get("/v1/links")).json()}
    assert states == {expired["id"]: "expired", used["id"]: "used_up", revoked["id"]: "revoked"}
    counts = (await owner.get(f"/v1/links/{used['id']}")).json()
    assert counts["uses"] == 1 and counts["analytics"]["opens"] == 0  # refused visits count nothing

    for code in ("n0-such-link-code-at-all", "short", "../../etc/passwd"):
        page = await api.client().get(f"/j/{code}")
        assert page.status_code == 404
        assert (await _join(api, "n0-such-link-code-at-all")).status_code == 404
    assert "No such link" in (await api.client().get("/j/n0-such-link-code-at-all")).text


async def test_a_passcode_is_asked_for_and_a_wrong_one_counts_no_use(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner, passcode="blue-falcon", max_uses=1)
    assert link["passcode_required"] is True and "blue-falcon" not in json.dumps(link)
    info = (await api.client().get(f"/j/{link['code']}/info")).json()
    assert info == {
        "code": link["code"],
        "title": "barista",
        "agent": "barista",
        "passcode_required": True,
        "meeting": False,
    }

    missing = await _join(api, link["code"])
    assert missing.status_code == 403 and missing.json()["error"]["type"] == "PasscodeRequired"
    for _ in range(3):
        wrong = await _join(api, link["code"], passcode="red-falcon")
        assert wrong.status_code == 403 and wrong.json()["error"]["type"] == "WrongPasscode"
    assert (await owner.get(f"/v1/links/{link['id']}")).json()["uses"] == 0
    assert (await _join(api, link["code"], passcode="blue-falcon")).status_code == 201

    async with api.db.session() as s:
        stored = await s.scalar(select(ShareLink.passcode_hash).where(ShareLink.id == link["id"]))
    assert stored is not None and stored.startswith("$argon2id$")

    r = await owner.patch(f"/v1/links/{link['id']}", json={"passcode": None, "max_uses": 5})
    assert r.json()["passcode_required"] is False and r.json()["state"] == "active"
    assert (await _join(api, link["code"])).status_code == 201


async def test_concurrent_joins_never_exceed_max_uses(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner, max_uses=3)
    answers = await asyncio.gather(*(_join(api, link["code"]) for _ in range(12)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 3 + [410] * 9, [r.text for r in answers if r.status_code not in {201, 410}]
    assert len({r.json()["room"] for r in answers if r.status_code == 201}) == 3
    shown = (await owner.get(f"/v1/links/{link['id']}")).json()
    assert shown["uses"] == 3 and shown["state"] == "used_up"


async def test_custom_domain_and_display_name_shape_what_visitors_see(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner, display_name="Café Aura", custom_domain="Talk.Example.com")
    assert link["custom_domain"] == "talk.example.com"
    assert link["url"] == f"https://talk.example.com/j/{link['code']}"
    info = (await api.client().get(f"/j/{link['code']}/info")).json()
    assert info["title"] == "Café Aura" and info["passcode_required"] is False

    r = await owner.patch(f"/v1/links/{link['id']}", json={"custom_domain": None, "agent": "assistant"})
    assert r.status_code == 200, r.text
    assert r.json()["url"] == f"http://testserver/j/{link['code']}" and r.json()["agent"] == "assistant"
    joined = await _join(api, link["code"])
    assert joined.json()["agent"] == "assistant"


async def test_bad_link_bodies_name_the_field(api: Api) -> None:
    owner = await _owner(api)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body, field in (
        ({"agent": "nobody"}, "agent"),
        ({"agent": "barista", "expires_at": past}, "expires_at"),
        ({"agent": "barista", "max_uses": 0}, "max_uses"),
        ({"agent": "barista", "custom_domain": "https://talk.example.com/path"}, "custom_domain"),
        ({"agent": "barista", "passcode": "abc"}, "passcode"),
        ({"agent": "barista", "colour": "red"}, "colour"),
        ({}, "agent"),
    ):
        r = await owner.post("/v1/links", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["fields"][0]["field"] == field, (body, r.text)
    link = await _link(owner)
    r = await owner.patch(f"/v1/links/{link['id']}", json={"agent": None})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "agent"
    r = await api.client().post(f"/j/{link['code']}/session", json={"name": "x\x00y"})
    assert r.status_code == 422


async def test_roles_fence_links_and_other_organisations_get_404(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner)
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert (await viewer.get("/v1/links")).status_code == 200
    assert (await viewer.get(f"/v1/links/{link['id']}")).status_code == 200
    assert (await viewer.post("/v1/links", json={"agent": "barista"})).status_code == 403
    assert (await viewer.patch(f"/v1/links/{link['id']}", json={"max_uses": 1})).status_code == 403
    assert (await viewer.post(f"/v1/links/{link['id']}/revoke")).status_code == 403
    developer = await api.member(owner, "developer", "d@acme.test")
    assert (await developer.post("/v1/links", json={"agent": "assistant"})).status_code == 201
    read_only = await api.key(owner, scopes=["links:read"])
    sdk = api.client(key=read_only["secret"])
    assert (await sdk.get("/v1/links")).status_code == 200
    assert (await sdk.post("/v1/links", json={"agent": "barista"})).status_code == 403
    assert (await api.client().get("/v1/links")).status_code == 401

    other = await api.login((await api.signup("Globex")).email)
    assert (await other.get("/v1/links")).json() == []
    for r in (
        await other.get(f"/v1/links/{link['id']}"),
        await other.patch(f"/v1/links/{link['id']}", json={"max_uses": 1}),
        await other.post(f"/v1/links/{link['id']}/revoke"),
        await other.get("/v1/links/lnk_0000000000000000"),
        await other.get("/v1/links/not-an-id"),
    ):
        assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    assert (await owner.get(f"/v1/links/{link['id']}")).json()["state"] == "active"


async def test_a_link_whose_agent_left_the_catalogue_says_so_and_counts_no_use(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner)
    only_assistant = CATALOGUE.split("  - name: barista", maxsplit=1)[0]
    api.settings.agents_file.write_text(only_assistant + "# barista removed\n", encoding="utf-8")
    r = await _join(api, link["code"])
    assert r.status_code == 503 and r.json()["error"]["type"] == "AgentUnavailable"
    assert "barista" not in r.text  # the catalogue is not shown to visitors
    assert (await owner.get(f"/v1/links/{link['id']}")).json()["uses"] == 0
    r = await owner.patch(f"/v1/links/{link['id']}", json={"agent": "assistant"})
    assert r.status_code == 200
    assert (await _join(api, link["code"])).json()["agent"] == "assistant"


async def test_the_join_page_info_is_cached_briefly_and_follows_changes_made_here_at_once(api: Api) -> None:
    owner = await _owner(api)
    link = await _link(owner, display_name="Coffee", max_uses=1)
    visitor = api.client()
    info = f"/j/{link['code']}/info"
    assert (await visitor.get(info)).json()["title"] == "Coffee"  # now cached

    r = await owner.patch(f"/v1/links/{link['id']}", json={"display_name": "Tea"})
    assert r.status_code == 200, r.text
    assert (await visitor.get(info)).json()["title"] == "Tea"  # a change here drops the entry
    assert (await _join(api, link["code"])).status_code == 201
    assert (await visitor.get(info)).status_code == 410  # the one use is gone

    # a change made by another API process (here: straight in the database) shows within the TTL
    cache: LinkCache = api.app.state.link_cache
    cache.ttl_s = 0.3
    other = await _link(owner)
    other_info = f"/j/{other['code']}/info"
    assert (await visitor.get(other_info)).status_code == 200
    async with api.db.session() as session:
        await session.execute(
            update(ShareLink).where(ShareLink.id == other["id"]).values(revoked_at=utcnow())
        )
        await session.commit()
    assert (await visitor.get(other_info)).status_code == 200  # still the cached answer
    for _ in range(40):  # fresh for at most 0.3 s, then served stale while it reloads
        await asyncio.sleep(0.05)
        r = await visitor.get(other_info)
        if r.status_code != 200:
            break
    assert r.status_code == 410 and r.json()["error"]["type"] == "LinkRevoked"
