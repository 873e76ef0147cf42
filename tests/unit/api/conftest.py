"""Fixtures shared by the API tests: a fresh SQLite database and an API harness on it per test.

tests/integration/test_api_postgres.py runs the same test functions with its own ``db_url``
(SQLite and a throwaway PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.api.test_auth import Api, open_api, sqlite_url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(db_url, tmp_path) as harness:
        yield harness
