"""TwiML for <Connect><Stream>, X-Twilio-Signature checks with Twilio's own validator, replays,
and the stream tokens the media socket checks at ``start``."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from auralink.core import MissingCredential, Settings
from auralink.telephony.signature import (
    InvalidSignature,
    InvalidStreamToken,
    ReplayedWebhook,
    ReplayGuard,
    WebhookVerifier,
    sign_stream_token,
    signed_url,
    twilio_auth_token,
    verify_stream_token,
)
from auralink.telephony.twiml import connect_stream, stream_url

TOKEN = "12345678901234567890123456789012"
URL = "https://voice.example.com/v1/telephony/twilio/voice?agent=receptionist&org=org_1"
FORM = {"CallSid": "CA0123", "From": "+14155550100", "To": "+14155550199", "AccountSid": "AC1"}


def test_twiml_connects_a_stream_with_parameters_and_a_status_callback() -> None:
    xml = connect_stream(
        url="wss://voice.example.com/v1/telephony/twilio/media",
        status_callback="https://voice.example.com/v1/telephony/twilio/status",
        parameters={"agent": "receptionist", "caller": "+14155550100", "odd": 'a&b<"c">'},
    )
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    [connect] = list(root)
    assert connect.tag == "Connect"
    [stream] = list(connect)
    assert stream.tag == "Stream"
    assert stream.attrib["url"] == "wss://voice.example.com/v1/telephony/twilio/media"
    assert stream.attrib["statusCallback"] == "https://voice.example.com/v1/telephony/twilio/status"
    assert stream.attrib["statusCallbackMethod"] == "POST"
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    assert params == {"agent": "receptionist", "caller": "+14155550100", "odd": 'a&b<"c">'}


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://voice.example.com/", "wss://voice.example.com/v1/x"),
        ("http://127.0.0.1:8800", "ws://127.0.0.1:8800/v1/x"),
    ],
)
def test_stream_urls_are_websocket_urls(base: str, expected: str) -> None:
    assert stream_url(base, "/v1/x") == expected


def _verifier() -> WebhookVerifier:
    return WebhookVerifier(auth_token=TOKEN, replay_window_s=300)


def test_a_signature_computed_by_twilios_validator_is_accepted() -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, FORM)
    _verifier().verify(url=URL, params=FORM, signature=signature)


@pytest.mark.parametrize(
    ("url", "form", "signature"),
    [
        (URL, FORM, None),
        (URL, FORM, "bm90IGEgc2lnbmF0dXJl"),
        (URL.replace("receptionist", "other"), FORM, "computed"),  # a different agent in the URL
        (URL, {**FORM, "From": "+15550000000"}, "computed"),  # a changed parameter
    ],
)
def test_missing_or_wrong_signatures_are_refused(
    url: str, form: dict[str, str], signature: str | None
) -> None:
    if signature == "computed":
        signature = RequestValidator(TOKEN).compute_signature(URL, FORM)
    with pytest.raises(InvalidSignature):
        _verifier().verify(url=url, params=form, signature=signature)


def test_another_accounts_signature_is_refused() -> None:
    signature = RequestValidator("another-token-another-token-0000").compute_signature(URL, FORM)
    with pytest.raises(InvalidSignature, match="does not match"):
        _verifier().verify(url=URL, params=FORM, signature=signature)


def test_the_same_webhook_twice_is_a_replay() -> None:
    verifier = _verifier()
    signature = RequestValidator(TOKEN).compute_signature(URL, FORM)
    verifier.verify(url=URL, params=FORM, signature=signature)
    with pytest.raises(ReplayedWebhook):
        verifier.verify(url=URL, params=FORM, signature=signature)
    other = {**FORM, "CallSid": "CA0124"}  # the next call is not a replay
    verifier.verify(url=URL, params=other, signature=RequestValidator(TOKEN).compute_signature(URL, other))


def test_replays_are_forgotten_after_the_window() -> None:
    guard = ReplayGuard(window_s=60)
    assert guard.check_and_add("k", now=1000.0)
    assert not guard.check_and_add("k", now=1059.0)
    assert guard.check_and_add("k", now=1061.0)


def test_the_replay_memory_is_bounded() -> None:
    guard = ReplayGuard(window_s=60, capacity=3)
    for i in range(10):
        assert guard.check_and_add(str(i), now=1000.0 + i)
    assert len(guard._seen) <= 3


def test_signed_url_is_the_public_url_when_set() -> None:
    local = "http://127.0.0.1:8800/v1/telephony/twilio/voice?agent=a"
    plain = Settings(_env_file=None)
    assert signed_url(plain, path_and_query="/v1/telephony/twilio/voice?agent=a", request_url=local) == local
    public = Settings(_env_file=None, public_url="https://voice.example.com/")
    assert (
        signed_url(public, path_and_query="/v1/telephony/twilio/voice?agent=a", request_url=local)
        == "https://voice.example.com/v1/telephony/twilio/voice?agent=a"
    )


def test_the_auth_token_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, twilio_auth_token_env="MY_TWILIO_TOKEN")
    monkeypatch.delenv("MY_TWILIO_TOKEN", raising=False)
    with pytest.raises(MissingCredential, match="MY_TWILIO_TOKEN"):
        twilio_auth_token(settings)
    monkeypatch.setenv("MY_TWILIO_TOKEN", TOKEN)
    assert twilio_auth_token(settings) == TOKEN


def _stream_token(**overrides: object) -> str:
    fields: dict[str, object] = {
        "auth_token": TOKEN,
        "org": "org_1",
        "agent": "receptionist",
        "call_sid": "CA0123",
        "caller": "+14155550100",
    }
    return sign_stream_token(**(fields | overrides))  # type: ignore[arg-type]


def test_a_stream_token_vouches_for_its_call() -> None:
    claims = verify_stream_token(_stream_token(), auth_token=TOKEN, call_sid="CA0123")
    assert (claims.org, claims.agent, claims.caller) == ("org_1", "receptionist", "+14155550100")


@pytest.mark.parametrize(
    ("token", "call_sid", "now", "message"),
    [
        (None, "CA0123", None, "no 'token'"),
        ("garbage", "CA0123", None, "malformed|signature"),
        ("PLACEHOLDER_FORGED", "CA0123", None, "signature"),
        ("PLACEHOLDER_OK", "CA9999", None, "another call"),
        ("PLACEHOLDER_OK", "CA0123", time.time() + 3600, "expired"),
    ],
)
def test_bad_stream_tokens_are_refused(
    token: str | None, call_sid: str, now: float | None, message: str
) -> None:
    if token == "PLACEHOLDER_OK":
        token = _stream_token()
    elif token == "PLACEHOLDER_FORGED":
        token = _stream_token(auth_token="someone-elses-token-000000000000")
    with pytest.raises(InvalidStreamToken, match=message):
        verify_stream_token(token, auth_token=TOKEN, call_sid=call_sid, now=now)
