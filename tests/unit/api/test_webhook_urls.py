"""Webhook destinations as a tenant and a self-hoster meet them: URLs that would make the server
reach its own loopback, private networks or the cloud metadata service are refused when they are
registered (a 422 on ``url`` naming AURALINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS) and again at every
delivery attempt, when DNS may have changed since; nothing is sent to a refused address.

No test needs the internet: "public" hosts are literal addresses (never sent to) or names whose
resolution the test replaces.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest

from auralink.api.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, urls, verify_signature
from auralink.api.webhooks.urls import ALLOW_SETTING, IPAddress, Resolver, UnresolvableHost
from auralink.core import Settings
from tests.unit.api.test_webhooks import Receiver, _api, _endpoint, _settled, receiver

__all__ = ["receiver"]  # the local HTTP receiver fixture the delivery tests ask for

PUBLIC = "93.184.216.34"
REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",  # a name that resolves to loopback
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://0.0.0.0:9/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://100.64.0.1/hook",  # CGNAT
    "http://[fc00::1]/hook",
    "http://224.0.0.1/hook",
    "http://2130706433/hook",  # 127.0.0.1 spelled as a number
    "http://169.254.169.254/latest/meta-data/",
]


def _fake_dns(table: dict[str, list[str]]) -> Resolver:
    """A resolver answering from ``table`` (which the test may change between calls)."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in table:
            raise UnresolvableHost(host)
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


def _field_error(r: httpx.Response) -> str:
    """The message of a 422 on ``url`` (the only field in error)."""
    assert r.status_code == 422, r.text
    (field,) = r.json()["error"]["fields"]
    assert field["field"] == "url"
    message: str = field["message"]
    return message


def test_private_networks_are_refused_unless_the_server_allows_them() -> None:
    assert Settings(_env_file=None).webhook_allow_private_networks is False


async def test_loopback_private_and_metadata_destinations_are_refused_naming_the_setting(
    db_url: str, tmp_path: Path
) -> None:
    async with _api(db_url, tmp_path, webhook_allow_private_networks=False) as api:
        owner = await api.login((await api.signup()).email)
        for url in REFUSED:
            message = _field_error(await owner.post("/v1/webhooks", json={"url": url}))
            if "169.254.169.254" in url:
                assert "metadata" in message, message
            else:
                assert ALLOW_SETTING in message, (url, message)
        assert "localhost resolves to" in _field_error(
            await owner.post("/v1/webhooks", json={"url": "http://localhost:8080/x"})
        )
        assert (await owner.get("/v1/webhooks")).json() == []  # nothing was stored

        # credentials in the URL and hosts that do not resolve are refused too
        message = _field_error(await owner.post("/v1/webhooks", json={"url": f"http://u:p@{PUBLIC}/x"}))
        assert "credentials" in message
        message = _field_error(await owner.post("/v1/webhooks", json={"url": "https://hooks.invalid/x"}))
        assert "cannot resolve" in message and "hooks.invalid" in message


async def test_public_addresses_are_accepted_and_an_update_is_vetted_too(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns = {"hooks.example.test": [PUBLIC], "mixed.example.test": [PUBLIC, "10.0.0.7"]}
    monkeypatch.setattr(urls, "resolve", _fake_dns(dns))
    async with _api(db_url, tmp_path, webhook_allow_private_networks=False) as api:
        owner = await api.login((await api.signup()).email)
        for url in (
            f"http://{PUBLIC}/hook",
            "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/hook",
            "https://hooks.example.test/hook",
        ):
            await _endpoint(owner, url)
        # one private address among the answers is enough to refuse
        message = _field_error(await owner.post("/v1/webhooks", json={"url": "https://mixed.example.test/"}))
        assert "10.0.0.7" in message and ALLOW_SETTING in message

        endpoint = await _endpoint(owner, f"https://{PUBLIC}/first")
        r = await owner.patch(f"/v1/webhooks/{endpoint['id']}", json={"url": "http://127.0.0.1:9/x"})
        assert ALLOW_SETTING in _field_error(r)
        r = await owner.patch(f"/v1/webhooks/{endpoint['id']}", json={"description": "still fine"})
        assert r.status_code == 200 and r.json()["url"] == f"https://{PUBLIC}/first"


async def test_with_the_setting_on_internal_receivers_are_allowed_but_metadata_never(
    db_url: str, tmp_path: Path
) -> None:
    async with _api(db_url, tmp_path, webhook_allow_private_networks=True) as api:
        owner = await api.login((await api.signup()).email)
        for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://10.1.2.3/hook"):
            await _endpoint(owner, url)
        for url in ("http://169.254.169.254/latest/", "http://[::ffff:169.254.169.254]/"):
            assert "metadata" in _field_error(await owner.post("/v1/webhooks", json={"url": url}))


async def test_a_name_that_now_resolves_to_loopback_is_not_sent_to(
    db_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    dns = {"hooks.example.test": [PUBLIC]}
    monkeypatch.setattr(urls, "resolve", _fake_dns(dns))
    async with _api(db_url, tmp_path, webhook_allow_private_networks=False, webhook_max_attempts=2) as api:
        owner = await api.login((await api.signup()).email)
        endpoint = await _endpoint(owner, f"http://hooks.example.test:{port}/hook")
        dns["hooks.example.test"] = ["127.0.0.1"]  # rebinding: the name now points at the server itself
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        failed = await _settled(owner, endpoint["id"], queued["delivery_id"])
    assert failed["status"] == "failed" and len(failed["log"]) == 2  # retried like any failure
    for attempt in failed["log"]:
        assert attempt["status_code"] is None
        assert attempt["error"].startswith(
            "destination not allowed: hooks.example.test resolves to 127.0.0.1"
        )
    assert receiver.requests == []  # nothing reached the loopback receiver


async def test_an_endpoint_stored_while_allowed_is_refused_once_the_setting_is_off(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    async with _api(db_url, tmp_path, webhook_allow_private_networks=True) as api:
        org = await api.signup()
        endpoint = await _endpoint(await api.login(org.email), receiver.url)
    async with _api(db_url, tmp_path, webhook_allow_private_networks=False, webhook_max_attempts=1) as api:
        owner = await api.login(org.email)
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        failed = await _settled(owner, endpoint["id"], queued["delivery_id"])
    assert failed["status"] == "failed"
    (attempt,) = failed["log"]
    assert attempt["error"].startswith("destination not allowed: 127.0.0.1 is a loopback address")
    assert ALLOW_SETTING in attempt["error"]
    assert receiver.requests == []


async def test_deliveries_connect_to_the_vetted_address_and_keep_the_host_name(
    db_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    monkeypatch.setattr(urls, "resolve", _fake_dns({"hooks.example.test": ["127.0.0.1"]}))
    async with _api(db_url, tmp_path, webhook_allow_private_networks=True) as api:
        owner = await api.login((await api.signup()).email)
        endpoint = await _endpoint(owner, f"http://hooks.example.test:{port}/hook")
        queued = (await owner.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        delivered = await _settled(owner, endpoint["id"], queued["delivery_id"])
    assert delivered["status"] == "delivered"
    (got,) = receiver.requests  # the name resolves only through the vetted lookup
    assert got.headers["Host"] == f"hooks.example.test:{port}"
    assert got.headers[EVENT_ID_HEADER] == queued["event_id"]
    verify_signature(endpoint["secret"], got.headers[SIGNATURE_HEADER], got.body)
