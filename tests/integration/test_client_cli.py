"""The Python client and the ``auralink`` management commands, against the live API process.

Each test works in an organisation of its own (signed up through the API), with an owner key.
The CLI runs as a real subprocess (``python -m auralink …``) with AURALINK_API_URL/KEY set.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from auralink.client import ApiError, AuraLink
from tests.integration.conftest import LiveApi

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _own_org(live: LiveApi) -> str:
    """A new organisation with an owner; returns an owner API key."""
    tag = secrets.token_hex(4)
    email = f"owner-{tag}@client.test"
    with httpx.Client(base_url=live.url, timeout=30) as http:
        owner = {"email": email, "name": "Owner", "password": "client-test-password"}
        http.post("/v1/organisations", json={"name": f"Client {tag}", "owner": owner}).raise_for_status()
        http.post("/v1/auth/login", json={"email": email, "password": owner["password"]}).raise_for_status()
        key = http.post("/v1/keys", json={"name": "client", "role": "owner"})
        key.raise_for_status()
        secret: str = key.json()["secret"]
        return secret


async def test_the_client_drives_keys_agents_links_webhooks_usage_audit_and_gdpr(live_api: LiveApi) -> None:
    key = _own_org(live_api)
    async with AuraLink(base_url=live_api.url, api_key=key) as al:
        # keys: made, listed without secrets, revoked (and then refused)
        made = await al.keys.create(name="ci", role="developer")
        assert made["secret"].startswith("al_")
        assert all("secret" not in k for k in await al.keys.list())
        async with AuraLink(base_url=live_api.url, api_key=made["secret"]) as dev:
            assert await dev.links.list() == []
            await al.keys.revoke(made["id"])
            with pytest.raises(ApiError) as refused:
                await dev.links.list()
            assert refused.value.status == 401

        # agents: a database agent with versions and a rollback
        spec = {"name": "concierge", "instructions": "You help hotel guests.", "greeting": "Hello!"}
        assert (await al.agents.create(spec))["version"] == 1
        assert (await al.agents.update("concierge", {**spec, "greeting": "Welcome!"}))["version"] == 2
        assert [v["version"] for v in await al.agents.versions("concierge")] == [2, 1]
        rolled = await al.agents.rollback("concierge", version=1)
        assert rolled["version"] == 3 and rolled["spec"]["greeting"] == "Hello!"
        with pytest.raises(ApiError) as bad:
            await al.agents.create({"name": "broken", "instructions": "x", "llm": {"provider": "gemini"}})
        assert bad.value.status == 422 and any(f["field"] == "llm.provider" for f in bad.value.fields)

        # links to that agent, revoked
        link = await al.links.create(agent="concierge", max_uses=3, display_name="Front desk")
        assert link["url"].endswith(f"/j/{link['code']}")
        assert (await al.links.revoke(link["id"]))["state"] == "revoked"

        # webhooks: an endpoint, a test event queued
        hook = await al.webhooks.create(url="http://127.0.0.1:9/hook", events=["call.ended"])
        assert hook["secret"].startswith("whsec_")
        await al.webhooks.test(hook["id"])
        assert len(await al.webhooks.deliveries(hook["id"])) == 1

        # usage, plan, CSV, analytics, calls (none made here)
        assert (await al.usage.plan())["plan"] == "free"
        assert (await al.usage.set_plan("pro"))["plan"] == "pro"
        report = await al.usage.report()
        assert set(report["totals"]) >= {"api_calls", "call_seconds", "llm_prompt_tokens"}, report
        assert (await al.usage.export_csv()).splitlines()[0] == "day,agent,metric,quantity"
        analytics = await al.analytics.get()
        assert analytics["calls"] == 0 and analytics["cost"] is not None
        assert (await al.calls.list())["items"] == []

        # audit: the changes above are there, and the chain holds
        page = await al.audit.list(action="agent.")
        assert page["items"], page
        assert (await al.audit.verify())["ok"] is True

        # GDPR: an export is a zip with a manifest; erasing a stranger removes nothing
        archive = await al.gdpr.export(kind="identity", value="guest-nobody")
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            assert "manifest.json" in z.namelist()
        assert (await al.gdpr.erase(kind="identity", value="guest-nobody"))["total"] == 0

        # another organisation's ids answer 404
        with pytest.raises(ApiError) as missing:
            await al.links.get("lnk_0000000000000000")
        assert missing.value.status == 404


def _cli(
    live: LiveApi, key: str, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AURALINK_API_URL": live.url,
        "AURALINK_API_KEY": key,
        "AURALINK_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "auralink", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        cwd=cwd or REPO,
        timeout=60,
        check=False,
    )


def test_the_cli_manages_links_agents_calls_webhooks_and_usage(live_api: LiveApi, tmp_path: Path) -> None:
    key = _own_org(live_api)
    catalogue = tmp_path / "agents.yaml"
    catalogue.write_text(
        "version: 1\nagents:\n  - name: barista\n    instructions: You take coffee orders.\n",
        encoding="utf-8",
    )

    pushed = _cli(live_api, key, "agents", "push", "--file", str(catalogue))
    assert pushed.returncode == 0, pushed.stderr
    assert "barista: version 1 saved" in pushed.stdout
    catalogue.write_text(catalogue.read_text().replace("coffee", "tea"), encoding="utf-8")
    assert (
        "barista: version 2 saved" in _cli(live_api, key, "agents", "push", "--file", str(catalogue)).stdout
    )
    pulled = _cli(live_api, key, "agents", "pull", "barista", "--version", "1")
    assert pulled.returncode == 0 and "You take coffee orders." in pulled.stdout
    remote = _cli(live_api, key, "agents", "remote")
    assert any(line.split()[:3] == ["barista", "api", "2"] for line in remote.stdout.splitlines()), (
        remote.stdout
    )

    made = _cli(live_api, key, "links", "create", "barista", "--max-uses", "5", "--json")
    assert made.returncode == 0, made.stderr
    link = json.loads(made.stdout)
    listed = _cli(live_api, key, "links", "list")
    assert link["id"] in listed.stdout and "barista" in listed.stdout
    shown = _cli(live_api, key, "links", "create", "barista")
    assert shown.stdout.splitlines()[0].startswith("url: http")  # what to copy comes first

    hook = _cli(live_api, key, "webhooks", "create", "http://127.0.0.1:9/x", "--event", "call.started")
    assert hook.returncode == 0 and "secret: whsec_" in hook.stdout
    assert "shown once" in hook.stderr

    calls = _cli(live_api, key, "calls", "list")
    assert calls.returncode == 0 and calls.stdout.strip() == "(none)"

    rows = list(csv.reader(io.StringIO(_cli(live_api, key, "usage", "csv").stdout)))
    assert rows[0] == ["day", "agent", "metric", "quantity"]
    plan = _cli(live_api, key, "usage", "plan")
    assert plan.returncode == 0 and "plan: free" in plan.stdout

    # the API's refusals are clear errors with exit 1; a missing key is a config error (exit 2)
    gone = _cli(live_api, key, "links", "revoke", "lnk_0000000000000000")
    assert gone.returncode == 1 and "error:" in gone.stderr and "404" in gone.stderr
    bad = _cli(live_api, key, "links", "create", "no-such-agent")
    assert bad.returncode == 1 and "agent" in bad.stderr
    nokey = _cli(live_api, "", "links", "list")
    assert nokey.returncode == 2 and "AURALINK_API_KEY" in nokey.stderr
