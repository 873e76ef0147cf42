"""Property-based tests of the live API against its own OpenAPI schema (schemathesis).

A real API process (``auralink api`` with livekit-server beside it, SQLite in a temp folder) is
started once; schemathesis reads ``/openapi.json`` from it and, for every operation, sends a
bounded number of generated requests (valid and invalid bodies, odd ids, odd query strings)
as an organisation's owner. Every answer must be something other than a server error, and
must match the response schema the operation documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from auralink.cli.stack import Stack
from auralink.testing.stack import private_stack_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "schema-test-password-0"
EXAMPLES = 6  # per operation: bounded, so the whole run stays around a minute


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, an owner's API key) of a running API."""
    data = tmp_path_factory.mktemp("schema-api")
    base_settings = private_stack_settings(data, agents_file=REPO / "agents.yaml").model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{data / 'api.db'}", "rate_limit_enabled": False}
    )
    with Stack(base_settings, services=["livekit", "api"], run_dir=data / "run") as stack:
        base = f"http://127.0.0.1:{stack.settings.api_port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            owner = {"email": "owner@schema.test", "name": "Owner", "password": PASSWORD}
            http.post("/v1/organisations", json={"name": "Schema", "owner": owner}).raise_for_status()
            login = {"email": owner["email"], "password": PASSWORD}
            http.post("/v1/auth/login", json=login).raise_for_status()
            key = http.post("/v1/keys", json={"name": "schemathesis"})
            key.raise_for_status()
            http.post("/v1/links", json={"agent": "assistant"}).raise_for_status()
        yield base, key.json()["secret"]


@pytest.fixture(scope="module")
def api_schema(live_api: tuple[str, str]) -> Any:
    base, _ = live_api
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_schema(case: Any, live_api: tuple[str, str]) -> None:
    base, key = live_api
    case.call_and_validate(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.response_schema_conformance,
            schemathesis.checks.content_type_conformance,
        ],
        timeout=30,
    )
