"""Rate limits as callers meet them: a key or an address may burst, then gets 429 with
Retry-After naming the limit, and is let in again once its bucket refills; keys and addresses
are counted apart; with Redis, two API instances share one count.

The Redis tests start a throwaway ``redis-server`` (no persistence) on a free port.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from auralink.api import create_app
from auralink.api.ratelimit import Limit, MemoryBuckets
from auralink.core import ConfigError, Settings
from tests.unit.api.test_auth import Api, open_api, sqlite_url
from tests.unit.api.test_links import CATALOGUE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway redis-server on loopback without persistence; its URL; stopped at the end."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by scripts/setup.sh (Debian package redis-server)"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, "redis-server exited at start"
            try:
                with Redis(port=port, socket_timeout=1) as probe:
                    probe.ping()
                break
            except RedisError:
                assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def client_at(api: Api, address: str, *, key: str | None = None) -> httpx.AsyncClient:
    """A client whose requests come from ``address``."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    c = httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)
    api._clients.append(c)
    return c


async def _key(api: Api) -> str:
    org = await api.signup()
    owner = await api.login(org.email)
    made = await api.key(owner, role="admin")
    secret: str = made["secret"]
    return secret


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(
        # a token every 3 s: a busy CI machine once earned one mid-burst at 60/min
        sqlite_url(tmp_path),
        tmp_path,
        rate_limit_per_minute=20,
        rate_limit_burst=3,
    ) as harness:
        yield harness


async def test_a_key_bursts_then_gets_429_with_retry_after_and_is_let_in_after_refill(api: Api) -> None:
    sdk = api.client(key=await _key(api))
    for _ in range(3):
        assert (await sdk.get("/v1/keys")).status_code == 200
    r = await sdk.get("/v1/keys")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    error = r.json()["error"]
    assert error["type"] == "RateLimited"
    assert "per API key" in error["message"] and "20 requests per minute" in error["message"]
    await asyncio.sleep(3.1)  # one token every 3 s at 20/min
    assert (await sdk.get("/v1/keys")).status_code == 200
    assert (await sdk.get("/v1/keys")).status_code == 429


async def test_keys_are_counted_apart(api: Api) -> None:
    first, second = api.client(key=await _key(api)), api.client(key=await _key(api))
    for _ in range(3):
        assert (await first.get("/v1/auth/me")).status_code == 200
    assert (await first.get("/v1/auth/me")).status_code == 429
    assert (await second.get("/v1/auth/me")).status_code == 200


async def test_health_metrics_and_other_keys_are_never_limited(api: Api) -> None:
    sdk = api.client(key=await _key(api))
    for _ in range(4):
        await sdk.get("/v1/keys")
    assert (await sdk.get("/v1/keys")).status_code == 429
    for path in ("/healthz", "/metrics"):
        for _ in range(10):
            assert (await sdk.get(path)).status_code == 200, path


async def test_visitors_starting_calls_are_limited_per_address(tmp_path: Path) -> None:
    async with open_api(
        sqlite_url(tmp_path), tmp_path, rate_limit_ip_per_minute=1, rate_limit_ip_burst=5
    ) as api:
        api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
        org = await api.signup()  # three requests from 127.0.0.1: signup, login, make the link
        owner = await api.login(org.email)
        r = await owner.post("/v1/links", json={"agent": "barista"})
        assert r.status_code == 201, r.text
        code = r.json()["code"]
        visitor = client_at(api, "203.0.113.7")
        for _ in range(5):
            assert (await visitor.post(f"/j/{code}/session", json={})).status_code == 201
        r = await visitor.post(f"/j/{code}/session", json={})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "per client address" in r.json()["error"]["message"]
        # the link page itself still opens, and another visitor still gets in
        assert (await visitor.get(f"/j/{code}/info")).status_code == 200
        other = client_at(api, "203.0.113.8")
        assert (await other.post(f"/j/{code}/session", json={})).status_code == 201
        # sign-up and login without a key count per address too: 127.0.0.1 has 2 of 5 left
        anonymous = api.client()
        codes = [(await anonymous.post("/v1/auth/login", json={"email": "x@y.test", "password": "p"})).status_code
                 for _ in range(3)]  # fmt: skip
        assert codes == [401, 401, 429]


async def test_redis_limits_hold_across_two_api_instances(tmp_path: Path, redis_url: str) -> None:
    url = sqlite_url(tmp_path)
    limits = {"redis_url": redis_url, "rate_limit_per_minute": 6, "rate_limit_burst": 4}
    async with open_api(url, tmp_path / "a", **limits) as a, open_api(url, tmp_path / "b", **limits) as b:
        secret = await _key(a)
        on_a, on_b = a.client(key=secret), b.client(key=secret)
        assert [(await on_a.get("/v1/keys")).status_code for _ in range(2)] == [200, 200]
        assert [(await on_b.get("/v1/keys")).status_code for _ in range(2)] == [200, 200]
        r = await on_a.get("/v1/keys")
        assert r.status_code == 429 and r.headers["retry-after"] in {"9", "10"}
        assert (await on_b.get("/v1/keys")).status_code == 429
        other = b.client(key=await _key(a))  # another key, same Redis: its own bucket
        assert (await other.get("/v1/keys")).status_code == 200
    with Redis.from_url(redis_url) as r:
        assert any(k.startswith(b"auralink:rl:") for k in r.scan_iter())


async def test_requests_go_through_when_redis_is_down(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limits = {"redis_url": dead, "rate_limit_per_minute": 60, "rate_limit_burst": 1}
    async with open_api(sqlite_url(tmp_path), tmp_path, **limits) as api:
        sdk = api.client(key=await _key(api))
        assert [(await sdk.get("/v1/keys")).status_code for _ in range(3)] == [200, 200, 200]


async def test_the_in_process_store_stays_bounded_under_many_addresses() -> None:
    buckets = MemoryBuckets(max_buckets=100)
    limit = Limit("per client address", per_minute=60, burst=1)
    for i in range(1000):
        assert (await buckets.take(f"ip:10.0.{i // 256}.{i % 256}", limit)).allowed
    assert len(buckets._buckets) <= 101
    # the newest callers are still counted: a second request at once is refused
    assert not (await buckets.take("ip:10.0.3.231", limit)).allowed


def test_a_redis_url_that_is_not_one_is_refused_naming_the_setting(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        database_url=sqlite_url(tmp_path),
        redis_url="localhost:6379",
    )
    with pytest.raises(ConfigError, match="AURALINK_REDIS_URL"):
        create_app(settings, web_dist=tmp_path / "no-dist")


async def test_a_keys_rate_follows_its_organisations_plan(tmp_path: Path) -> None:
    # slow refills (free 6/min, pro 30/min) so a busy machine cannot earn a token mid-burst
    limits = {"rate_limit_per_minute": 6, "rate_limit_burst": 3}
    async with open_api(sqlite_url(tmp_path), tmp_path, **limits) as api:
        await _plan_follows(api)


async def _plan_follows(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    sdk = api.client(key=(await api.key(owner, role="admin"))["secret"])
    free = [(await sdk.get("/v1/auth/me")).status_code for _ in range(4)]
    assert free == [200, 200, 200, 429]
    r = await owner.put("/v1/usage/plan", json={"plan": "pro"})  # dashboard sessions count per address
    assert r.status_code == 200 and r.json()["rate_limit"] == {"per_minute": 30, "burst": 15}
    # pro: five times the free rate and burst, in a bucket of its own (full at once)
    codes = [(await sdk.get("/v1/auth/me")).status_code for _ in range(16)]
    assert codes == [200] * 15 + [429]
    r = await sdk.get("/v1/auth/me")
    assert "per API key (pro plan)" in r.json()["error"]["message"]
    assert "30 requests per minute" in r.json()["error"]["message"]


async def test_a_plans_file_sets_a_plans_key_rate(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yaml"
    plans.write_text("plans:\n  free: {rate_limit_per_minute: 6, rate_limit_burst: 2}\n", encoding="utf-8")
    async with open_api(sqlite_url(tmp_path), tmp_path, plans_file=plans) as api:
        sdk = api.client(key=await _key(api))
        assert [(await sdk.get("/v1/keys")).status_code for _ in range(3)] == [200, 200, 429]
        r = await sdk.get("/v1/keys")
        assert "per API key (free plan)" in r.json()["error"]["message"] and r.headers["retry-after"] == "10"


async def test_plan_rates_hold_across_instances_with_redis(tmp_path: Path, redis_url: str) -> None:
    url = sqlite_url(tmp_path)
    limits = {"redis_url": redis_url, "rate_limit_per_minute": 6, "rate_limit_burst": 1}
    async with open_api(url, tmp_path / "a", **limits) as a, open_api(url, tmp_path / "b", **limits) as b:
        org = await a.signup()
        owner = await a.login(org.email)
        secret = (await a.key(owner, role="admin"))["secret"]
        assert (await owner.put("/v1/usage/plan", json={"plan": "pro"})).status_code == 200
        on_a, on_b = a.client(key=secret), b.client(key=secret)
        # pro: a burst of 5 shared by both instances
        codes = [(await c.get("/v1/auth/me")).status_code for c in (on_a, on_b, on_a, on_b, on_a, on_b)]
        assert codes == [200, 200, 200, 200, 200, 429]


async def test_turning_rate_limits_off_turns_every_limit_off(tmp_path: Path) -> None:
    off = {"rate_limit_enabled": False, "rate_limit_burst": 1, "rate_limit_ip_burst": 1}
    async with open_api(sqlite_url(tmp_path), tmp_path, **off) as api:
        sdk = api.client(key=await _key(api))
        assert {(await sdk.get("/v1/keys")).status_code for _ in range(10)} == {200}
        anonymous = api.client()
        codes = {(await anonymous.post("/v1/auth/login", json={"email": "x@y.test", "password": "p"})).status_code
                 for _ in range(5)}  # fmt: skip
        assert codes == {401}


async def test_the_mcp_endpoint_is_limited_per_key_like_the_api(tmp_path: Path) -> None:
    limits = {"rate_limit_per_minute": 6, "rate_limit_burst": 2}
    async with open_api(sqlite_url(tmp_path), tmp_path, **limits) as api:
        sdk = api.client(key=await _key(api))
        codes = [(await sdk.post("/mcp", json={})).status_code for _ in range(3)]
        assert codes[:2] != [429, 429] and codes[2] == 429, codes
        assert (await sdk.get("/v1/keys")).status_code == 429  # one bucket per key, wherever it is used
