"""Twilio provisioning against Twilio's documented REST wire format.

The twilio SDK's ``Client`` gets an ``HttpClient`` that plays Twilio: it checks every request
(method, URL, form parameters, HTTP basic auth) against the API reference (trunking v1 Trunks,
OriginationUrls, CredentialLists, PhoneNumbers; 2010-04-01 SIP CredentialLists, Credentials,
IncomingPhoneNumbers) and answers with the documented JSON bodies in tests/fixtures/twilio/.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response

from auralink.cli import main
from auralink.core import ConfigError, MissingCredential, ProviderError, Settings
from auralink.telephony.twilio_provision import (
    point_number_at_media_streams,
    provision_sip_trunk,
    twilio_client,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "twilio"
ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-for-tests"
NUMBER = "+14155550100"
TRUNKING = "https://trunking.twilio.com/v1"
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
PASSWORD = "Sip-Secret-2026"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


class FakeTwilio(HttpClient):  # type: ignore[misc]
    """Twilio's REST API for one account, in memory; every request is checked as Twilio would."""

    def __init__(self, *, numbers: dict[str, str] | None = None) -> None:
        super().__init__(logger=None, is_async=False)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.numbers = numbers if numbers is not None else {NUMBER: "PN" + "5" * 32}
        self.trunks: dict[str, dict[str, Any]] = {}
        self.origination: dict[str, list[dict[str, Any]]] = {}
        self.trunk_lists: dict[str, list[str]] = {}
        self.trunk_numbers: dict[str, list[str]] = {}
        self.credential_lists: dict[str, dict[str, Any]] = {}
        self.credentials: dict[str, list[dict[str, Any]]] = {}
        self.voice: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1)

    # -- plumbing
    def sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        form = dict(data or {})
        self.requests.append((method, uri, form))
        if auth != (ACCOUNT, TOKEN):
            return Response(401, json.dumps(fixture("error_401")))
        assert headers is not None and headers["Accept"] == "application/json"
        if method == "POST":
            assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        for pattern, verb, handler in self.routes():
            match = re.fullmatch(pattern, uri)
            if match and verb == method:
                status, body = handler(form, dict(params or {}), *match.groups())
                return Response(status, json.dumps(body))
        raise AssertionError(f"Twilio has no {method} {uri}")

    def routes(self) -> list[tuple[str, str, Any]]:
        trunk = re.escape(TRUNKING) + r"/Trunks"
        sip = re.escape(API) + r"/SIP/CredentialLists"
        return [
            (trunk, "GET", self.list_trunks),
            (trunk, "POST", self.create_trunk),
            (trunk + r"/(TK\w{32})", "POST", self.update_trunk),
            (trunk + r"/(TK\w{32})/OriginationUrls", "GET", self.list_origination),
            (trunk + r"/(TK\w{32})/OriginationUrls", "POST", self.create_origination),
            (trunk + r"/(TK\w{32})/CredentialLists", "GET", self.list_trunk_lists),
            (trunk + r"/(TK\w{32})/CredentialLists", "POST", self.attach_list),
            (trunk + r"/(TK\w{32})/PhoneNumbers", "GET", self.list_trunk_numbers),
            (trunk + r"/(TK\w{32})/PhoneNumbers", "POST", self.attach_number),
            (sip + r"\.json", "GET", self.list_credential_lists),
            (sip + r"\.json", "POST", self.create_credential_list),
            (sip + r"/(CL\w{32})/Credentials\.json", "GET", self.list_credentials),
            (sip + r"/(CL\w{32})/Credentials\.json", "POST", self.create_credential),
            (sip + r"/(CL\w{32})/Credentials/(CR\w{32})\.json", "POST", self.update_credential),
            (re.escape(API) + r"/IncomingPhoneNumbers\.json", "GET", self.list_numbers),
            (re.escape(API) + r"/IncomingPhoneNumbers/(PN\w{32})\.json", "POST", self.update_number),
        ]

    @staticmethod
    def only(form: dict[str, Any], *, required: set[str], allowed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        assert required <= form.keys(), f"missing {required - form.keys()}"
        assert form.keys() <= required | allowed, f"unknown parameters {form.keys() - required - allowed}"

    @staticmethod
    def page_v1(key: str, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        page = fixture("page_v1")
        del page["trunks"]
        page["meta"]["key"] = key
        page[key] = items
        return 200, page

    @staticmethod
    def page_v2010(key: str, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        page = fixture("page_v2010")
        del page["credential_lists"]
        page[key] = items
        page["end"] = max(len(items) - 1, 0)
        return 200, page

    # -- trunking v1
    def list_trunks(self, form: dict[str, Any], params: dict[str, Any]) -> Any:
        return self.page_v1("trunks", list(self.trunks.values()))

    def create_trunk(self, form: dict[str, Any], params: dict[str, Any]) -> Any:
        self.only(form, required={"FriendlyName"}, allowed={"DomainName"})
        trunk = fixture("trunk") | {"sid": self.sid("TK"), "account_sid": ACCOUNT}
        trunk |= {"friendly_name": form["FriendlyName"], "domain_name": form.get("DomainName")}
        self.trunks[trunk["sid"]] = trunk
        return 201, trunk

    def update_trunk(self, form: dict[str, Any], params: dict[str, Any], sid: str) -> Any:
        self.only(form, required=set(), allowed={"FriendlyName", "DomainName"})
        self.trunks[sid]["domain_name"] = form.get("DomainName", self.trunks[sid]["domain_name"])
        return 200, self.trunks[sid]

    def list_origination(self, form: dict[str, Any], params: dict[str, Any], trunk: str) -> Any:
        return self.page_v1("origination_urls", self.origination.get(trunk, []))

    def create_origination(self, form: dict[str, Any], params: dict[str, Any], trunk: str) -> Any:
        self.only(form, required={"Weight", "Priority", "Enabled", "FriendlyName", "SipUrl"})
        assert form["SipUrl"].startswith("sip:")
        assert 0 <= int(form["Priority"]) <= 65535 and 1 <= int(form["Weight"]) <= 65535
        assert form["Enabled"] in ("true", "false")
        url = fixture("origination_url") | {"sid": self.sid("OU"), "trunk_sid": trunk, "account_sid": ACCOUNT}
        url |= {
            "sip_url": form["SipUrl"],
            "friendly_name": form["FriendlyName"],
            "weight": int(form["Weight"]),
            "priority": int(form["Priority"]),
            "enabled": form["Enabled"] == "true",
        }
        self.origination.setdefault(trunk, []).append(url)
        return 201, url

    def list_trunk_lists(self, form: dict[str, Any], params: dict[str, Any], trunk: str) -> Any:
        items = [
            fixture("trunk_credential_list") | {"sid": s, "trunk_sid": trunk}
            for s in self.trunk_lists.get(trunk, [])
        ]
        return self.page_v1("credential_lists", items)

    def attach_list(self, form: dict[str, Any], params: dict[str, Any], trunk: str) -> Any:
        self.only(form, required={"CredentialListSid"})
        assert form["CredentialListSid"] in self.credential_lists
        self.trunk_lists.setdefault(trunk, []).append(form["CredentialListSid"])
        return 201, fixture("trunk_credential_list") | {"sid": form["CredentialListSid"], "trunk_sid": trunk}

    def list_trunk_numbers(self, form: dict[str, Any], params: dict[str, Any], trunk: str) -> Any:
        items = [
            fixture("trunk_phone_number") | {"sid": s, "trunk_sid": trunk}
            for s in self.trunk_numbers.get(trunk, [])
        ]
        return self.page_v1("phone_numbers", items)

    def attach_number(self, form: dict[str, Any], params: dict[str, Any], trunk: str) -> Any:
        self.only(form, required={"PhoneNumberSid"})
        assert form["PhoneNumberSid"] in self.numbers.values()
        self.trunk_numbers.setdefault(trunk, []).append(form["PhoneNumberSid"])
        return 201, fixture("trunk_phone_number") | {"sid": form["PhoneNumberSid"], "trunk_sid": trunk}

    # -- 2010-04-01
    def list_credential_lists(self, form: dict[str, Any], params: dict[str, Any]) -> Any:
        return self.page_v2010("credential_lists", list(self.credential_lists.values()))

    def create_credential_list(self, form: dict[str, Any], params: dict[str, Any]) -> Any:
        self.only(form, required={"FriendlyName"})
        assert len(form["FriendlyName"]) <= 64
        cl = fixture("credential_list") | {"sid": self.sid("CL"), "friendly_name": form["FriendlyName"]}
        self.credential_lists[cl["sid"]] = cl
        return 201, cl

    def list_credentials(self, form: dict[str, Any], params: dict[str, Any], cl: str) -> Any:
        items = [{k: v for k, v in c.items() if k != "password"} for c in self.credentials.get(cl, [])]
        return self.page_v2010("credentials", items)

    def create_credential(self, form: dict[str, Any], params: dict[str, Any], cl: str) -> Any:
        self.only(form, required={"Username", "Password"})
        assert len(form["Username"]) <= 32
        cred = fixture("credential") | {
            "sid": self.sid("CR"),
            "credential_list_sid": cl,
            "username": form["Username"],
        }
        self.credentials.setdefault(cl, []).append(cred | {"password": form["Password"]})
        return 201, cred

    def update_credential(self, form: dict[str, Any], params: dict[str, Any], cl: str, cr: str) -> Any:
        self.only(form, required=set(), allowed={"Password"})
        cred = next(c for c in self.credentials[cl] if c["sid"] == cr)
        cred["password"] = form["Password"]
        return 200, {k: v for k, v in cred.items() if k != "password"}

    def list_numbers(self, form: dict[str, Any], params: dict[str, Any]) -> Any:
        wanted = params.get("PhoneNumber")
        assert wanted is not None, "look the number up with ?PhoneNumber=, do not page through them all"
        items = [self.number_resource(n, s) for n, s in self.numbers.items() if wanted is None or n == wanted]
        return self.page_v2010("incoming_phone_numbers", items)

    def update_number(self, form: dict[str, Any], params: dict[str, Any], sid: str) -> Any:
        self.only(form, required=set(), allowed={"VoiceUrl", "VoiceMethod"})
        assert form.get("VoiceMethod") in (None, "GET", "POST")
        self.voice[sid] = (form["VoiceUrl"], form["VoiceMethod"])
        number = next(n for n, s in self.numbers.items() if s == sid)
        return 200, self.number_resource(number, sid) | {
            "voice_url": form["VoiceUrl"],
            "voice_method": form["VoiceMethod"],
        }

    @staticmethod
    def number_resource(number: str, sid: str) -> dict[str, Any]:
        return copy.deepcopy(fixture("incoming_phone_number")) | {"phone_number": number, "sid": sid}


def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def client(fake: FakeTwilio) -> Any:
    return twilio_client(
        settings(), environ={"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN}, http_client=fake
    )


# ---------------------------------------------------------------------- SIP trunk
def test_provisioning_creates_the_trunk_and_everything_it_needs() -> None:
    fake = FakeTwilio()
    done = provision_sip_trunk(
        client(fake),
        number=NUMBER,
        sip_host="sip.example.org",
        domain_name="auralink-test.pstn.twilio.com",
        username="livekit",
        password=PASSWORD,
    )
    assert done.created == [
        "trunk",
        "origination_url",
        "credential_list",
        "credential",
        "trunk_credential_list",
        "phone_number",
    ]
    trunk = fake.trunks[done.trunk_sid]
    assert (trunk["friendly_name"], trunk["domain_name"]) == ("AuraLink", "auralink-test.pstn.twilio.com")
    [origination] = fake.origination[done.trunk_sid]
    assert origination["sip_url"] == "sip:sip.example.org:5060"
    assert (origination["priority"], origination["weight"], origination["enabled"]) == (10, 10, True)
    [cred] = fake.credentials[done.credential_list_sid]  # type: ignore[index]
    assert (cred["username"], cred["password"]) == ("livekit", PASSWORD)
    assert fake.trunk_lists[done.trunk_sid] == [done.credential_list_sid]
    assert fake.trunk_numbers[done.trunk_sid] == [fake.numbers[NUMBER]]
    # the number was looked up by its E.164 form, not listed whole
    lookups = [r for r in fake.requests if "IncomingPhoneNumbers" in r[1]]
    assert lookups and all(r[0] == "GET" for r in lookups)


def test_provisioning_twice_reuses_what_is_there() -> None:
    fake = FakeTwilio()
    kwargs: dict[str, Any] = {
        "number": NUMBER,
        "sip_host": "sip.example.org",
        "username": "livekit",
        "password": PASSWORD,
    }
    first = provision_sip_trunk(client(fake), **kwargs)
    after_first = len(fake.requests)
    second = provision_sip_trunk(client(fake), **kwargs | {"password": "Sip-Secret-2027"})
    assert second.created == []
    assert second.reused == [
        "trunk",
        "origination_url",
        "credential_list",
        "credential",
        "trunk_credential_list",
        "phone_number",
    ]
    assert second.trunk_sid == first.trunk_sid
    assert (len(fake.trunks), len(fake.credential_lists), len(fake.origination[first.trunk_sid])) == (1, 1, 1)
    # the password given the second time replaces the first (what LiveKit's trunk will send)
    assert fake.credentials[first.credential_list_sid][0]["password"] == "Sip-Secret-2027"  # type: ignore[index]
    creates = [r for r in fake.requests[after_first:] if r[0] == "POST" and "Credentials/" not in r[1]]
    assert creates == []


def test_a_new_livekit_host_adds_an_origination_uri_to_the_same_trunk() -> None:
    fake = FakeTwilio()
    first = provision_sip_trunk(client(fake), number=NUMBER, sip_host="sip.example.org")
    second = provision_sip_trunk(client(fake), number=NUMBER, sip_host="203.0.113.7", sip_port=5080)
    assert second.created == ["origination_url"]
    assert [o["sip_url"] for o in fake.origination[first.trunk_sid]] == [
        "sip:sip.example.org:5060",
        "sip:203.0.113.7:5080",
    ]


def test_a_number_not_in_the_account_is_a_clear_error() -> None:
    fake = FakeTwilio(numbers={})
    with pytest.raises(ConfigError, match=r"not in this Twilio account"):
        provision_sip_trunk(client(fake), number=NUMBER, sip_host="sip.example.org")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"number": "4155550100"}, "E.164"),
        ({"sip_host": "sip.example.org; rm"}, "--sip-host"),
        ({"domain_name": "mine.example.com"}, "pstn.twilio.com"),
        ({"username": "livekit"}, "both"),
        ({"username": "livekit", "password": "short"}, "12+ characters"),
    ],
)
def test_bad_input_fails_before_any_request(kwargs: dict[str, Any], words: str) -> None:
    fake = FakeTwilio()
    with pytest.raises(ConfigError, match=re.escape(words)):
        provision_sip_trunk(client(fake), **({"number": NUMBER, "sip_host": "sip.example.org"} | kwargs))
    assert fake.requests == []


# ---------------------------------------------------------------------- Media Streams
def test_media_streams_sets_the_numbers_voice_url() -> None:
    fake = FakeTwilio()
    sid = point_number_at_media_streams(
        client(fake), number=NUMBER, voice_url="https://voice.example.org/twilio/voice"
    )
    assert fake.voice == {sid: ("https://voice.example.org/twilio/voice", "POST")}
    with pytest.raises(ConfigError, match="https://"):
        point_number_at_media_streams(client(fake), number=NUMBER, voice_url="http://insecure.example.org/x")


# ---------------------------------------------------------------------- credentials and errors
@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"TWILIO_AUTH_TOKEN": TOKEN}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT}, "TWILIO_AUTH_TOKEN"),
    ],
)
def test_missing_credentials_name_the_variable(env: dict[str, str], missing: str) -> None:
    with pytest.raises(MissingCredential, match=missing):
        twilio_client(settings(), environ=env)


def test_the_token_variable_follows_the_setting() -> None:
    custom = Settings(_env_file=None, twilio_auth_token_env="MY_TWILIO_TOKEN")  # type: ignore[call-arg]
    with pytest.raises(MissingCredential, match="MY_TWILIO_TOKEN"):
        twilio_client(custom, environ={"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN})


def test_a_wrong_token_is_a_provider_error_with_twilios_code() -> None:
    fake = FakeTwilio()
    bad = twilio_client(
        settings(), environ={"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "wrong"}, http_client=fake
    )
    with pytest.raises(ProviderError, match="HTTP 401 \\(error 20003\\)") as e:
        provision_sip_trunk(bad, number=NUMBER, sip_host="sip.example.org")
    assert e.value.retryable is False


# ---------------------------------------------------------------------- CLI
def test_cli_without_credentials_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    code = main(["phone", "provision-twilio", "--number", NUMBER, "--sip-host", "sip.example.org"])
    assert code == 2
    assert "TWILIO_ACCOUNT_SID" in capsys.readouterr().err


def test_cli_needs_a_sip_host_or_a_voice_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["phone", "provision-twilio", "--number", NUMBER])
    assert "--sip-host" in capsys.readouterr().err


def test_cli_provisions_through_the_sdk(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeTwilio()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    real = twilio_client
    monkeypatch.setattr(
        "auralink.telephony.twilio_provision.twilio_client", lambda s: real(s, http_client=fake)
    )
    assert main(["phone", "provision-twilio", "--number", NUMBER, "--sip-host", "sip.example.org"]) == 0
    out = capsys.readouterr().out
    assert "trunk TK" in out and "created: trunk, origination_url, phone_number" in out
    assert (
        main(
            [
                "phone",
                "provision-twilio",
                "--number",
                NUMBER,
                "--voice-url",
                "https://x.example.org/twilio/voice",
            ]
        )
        == 0
    )
    assert "voice URL" in capsys.readouterr().out
