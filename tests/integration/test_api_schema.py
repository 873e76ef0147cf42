"""Property-based tests of the live API against its own OpenAPI schema (schemathesis).

A real API process (the ``live_api`` fixture: ``auralink api`` with livekit-server beside it,
SQLite in a temp folder) is started once; schemathesis reads ``/openapi.json`` from it and, for every operation, sends a
bounded number of generated requests (valid and invalid bodies, odd ids, odd query strings)
as an organisation's owner. Every answer must be something other than a server error, and
must match the response schema the operation documents. No answer may be a 500; another 5xx
only where the operation documents it (the live process runs no model server, so routes that
need embeddings answer their documented 502).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.integration.conftest import LiveApi

pytestmark = pytest.mark.integration

EXAMPLES = 6  # per operation: bounded, so the whole run stays around a minute


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> Any:
    return schemathesis.openapi.from_url(f"{live_api.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def no_server_error_but_documented_upstream_ones(ctx: Any, response: Any, case: Any) -> None:
    """No 500 ever; another 5xx only where the operation documents it (a 502 when the embeddings
    endpoint is down, a 503 when the database is): those say an upstream failed, not a bug."""
    status = int(response.status_code)
    if status < 500:
        return
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    if status == 500 or str(status) not in documented:
        raise AssertionError(f"{case.operation.label} answered {status}: {response.text[:300]}")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_schema(case: Any, live_api: LiveApi) -> None:
    case.call_and_validate(
        base_url=live_api.url,
        headers={"Authorization": f"Bearer {live_api.key}"},
        checks=[
            no_server_error_but_documented_upstream_ones,
            schemathesis.checks.response_schema_conformance,
            schemathesis.checks.content_type_conformance,
        ],
        timeout=30,
    )
