"""Twilio's voice webhook and status callbacks as Twilio meets them: signed form posts answered
with TwiML that connects a media stream, refused clearly when unsigned, forged, replayed, for an
unknown agent or over quota; the status callback files itself with the call's room events."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from auralink.api import create_app
from auralink.api.db import Call, RoomEvent, new_id, utcnow
from auralink.core import Settings
from auralink.telephony.signature import sign_stream_token, verify_stream_token
from tests.unit.api.test_auth import Api
from tests.unit.api.test_links import CATALOGUE
from tests.unit.api.test_usage import add_usage
from tests.unit.telephony.test_mediastreams import CONNECTED, START

TOKEN = "twilio-test-auth-token-0123456789"
BASE = "http://testserver"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)


def _form(call_sid: str = "CA00000000000000000000000000000001", **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC00000000000000000000000000000000",
        "CallSid": call_sid,
        "From": "+14155550100",
        "To": "+14155550199",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


async def _post(
    client: httpx.AsyncClient, path: str, form: dict[str, str], *, sign: bool = True, token: str = TOKEN
) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(BASE + path, form)
    return await client.post(path, content=urlencode(form), headers=headers)


async def _org(api: Api) -> str:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    return (await api.signup()).id


def _voice(org: str, agent: str = "barista") -> str:
    return f"/v1/telephony/twilio/voice?agent={agent}&org={org}"


async def test_a_signed_call_is_answered_with_twiml_connecting_a_media_stream(api: Api) -> None:
    org = await _org(api)
    r = await _post(api.client(), _voice(org), _form())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(r.text).find("./Connect/Stream")
    assert stream is not None
    assert stream.attrib["url"] == "ws://testserver/v1/telephony/twilio/media"
    assert stream.attrib["statusCallback"] == "http://testserver/v1/telephony/twilio/status"
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    assert params["agent"] == "barista" and params["org"] == org
    assert params["caller"] == "+14155550100" and params["callSid"] == _form()["CallSid"]
    claims = verify_stream_token(params["token"], auth_token=TOKEN, call_sid=params["callSid"])
    assert (claims.org, claims.agent) == (org, "barista")


async def test_the_public_url_is_what_twilio_signs_and_where_the_stream_goes(api: Api) -> None:
    org = await _org(api)
    api.settings.public_url = "https://voice.example.com"
    path = _voice(org)
    form = _form()
    signature = RequestValidator(TOKEN).compute_signature("https://voice.example.com" + path, form)
    r = await api.client().post(
        path,
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert r.status_code == 200, r.text
    stream = ET.fromstring(r.text).find("./Connect/Stream")
    assert stream is not None and stream.attrib["url"] == "wss://voice.example.com/v1/telephony/twilio/media"
    # signed for the local address instead: refused, the message says what to check
    r = await _post(api.client(), path, _form("CA00000000000000000000000000000002"))
    assert r.status_code == 403 and "AURALINK_PUBLIC_URL" in r.json()["error"]["message"]


async def test_unsigned_forged_and_replayed_webhooks_are_refused(api: Api) -> None:
    org = await _org(api)
    client = api.client()
    r = await _post(client, _voice(org), _form(), sign=False)
    assert r.status_code == 401 and "X-Twilio-Signature" in r.json()["error"]["message"]
    r = await _post(client, _voice(org), _form(), token="not-the-account-token-00000000000")
    assert r.status_code == 403 and "does not match" in r.json()["error"]["message"]
    assert (await _post(client, _voice(org), _form())).status_code == 200
    r = await _post(client, _voice(org), _form())  # the same signed request again
    assert r.status_code == 403 and "already received" in r.json()["error"]["message"]


async def test_without_an_auth_token_the_server_says_which_variable_to_set(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = await _org(api)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    r = await _post(api.client(), _voice(org), _form())
    assert r.status_code == 503 and "TWILIO_AUTH_TOKEN" in r.json()["error"]["message"]


async def test_an_unknown_agent_or_organisation_is_404(api: Api) -> None:
    org = await _org(api)
    r = await _post(api.client(), _voice(org, agent="nobody"), _form())
    assert r.status_code == 404 and "nobody" in r.json()["error"]["message"]
    r = await _post(api.client(), _voice("org_doesnotexist"), _form("CA00000000000000000000000000000003"))
    assert r.status_code == 404


async def test_a_used_up_call_quota_refuses_the_call_with_402(api: Api) -> None:
    org = await _org(api)
    await add_usage(api, org, "call_seconds", 100 * 60 + 30, agent="barista")
    r = await _post(api.client(), _voice(org), _form())
    assert r.status_code == 402, r.text


async def test_status_callbacks_are_kept_with_the_calls_room_events(api: Api) -> None:
    org = await _org(api)
    call_sid = "CA00000000000000000000000000000009"
    status = "/v1/telephony/twilio/status"
    stream_event = _form(
        call_sid, StreamSid="MZ1", StreamEvent="stream-started", Timestamp="2026-01-01T00:00:00Z"
    )
    r = await _post(api.client(), status, stream_event)  # before the call has a record: logged only
    assert r.status_code == 200 and r.json() == {
        "event": "twilio.stream-started",
        "recorded": False,
        "room": f"twilio-{call_sid}",
    }
    async with api.db.session() as s:
        s.add(
            Call(
                id=new_id("cal"),
                org_id=org,
                room_name=f"twilio-{call_sid}",
                room_sid="RM_1",
                source="twilio",
                started_at=utcnow(),
            )
        )
        await s.commit()
    stopped = _form(call_sid, StreamSid="MZ1", StreamEvent="stream-stopped", Timestamp="2026-01-01T00:01:00Z")
    r = await _post(api.client(), status, stopped)
    assert r.status_code == 200 and r.json()["recorded"] is True
    async with api.db.read_session() as s:
        events = list(await s.scalars(select(RoomEvent).where(RoomEvent.room_name == f"twilio-{call_sid}")))
    assert [(e.event, e.room_sid) for e in events] == [("twilio.stream-stopped", "RM_1")]
    assert (await _post(api.client(), status, stopped, sign=False)).status_code == 401


@pytest.mark.parametrize(
    ("token", "call_sid"),
    [
        (None, "CA00000000000000000000000000000001"),  # no token: not sent by our TwiML
        ("forged.token", "CA00000000000000000000000000000001"),
        ("VALID", "CA00000000000000000000000000000002"),  # a good token, but for another call
    ],
)
def test_the_media_socket_refuses_a_stream_without_a_good_token(
    tmp_path: Path, token: str | None, call_sid: str
) -> None:
    settings = Settings(
        _env_file=None,
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        data_dir=tmp_path,
    )
    if token == "VALID":
        token = sign_stream_token(
            auth_token=TOKEN, org="org_1", agent="barista", call_sid=_form()["CallSid"], caller=""
        )
    start = {
        **START,
        "start": {
            **START["start"],
            "callSid": call_sid,
            "customParameters": {"token": token} if token else {},
        },
    }  # type: ignore[dict-item]
    client = TestClient(create_app(settings, web_dist=tmp_path / "no-dist"))  # no lifespan: refused first
    with client.websocket_connect("/v1/telephony/twilio/media") as ws:
        ws.send_text(json.dumps(CONNECTED))
        ws.send_text(json.dumps(start))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1008 and closed.value.reason == "InvalidStreamToken"
