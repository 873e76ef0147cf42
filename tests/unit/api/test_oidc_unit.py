"""Single sign-on without a provider: signing keys, PKCE, the login cookie, ID token rules, settings,
and what the routes answer when SSO is off or the provider is down.

The ID token tests serve discovery and keys from ``httpx.MockTransport`` and sign tokens with a
throwaway RSA key made for the test run; the whole flow against a real provider is in
tests/integration/test_oidc.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from auralink.api.oidc import (
    LoginState,
    OidcClient,
    OidcConfig,
    OidcLoginFailed,
    SsoNotConfigured,
    code_challenge,
    rsa_key_from_jwk,
    safe_next,
    state_key,
)
from auralink.api.oidc.errors import IdentityProviderUnavailable
from auralink.core import Settings
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import Api, open_api, sqlite_url

PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(PRIVATE_KEY.public_key()))
ISSUER = "https://id.example.test"
CLIENT_ID = "auralink"
NONCE = "the-nonce-of-this-login"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_rs256(
    claims: dict[str, Any], *, kid: str | None = "k1", header: dict[str, Any] | None = None
) -> str:
    """An RS256 JWT signed with the test run's key."""
    head = ({"kid": kid} if kid else {}) | (header or {})
    return jwt.encode(claims, PRIVATE_KEY, algorithm="RS256", headers=head)


def good_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "user-1", "aud": CLIENT_ID, "exp": now + 300, "iat": now, "nonce": NONCE}
    return {k: v for k, v in (claims | changes).items() if v is not None}


class FakeProvider:
    """Discovery and a key set over ``httpx.MockTransport``; counts key fetches."""

    def __init__(self, *, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.key_fetches = 0
        self.id_token_claims = good_claims()
        self.userinfo: dict[str, Any] = {}
        self.token_requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                    "userinfo_endpoint": f"{ISSUER}/userinfo",
                },
            )
        if request.url.path == "/token":
            self.token_requests.append(request)
            return httpx.Response(
                200, json={"id_token": sign_rs256(self.id_token_claims), "access_token": "at"}
            )
        if request.url.path == "/userinfo":
            assert request.headers["authorization"] == "Bearer at"
            return httpx.Response(200, json=self.userinfo)
        if request.url.path == "/jwks":
            self.key_fetches += 1
            ec = {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"}
            return httpx.Response(
                200, json={"keys": [ec, {"kty": "RSA", "kid": "k1", "n": KEY["n"], "e": KEY["e"]}]}
            )
        return httpx.Response(404)


def client_for(fake: FakeProvider) -> OidcClient:
    config = OidcConfig(issuer=ISSUER, client_id=CLIENT_ID, client_secret="s")
    return OidcClient(config=config, transport=httpx.MockTransport(fake.handle))


# -- RSA


def test_only_rsa_keys_of_2048_bits_or_more_are_taken() -> None:
    from jwt.exceptions import InvalidKeyError

    short = b64(((1 << 1023) | 1).to_bytes(128, "big"))
    for jwk in (
        {"kty": "RSA", "n": short, "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "e": "AQAB"},
        {"kty": "RSA", "n": KEY["n"], "e": "Ag"},  # an even exponent
    ):
        with pytest.raises(InvalidKeyError):
            rsa_key_from_jwk(jwk)


# -- PKCE, next, the login cookie


def test_the_pkce_challenge_is_the_rfc_7636_s256_one() -> None:
    # RFC 7636 appendix B
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_next_may_only_be_a_path_on_this_server() -> None:
    assert safe_next(None) == "/" and safe_next("") == "/"
    assert safe_next("/calls?page=2#top") == "/calls?page=2#top"
    for bad in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "calls", "/a\nb", "/" + "x" * 1100):
        with pytest.raises(ValueError):
            safe_next(bad)


def test_the_login_cookie_round_trips_and_refuses_tampering_other_keys_and_age() -> None:
    key = state_key("installation secret")
    login = LoginState(redirect_uri="https://app.test/v1/auth/oidc/callback", next="/calls")
    assert LoginState.open(login.seal(key), key) == login
    assert len({login.state, login.nonce, login.verifier}) == 3 and len(login.verifier) >= 43

    payload, _, mac = login.seal(key).partition(".")
    forged = dataclasses.replace(login, next="/elsewhere").seal(state_key("guessed"))
    cases = {
        "": "no login is in progress",
        f"{payload}x.{mac}": "altered",
        forged: "altered",
        login.seal(state_key("another installation")): "altered",
    }
    for cookie, message in cases.items():
        with pytest.raises(OidcLoginFailed, match=message):
            LoginState.open(cookie, key)
    with pytest.raises(OidcLoginFailed, match="longer than 10 minutes"):
        LoginState.open(login.seal(key), key, now=time.time() + 601)
    login.check_state(login.state)
    with pytest.raises(OidcLoginFailed, match="does not match"):
        login.check_state(login.state + "x")
    with pytest.raises(OidcLoginFailed):
        login.check_state(None)


# -- ID tokens


async def test_a_good_id_token_is_accepted() -> None:
    fake = FakeProvider()
    client = client_for(fake)
    meta = await client.metadata()
    claims = await client.verify_id_token(meta, sign_rs256(good_claims()), nonce=NONCE)
    assert claims["sub"] == "user-1"
    # several audiences are fine when this client is the authorised party
    token = sign_rs256(good_claims(aud=[CLIENT_ID, "other"], azp=CLIENT_ID))
    assert (await client.verify_id_token(meta, token, nonce=NONCE))["sub"] == "user-1"
    assert fake.key_fetches == 1  # keys are cached


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exp": -120}, "expired"),  # exp relative to now, made when the test runs
        ({"aud": "someone-else"}, "Audience"),
        ({"iss": "https://evil.test"}, "(?i)issuer"),
        ({"nonce": "another-login"}, "nonce does not match"),
        ({"nonce": None}, "nonce does not match"),
        ({"aud": [CLIENT_ID, "other"]}, "another client"),
        ({"azp": "other"}, "another client"),
        ({"sub": None}, "sub"),
    ],
)
async def test_id_tokens_breaking_a_rule_are_refused(changes: dict[str, Any], message: str) -> None:
    # claims are made here, not at collection: a long suite must not see them expire first
    if "exp" in changes:
        changes = {**changes, "exp": int(time.time()) + changes["exp"]}
    claims = good_claims(**changes)
    client = client_for(FakeProvider())
    with pytest.raises(OidcLoginFailed, match=message):
        await client.verify_id_token(await client.metadata(), sign_rs256(claims), nonce=NONCE)


async def test_id_tokens_not_signed_by_the_providers_rsa_key_are_refused() -> None:
    fake = FakeProvider()
    client = client_for(fake)
    meta = await client.metadata()
    good = sign_rs256(good_claims())
    head, payload, sig = good.split(".")
    forged_payload = b64(json.dumps(good_claims(sub="admin")).encode())
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{payload}."
    hs256 = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{payload}.{sig}"
    cases = {
        f"{head}.{forged_payload}.{sig}": "Signature verification failed",
        unsigned: "signed with 'none'",
        hs256: "signed with 'HS256'",
        "not a token": "not a JWT",
        sign_rs256(good_claims(), kid="rotated-away"): "does not publish",
    }
    for token, message in cases.items():
        with pytest.raises(OidcLoginFailed, match=message):
            await client.verify_id_token(meta, token, nonce=NONCE)
    assert fake.key_fetches == 1  # an unknown kid does not make us fetch keys on every token
    # a token without a kid is checked against the one RSA key the provider publishes
    assert (await client.verify_id_token(meta, sign_rs256(good_claims(), kid=None), nonce=NONCE))["sub"]


async def test_the_identity_takes_missing_claims_from_userinfo_and_knows_entras_verified_flag() -> None:
    fake = FakeProvider()
    client = client_for(fake)
    login = dataclasses.replace(LoginState(redirect_uri="https://app.test/cb"), nonce=NONCE)
    fake.userinfo = {"sub": "user-1", "email": " Ada@Acme.TEST ", "email_verified": True, "name": "Ada"}
    identity = await client.identity(code="the-code", login=login)
    assert (identity.issuer, identity.subject, identity.email) == (ISSUER, "user-1", "ada@acme.test")
    assert identity.email_verified and identity.name == "Ada"
    form = dict(httpx.QueryParams(fake.token_requests[0].content.decode()))
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://app.test/cb",
        "code_verifier": login.verifier,
    }
    assert (
        fake.token_requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"auralink:s").decode()
    )

    # claims in the ID token win; "true" as a string and Entra's xms_edov count as verified
    fake.id_token_claims = good_claims(email="grace@acme.test", xms_edov="true")
    identity = await client.identity(code="c", login=login)
    assert identity.email == "grace@acme.test" and identity.email_verified
    fake.id_token_claims = good_claims(email="eve@acme.test")
    assert not (await client.identity(code="c", login=login)).email_verified

    # userinfo about someone else is not believed
    fake.id_token_claims = good_claims()
    fake.userinfo = {"sub": "someone-else", "email": "boss@acme.test", "email_verified": True}
    with pytest.raises(OidcLoginFailed, match="another account"):
        await client.identity(code="c", login=login)


async def test_a_discovery_document_for_another_issuer_is_refused() -> None:
    client = client_for(FakeProvider(issuer="https://evil.test"))
    with pytest.raises(IdentityProviderUnavailable, match="another issuer"):
        await client.metadata()


def test_the_authorization_url_asks_for_the_code_flow_with_pkce() -> None:
    from urllib.parse import parse_qs, urlsplit

    from auralink.api.oidc import ProviderMetadata

    meta = ProviderMetadata(
        issuer=ISSUER,
        authorization_endpoint=f"{ISSUER}/authorize?tenant=acme",
        token_endpoint=f"{ISSUER}/token",
        jwks_uri=f"{ISSUER}/jwks",
    )
    login = LoginState(redirect_uri="https://app.test/cb")
    url = client_for(FakeProvider()).authorization_url(meta, login)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{ISSUER}/authorize?tenant=acme&")
    assert query == {
        "tenant": ["acme"],
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": ["https://app.test/cb"],
        "scope": ["openid email profile"],
        "state": [login.state],
        "nonce": [login.nonce],
        "code_challenge": [code_challenge(login.verifier)],
        "code_challenge_method": ["S256"],
    }


# -- settings and routes


def test_settings_turn_sso_on_only_with_an_issuer_and_a_client_id() -> None:
    with pytest.raises(SsoNotConfigured, match="AURALINK_OIDC_ISSUER"):
        OidcConfig.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    with pytest.raises(SsoNotConfigured, match="AURALINK_OIDC_CLIENT_ID is not"):
        OidcConfig.from_settings(Settings(_env_file=None, oidc_issuer=ISSUER))  # type: ignore[call-arg]
    config = OidcConfig.from_settings(
        Settings(_env_file=None, oidc_issuer=ISSUER, oidc_client_id="c", oidc_scopes="email")  # type: ignore[call-arg]
    )
    assert config.scopes == "openid email" and config.client_secret is None
    with pytest.raises(ValueError, match="oidc_default_role"):
        Settings(_env_file=None, oidc_default_role="owner")  # type: ignore[call-arg]


async def test_with_sso_off_the_routes_say_which_setting_turns_it_on(api: Api) -> None:
    c = api.client()
    assert (await c.get("/v1/auth/oidc")).json() == {"enabled": False, "issuer": None, "login_url": None}
    for path in ("/v1/auth/oidc/login", "/v1/auth/oidc/callback?code=x&state=y"):
        r = await c.get(path)
        assert r.status_code == 404, path
        assert "AURALINK_OIDC_ISSUER" in r.json()["error"]["message"]


async def test_a_bad_next_is_a_field_error_and_a_silent_provider_a_502(tmp_path: Path) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    overrides = {"oidc_issuer": issuer, "oidc_client_id": "c", "oidc_client_secret": "s"}
    async with open_api(sqlite_url(tmp_path), tmp_path, **overrides) as api:
        c = api.client()
        r = await c.get("/v1/auth/oidc/login", params={"next": "https://evil.test/"})
        assert r.status_code == 422
        assert r.json()["error"]["fields"][0]["field"] == "next"
        r = await c.get("/v1/auth/oidc/login")
        assert r.status_code == 502
        assert issuer in r.json()["error"]["message"]
        r = await c.get("/v1/auth/oidc/callback?code=x&state=y", headers={"Accept": "text/html"})
        assert r.status_code == 400 and "no login is in progress" in r.text
        assert r.headers["content-type"].startswith("text/html")


def test_openapi_documents_the_sso_routes(tmp_path: Path) -> None:
    from auralink.api import create_app

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        data_dir=tmp_path,
    )
    paths = create_app(settings, web_dist=tmp_path / "no-dist").openapi()["paths"]
    assert {"200"} <= set(paths["/v1/auth/oidc"]["get"]["responses"])
    assert {"302", "404", "422", "502"} <= set(paths["/v1/auth/oidc/login"]["get"]["responses"])
    assert {"302", "400", "403", "404", "502"} <= set(paths["/v1/auth/oidc/callback"]["get"]["responses"])
    for path in ("/v1/auth/oidc", "/v1/auth/oidc/login", "/v1/auth/oidc/callback"):
        assert paths[path]["get"]["description"], path
