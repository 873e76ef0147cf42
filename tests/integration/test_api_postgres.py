"""The management API's behaviour tests, run on SQLite and on a real PostgreSQL server.

The tests are the ones in tests/unit/api (auth, keys, members, links, webhooks, agents, calls,
usage, analytics, audit, GDPR); here ``db_url`` is
parametrised over both backends. PostgreSQL is a private server started once for the session
by :class:`auralink.testing.postgres.PostgresServer`, with a fresh database per test.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from auralink.testing.postgres import PostgresServer
from tests.unit.api import (
    test_agents,
    test_analytics,
    test_audit,
    test_auth,
    test_calls,
    test_gdpr,
    test_keys,
    test_links,
    test_meeting_moderation,
    test_meeting_notes_files,
    test_meeting_search,
    test_members,
    test_usage,
    test_webhooks,
)
from tests.unit.api.test_auth import Api, open_api, sqlite_url
from tests.unit.api.test_webhooks import receiver  # the webhook tests' local HTTP receiver

pytestmark = pytest.mark.integration

__all__ = ["receiver"]  # a fixture the collected webhook tests ask for

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer.start() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"test_{next(_counter)}")


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(db_url, tmp_path) as harness:
        yield harness


# every behaviour test that runs on a database, collected here under the parametrised db_url
_MODULES = (
    test_auth,
    test_keys,
    test_members,
    test_links,
    test_webhooks,
    test_agents,
    test_calls,
    test_usage,
    test_analytics,
    test_audit,
    test_gdpr,
    test_meeting_moderation,
    test_meeting_notes_files,
    test_meeting_search,
)
for _module in _MODULES:
    for _name, _test in vars(_module).items():
        is_test = _name.startswith("test_") and inspect.isfunction(_test)
        if is_test and {"api", "db_url"} & set(inspect.signature(_test).parameters):
            globals()[_name] = _test
