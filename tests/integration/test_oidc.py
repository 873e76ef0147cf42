"""Single sign-on against a real OpenID provider: panva's oidc-provider (Node), run from tests/oidc.

The provider listens on a free loopback port with one confidential client and a few accounts;
its development login and consent forms are filled in here with a plain HTTP client, as a
browser would. The API runs in process on a fresh SQLite database; its own calls to the provider
(discovery, keys, token, userinfo) are real HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select, update

from auralink.api.auth import SESSION_COOKIE
from auralink.api.bootstrap import create_organisation_with_settings
from auralink.api.db import Member, MemberIdentity
from auralink.api.oidc import SSO_ONLY_PASSWORD, STATE_COOKIE, LoginState, state_key
from auralink.core import Settings
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import PASSWORD, Api, open_api, sqlite_url

pytestmark = pytest.mark.integration

PROVIDER_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "auralink-test"
CLIENT_SECRET = "a-test-client-secret-for-sso"
CALLBACK = "http://testserver/v1/auth/oidc/callback"
LIVEKIT_SECRET = "0123456789abcdef0123456789abcdef-test-secret"  # the harness's (signs login cookies)
ACCOUNTS = {
    "owner": {"email": "owner1@acme.test", "email_verified": True, "name": "Owner"},
    "newcomer": {"email": "Grace@Acme.test", "email_verified": True, "name": "Grace Hopper"},
    "unverified": {"email": "owner1@acme.test", "email_verified": False},
}


@dataclasses.dataclass(frozen=True)
class Provider:
    issuer: str


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OIDC provider is not installed; run scripts/setup.sh (npm ci in tests/oidc)")
    port = free_port()
    proc = subprocess.Popen(
        [
            "node",
            "provider.mjs",
            "--port",
            str(port),
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--redirect-uri",
            CALLBACK,
            "--accounts",
            json.dumps(ACCOUNTS),
        ],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the OIDC provider exited ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
                )
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the OIDC provider did not start within 30 s"
            time.sleep(0.1)
        yield Provider(issuer=issuer)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def sso_settings(provider: Provider, **overrides: Any) -> dict[str, Any]:
    return {
        "oidc_issuer": provider.issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
    } | overrides


@pytest.fixture
async def sso(provider: Provider, tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(sqlite_url(tmp_path), tmp_path, **sso_settings(provider)) as harness:
        yield harness


async def sign_in_at_provider(authorize_url: str, login: str) -> str:
    """Fill in the provider's login and consent forms like a browser; the URL it sends us back to."""
    async with httpx.AsyncClient(timeout=10) as browser:
        url = authorize_url
        for _ in range(12):
            if url.startswith(CALLBACK):
                return url
            r = await browser.get(url)
            if r.is_redirect:
                url = urljoin(url, r.headers["location"])
                continue
            assert r.status_code == 200, r.text
            action = re.search(r'<form[^>]*action="([^"]+)"', r.text)
            prompt = re.search(r'name="prompt" value="(\w+)"', r.text)
            assert action and prompt, r.text
            form = {"prompt": prompt[1]}
            if prompt[1] == "login":
                form |= {"login": login, "password": "whatever the dev form takes"}
            r = await browser.post(urljoin(url, action[1]), data=form)
            assert r.is_redirect, r.text
            url = urljoin(url, r.headers["location"])
    raise AssertionError(f"the provider never sent the browser back (last at {url})")


async def start_login(dashboard: httpx.AsyncClient, next_path: str = "/") -> str:
    r = await dashboard.get("/v1/auth/oidc/login", params={"next": next_path})
    assert r.status_code == 302, r.text
    assert dashboard.cookies.get(STATE_COOKIE)
    return r.headers["location"]


async def sso_login(api: Api, account: str, next_path: str = "/") -> tuple[httpx.AsyncClient, httpx.Response]:
    """A whole single sign-on in a fresh browser: the client and the callback's answer."""
    dashboard = api.client()
    callback = await sign_in_at_provider(await start_login(dashboard, next_path), account)
    return dashboard, await dashboard.get(callback)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_sso_round_trip_links_a_verified_email_then_keeps_the_identity(
    sso: Api, provider: Provider
) -> None:
    org = await sso.signup()
    info = (await sso.client().get("/v1/auth/oidc")).json()
    assert info == {"enabled": True, "issuer": provider.issuer, "login_url": "/v1/auth/oidc/login"}

    dashboard = sso.client()
    authorize = await start_login(dashboard, "/calls?page=2")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{provider.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [CALLBACK]
    callback = await sign_in_at_provider(authorize, "owner")
    r = await dashboard.get(callback)
    assert r.status_code == 302, r.text
    assert r.headers["location"] == "/calls?page=2"
    session_cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
    assert STATE_COOKIE not in dashboard.cookies  # the login cookie is spent
    me = await dashboard.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["member_id"] == org.owner_id and me.json()["role"] == "owner"

    async with sso.db.session() as s:
        links = (await s.scalars(select(MemberIdentity))).all()
        assert [(i.member_id, i.issuer, i.subject) for i in links] == [
            (org.owner_id, provider.issuer, "owner")
        ]
        # the link, not the e-mail, decides from now on
        await s.execute(update(Member).where(Member.id == org.owner_id).values(email="renamed@acme.test"))
        await s.commit()
    again, r = await sso_login(sso, "owner")
    assert r.status_code == 302 and r.headers["location"] == "/"
    assert (await again.get("/v1/auth/me")).json()["member_id"] == org.owner_id
    # the password login still works beside it
    assert (await (await sso.login("renamed@acme.test")).get("/v1/auth/me")).status_code == 200


async def test_an_account_that_is_no_member_is_refused_with_403(sso: Api) -> None:
    await sso.signup()
    dashboard, r = await sso_login(sso, "newcomer")
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "NoMemberForLogin"
    assert "ask an administrator" in r.json()["error"]["message"]
    assert SESSION_COOKIE not in dashboard.cookies
    assert (await dashboard.get("/v1/auth/me")).status_code == 401

    # a browser gets a page saying the same
    browser = sso.client()
    callback = await sign_in_at_provider(await start_login(browser), "newcomer")
    page = await browser.get(callback, headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "ask an administrator" in page.text

    # an e-mail the provider has not verified never matches a member, even one that has it
    _, r = await sso_login(sso, "unverified")
    assert r.status_code == 403 and "not verified" in r.json()["error"]["message"]
    async with sso.db.session() as s:
        assert (await s.scalars(select(MemberIdentity))).all() == []


async def test_newcomers_join_the_configured_organisation_when_allowed(
    provider: Provider, tmp_path: Path
) -> None:
    db_url = sqlite_url(tmp_path)
    bootstrap = Settings(_env_file=None, database_url=db_url, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    org_id, _ = await create_organisation_with_settings(
        bootstrap, name="Acme", owner_email="boss@acme.test", owner_name="Boss", password=PASSWORD
    )
    overrides = sso_settings(provider, oidc_auto_join_org=org_id, oidc_default_role="developer")
    async with open_api(db_url, tmp_path, **overrides) as api:
        dashboard, r = await sso_login(api, "newcomer")
        assert r.status_code == 302, r.text
        me = (await dashboard.get("/v1/auth/me")).json()
        assert me["org_id"] == org_id and me["role"] == "developer"
        async with api.db.session() as s:
            member = await s.get(Member, me["member_id"])
            assert member is not None
            assert (member.email, member.name) == ("grace@acme.test", "Grace Hopper")
            assert member.password_hash == SSO_ONLY_PASSWORD
        # such a member has no password that works
        r = await api.client().post(
            "/v1/auth/login", json={"email": "grace@acme.test", "password": "!sso-only"}
        )
        assert r.status_code == 401


async def test_a_tampered_state_or_login_cookie_is_refused(sso: Api) -> None:
    await sso.signup()
    dashboard = sso.client()
    callback = await sign_in_at_provider(await start_login(dashboard), "owner")

    r = await dashboard.get(with_query(callback, state="forged-state"))
    assert r.status_code == 400
    assert "state returned by the provider does not match" in r.json()["error"]["message"]

    cookie = dashboard.cookies[STATE_COOKIE]
    dashboard.cookies.set(STATE_COOKIE, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    r = await dashboard.get(callback)
    assert r.status_code == 400 and "altered" in r.json()["error"]["message"]

    stranger = sso.client()  # someone else's browser, without the login cookie
    r = await stranger.get(callback)
    assert r.status_code == 400 and "no login is in progress" in r.json()["error"]["message"]
    for c in (dashboard, stranger):
        assert SESSION_COOKIE not in c.cookies


async def test_a_replayed_code_is_refused(sso: Api) -> None:
    await sso.signup()
    dashboard = sso.client()
    callback = await sign_in_at_provider(await start_login(dashboard), "owner")
    login_cookie = dashboard.cookies[STATE_COOKIE]
    assert (await dashboard.get(callback)).status_code == 302

    replay = sso.client()
    replay.cookies.set(STATE_COOKIE, login_cookie)  # even with the original login cookie
    r = await replay.get(callback)
    assert r.status_code == 400
    assert "invalid_grant" in r.json()["error"]["message"]
    assert SESSION_COOKIE not in replay.cookies


async def test_an_id_token_for_another_nonce_is_refused(sso: Api) -> None:
    await sso.signup()
    dashboard = sso.client()
    authorize = await start_login(dashboard)
    # the login cookie is swapped for one that expects another nonce (signed with the real key)
    key = state_key(LIVEKIT_SECRET)
    login = LoginState.open(dashboard.cookies[STATE_COOKIE], key)
    dashboard.cookies.set(STATE_COOKIE, dataclasses.replace(login, nonce="not-the-nonce-sent").seal(key))
    r = await dashboard.get(await sign_in_at_provider(authorize, "owner"))
    assert r.status_code == 400
    assert "nonce does not match" in r.json()["error"]["message"]
    assert SESSION_COOKIE not in dashboard.cookies


async def test_client_secret_post_works_and_a_wrong_secret_is_named(
    provider: Provider, tmp_path: Path
) -> None:
    overrides = sso_settings(provider, oidc_client_auth="client_secret_post")
    async with open_api(sqlite_url(tmp_path), tmp_path, **overrides) as api:
        org = await api.signup()
        dashboard, r = await sso_login(api, "owner")
        assert r.status_code == 302, r.text
        assert (await dashboard.get("/v1/auth/me")).json()["member_id"] == org.owner_id

    overrides = sso_settings(provider, oidc_client_secret="not-the-client-secret")
    async with open_api(sqlite_url(tmp_path / "b"), tmp_path / "b", **overrides) as api:
        await api.signup()
        _, r = await sso_login(api, "owner")
        assert r.status_code == 400
        assert "AURALINK_OIDC_CLIENT_SECRET" in r.json()["error"]["message"]
