"""Health and metrics as an operator meets them: /readyz names the part that does not answer
(database, Redis, LiveKit) without a trace, and /metrics counts requests by route template."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.unit.api.test_auth import Api, open_api, sqlite_url
from tests.unit.api.test_ratelimit import free_port, redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def _nobody_listens() -> str:
    return f"ws://127.0.0.1:{free_port()}"


@asynccontextmanager
async def app_reaching(
    tmp_path: Path, *, livekit_url: str, redis_url: str | None = None
) -> AsyncIterator[Api]:
    """The API (as :func:`open_api` makes it) pointed at ``livekit_url`` and ``redis_url``."""
    async with open_api(sqlite_url(tmp_path), tmp_path, LIVEKIT_URL=livekit_url, redis_url=redis_url) as api:
        yield api


async def test_healthz_answers(tmp_path: Path) -> None:
    async with open_api(sqlite_url(tmp_path), tmp_path) as api:
        r = await api.client().get("/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_readyz_names_an_unreachable_livekit_and_passes_the_database(tmp_path: Path) -> None:
    async with app_reaching(tmp_path, livekit_url=_nobody_listens()) as api:
        r = await api.client().get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["livekit"].startswith("failed")
    assert "redis" not in body["checks"]  # not configured, not checked
    assert "Traceback" not in r.text


async def test_readyz_checks_redis_when_configured(tmp_path: Path, redis_url: str) -> None:
    async with app_reaching(tmp_path, livekit_url=_nobody_listens(), redis_url=redis_url) as api:
        checks = (await api.client().get("/readyz")).json()["checks"]
    assert checks["redis"] == "ok" and checks["database"] == "ok"


async def test_readyz_names_an_unreachable_redis(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with app_reaching(tmp_path, livekit_url=_nobody_listens(), redis_url=dead) as api:
        r = await api.client().get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("failed")
    assert r.json()["checks"]["database"] == "ok"


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_count_requests_by_route_template(tmp_path: Path) -> None:
    async with open_api(sqlite_url(tmp_path), tmp_path) as api:
        c = api.client()
        for _ in range(3):
            assert (await c.get("/healthz")).status_code == 200
        await c.get("/j/no-such-link-code-at-all/info")
        await c.get("/v1/keys")  # no credentials: 401
        await c.get("/definitely/not/a/route")
        text = (await c.get("/metrics")).text
    assert _sample(text, "auralink_http_requests_total", method="GET", route="/healthz", status="2xx") == 3
    assert (
        _sample(text, "auralink_http_requests_total", method="GET", route="/j/{code}/info", status="4xx") == 1
    )
    assert _sample(text, "auralink_http_requests_total", method="GET", route="/v1/keys", status="4xx") == 1
    assert _sample(text, "auralink_http_requests_total", method="GET", route="<unmatched>", status="4xx") == 1
    assert "no-such-link-code-at-all" not in text and "definitely" not in text
    count = _sample(
        text, "auralink_http_request_duration_seconds_count", method="GET", route="/healthz", status="2xx"
    )
    assert count == 3
    # the scrape itself is in flight while it is rendered
    assert "auralink_http_requests_in_flight 1.0" in text


async def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    async with (
        open_api(sqlite_url(tmp_path), tmp_path / "a") as a,
        open_api(sqlite_url(tmp_path), tmp_path / "b") as b,
    ):
        await a.client().get("/healthz")
        text = (await b.client().get("/metrics")).text
    assert _sample(text, "auralink_http_requests_total", method="GET", route="/healthz", status="2xx") is None
