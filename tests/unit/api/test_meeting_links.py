"""Meeting links: every visitor of a link whose agent transcribes meetings lands in the link's one
room, under their own identity and name, and may set their own caption language; a link to a
one-to-one agent still gives each visit a room of its own. Each join still counts one use.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from livekit import api as lk

from tests.unit.api.test_auth import Api

CATALOGUE = """\
version: 1
agents:
  - name: barista
    description: Takes coffee orders
    instructions: You take coffee orders.
  - name: scribe
    description: Takes notes in meetings
    instructions: You take notes.
    meeting: {transcribe: true, reply: when_addressed}
"""


async def _link(api: Api, agent: str, **body: Any) -> tuple[httpx.AsyncClient, dict[str, Any]]:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    org = await api.signup()
    owner = await api.login(org.email)
    r = await owner.post("/v1/links", json={"agent": agent, **body})
    assert r.status_code == 201, r.text
    link: dict[str, Any] = r.json()
    return owner, link


async def _join(api: Api, code: str, name: str) -> dict[str, Any]:
    r = await api.client().post(f"/j/{code}/session", json={"name": name})
    assert r.status_code == 201, r.text
    session: dict[str, Any] = r.json()
    return session


def _claims(api: Api, token: str) -> lk.access_token.Claims:
    secret = api.settings.livekit_api_secret
    assert api.settings.livekit_api_key and secret is not None
    return lk.TokenVerifier(api.settings.livekit_api_key, secret.get_secret_value()).verify(token)


async def test_visitors_of_a_meeting_link_share_one_room_with_one_agent(api: Api) -> None:
    owner, link = await _link(api, "scribe", max_uses=5)
    info = (await api.client().get(f"/j/{link['code']}/info")).json()
    assert info["meeting"] is True  # the page offers the caption languages before joining
    ada = await _join(api, link["code"], "Ada")
    grace = await _join(api, link["code"], "Grace")

    assert ada["mode"] == grace["mode"] == "meeting"
    assert ada["room"] == grace["room"] == f"meet-{link['id']}"
    assert ada["identity"] != grace["identity"]
    for session, name in ((ada, "Ada"), (grace, "Grace")):
        claims = _claims(api, session["token"])
        assert claims.name == name and claims.identity == session["identity"]
        assert claims.video is not None and claims.video.room == session["room"]
        assert claims.video.can_update_own_metadata  # to set their own auralink.language
        # the same room configuration for everyone: LiveKit dispatches from it when it makes the room
        assert claims.room_config is not None
        (dispatch,) = claims.room_config.agents
        assert json.loads(dispatch.metadata)["agent"] == "scribe"
        assert json.loads(claims.room_config.metadata)["link"] == link["id"]

    # one use per visitor, as for calls
    shown = (await owner.get(f"/v1/links/{link['id']}")).json()
    assert shown["uses"] == 2 and shown["analytics"]["joins"] == 2


async def test_visits_of_a_call_link_get_rooms_of_their_own(api: Api) -> None:
    _, link = await _link(api, "barista")
    assert (await api.client().get(f"/j/{link['code']}/info")).json()["meeting"] is False
    first = await _join(api, link["code"], "Ada")
    second = await _join(api, link["code"], "Grace")

    assert first["mode"] == second["mode"] == "call"
    assert first["room"] != second["room"]
    assert all(s["room"].startswith("link-") for s in (first, second))
    claims = _claims(api, first["token"])
    assert claims.video is not None and not claims.video.can_update_own_metadata
