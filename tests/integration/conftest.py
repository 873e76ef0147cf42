"""A live API process for the tests that drive it over HTTP (schemathesis, the client, the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from auralink.cli.stack import Stack
from auralink.testing.stack import private_stack_settings

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "live-api-password-0"


@dataclass(frozen=True)
class LiveApi:
    url: str
    key: str  # an owner's API key of the organisation made for the tests
    org_id: str


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """``auralink api`` (with livekit-server beside it, SQLite in a temp folder, no rate limits)."""
    data = tmp_path_factory.mktemp("live-api")
    settings = private_stack_settings(data, agents_file=REPO / "agents.yaml").model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{data / 'api.db'}",
            "rate_limit_enabled": False,
            "webhook_allow_private_networks": True,  # the tests register webhooks on 127.0.0.1
        }
    )
    with Stack(settings, services=["livekit", "api"], run_dir=data / "run") as stack:
        url = f"http://127.0.0.1:{stack.settings.api_port}"
        with httpx.Client(base_url=url, timeout=30) as http:
            owner = {"email": "owner@live.test", "name": "Owner", "password": PASSWORD}
            made = http.post("/v1/organisations", json={"name": "Live", "owner": owner})
            made.raise_for_status()
            login = {"email": owner["email"], "password": PASSWORD}
            http.post("/v1/auth/login", json=login).raise_for_status()
            key = http.post("/v1/keys", json={"name": "tests", "role": "owner"})
            key.raise_for_status()
            http.post("/v1/links", json={"agent": "assistant"}).raise_for_status()
        yield LiveApi(url=url, key=key.json()["secret"], org_id=made.json()["organisation"]["id"])
