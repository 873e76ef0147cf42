"""A PostgreSQL restart in the middle of traffic: no acknowledged write is lost, nothing answers 500.

Eight writers create share links as fast as the API lets them while the database server is
restarted (fast shutdown: every open connection is cut). Each request either got a 201, and
then its link must be stored, or a 503 with ``Retry-After`` saying the database is not
answering. Once the server is back the same API process serves requests again, on fresh
connections (the pool pings before reuse).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from auralink.api.db import ShareLink
from auralink.testing.postgres import PostgresServer
from tests.unit.api.test_auth import open_api

pytestmark = pytest.mark.integration

CATALOGUE = """\
version: 1
agents:
  - name: barista
    instructions: You take coffee orders.
"""


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer.start() as server:  # its own cluster: the restart touches no other test
        yield server


async def test_a_database_restart_mid_traffic_loses_no_acknowledged_write(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    (tmp_path / "agents.yaml").write_text(CATALOGUE, encoding="utf-8")
    url = postgres.create_database("restart")
    async with open_api(url, tmp_path, rate_limit_enabled=False) as api:
        org = await api.signup()
        owner = await api.login(org.email)
        acknowledged: list[str] = []
        statuses: Counter[int] = Counter()
        stop = asyncio.Event()

        async def writer(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"agent": "barista", "display_name": f"writer {i} link {n}"}
                r = await owner.post("/v1/links", json=body)
                statuses[r.status_code] += 1
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
                else:
                    assert r.status_code == 503, r.text
                    assert r.headers.get("retry-after"), r.headers
                    assert r.json()["error"]["type"] == "ServiceUnavailable"
                    await asyncio.sleep(0.05)

        async def acknowledged_beyond(count: int, within: float) -> bool:
            # progress, not a fixed sleep: a busy CI machine acknowledged nothing in the first second
            deadline = asyncio.get_running_loop().time() + within
            while len(acknowledged) <= count:
                if asyncio.get_running_loop().time() > deadline:
                    return False
                await asyncio.sleep(0.05)
            return True

        writers = [asyncio.create_task(writer(i)) for i in range(8)]
        try:
            assert await acknowledged_beyond(20, within=30.0), f"no writes before the restart: {statuses}"
            await asyncio.to_thread(postgres.restart)
            restarted = len(acknowledged)
            recovered = await acknowledged_beyond(restarted + 20, within=30.0)
        finally:
            stop.set()
            await asyncio.gather(*writers)

        assert recovered, f"no write succeeded after the restart: {statuses}"
        async with api.db.session() as session:
            stored = set(await session.scalars(select(ShareLink.id)))
        lost = set(acknowledged) - stored
        assert not lost, f"{len(lost)} acknowledged link(s) missing after the restart"
        assert len(acknowledged) == len(set(acknowledged))

        listed = await owner.get("/v1/links", params={"limit": 5})
        assert listed.status_code == 200, listed.text
