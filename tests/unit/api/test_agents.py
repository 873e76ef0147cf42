"""Agents as an organisation keeps them: AgentSpecs saved through the API (every save a version,
rollback, soft delete), bad specs named by field, feature toggles inherited from the
organisation, and the database agent winning over agents.yaml in the calls links start.

The same tests can run on PostgreSQL through tests/integration/test_api_postgres.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api as lk
from sqlalchemy import select

from auralink.agents import resolve_spec
from auralink.api import create_app
from auralink.api.agent_store import FEATURE_DEFAULTS, Feature
from auralink.api.db import AgentRecord, AgentVersion
from auralink.api.schemas import FeatureToggles, FeatureTogglesUpdate
from auralink.core import AgentSpec, Settings
from auralink.testing.ports import free_port
from tests.unit.api.test_auth import Api
from tests.unit.api.test_links import CATALOGUE
from tests.unit.api.test_rooms import KEY, SECRET, rooms_api

SUPPORT: dict[str, Any] = {
    "name": "support",
    "description": "Answers questions about orders",
    "instructions": "You are a support agent.",
    "greeting": "Hello!",
    "llm": {"provider": "local", "temperature": 0.2},
    "tools": [{"builtin": "current_time"}],
    "memory": {"enabled": True, "top_k": 3},
}


async def _owner(api: Api) -> httpx.AsyncClient:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")  # assistant and barista
    org = await api.signup()
    return await api.login(org.email)


async def _create(client: httpx.AsyncClient, spec: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/agents", json=spec)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def _claims(api: Api, token: str) -> lk.access_token.Claims:
    secret = api.settings.livekit_api_secret
    assert api.settings.livekit_api_key and secret is not None
    return lk.TokenVerifier(api.settings.livekit_api_key, secret.get_secret_value()).verify(token)


async def test_an_agent_is_saved_as_versions_rolled_back_and_deleted_softly(api: Api) -> None:
    owner = await _owner(api)
    created = await _create(owner, SUPPORT)
    assert (created["name"], created["source"], created["version"]) == ("support", "api", 1)
    assert created["id"].startswith("agt_") and created["warnings"] == []
    # the spec comes back in the agents.yaml shape, and the stored JSON round-trips to the same spec
    assert AgentSpec.model_validate(created["spec"]) == AgentSpec.model_validate(SUPPORT)
    async with api.db.session() as s:
        (stored,) = await s.scalars(select(AgentVersion))
        assert AgentSpec.model_validate(stored.spec) == AgentSpec.model_validate(SUPPORT)
        assert stored.spec == AgentSpec.model_validate(SUPPORT).model_dump(mode="json", by_alias=True)

    again = await owner.post("/v1/agents", json=SUPPORT)
    assert again.status_code == 409 and "PUT /v1/agents/support" in again.json()["error"]["message"]

    v2 = {**SUPPORT, "instructions": "You are a terse support agent."}
    r = await owner.put("/v1/agents/support", json=v2)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert (await owner.put("/v1/agents/support", json=v2)).json()[
        "version"
    ] == 2  # same spec: no new version
    read = (await owner.get("/v1/agents/support")).json()
    assert read["version"] == 2 and read["spec"]["instructions"] == "You are a terse support agent."

    versions = (await owner.get("/v1/agents/support/versions")).json()
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    v1 = (await owner.get("/v1/agents/support/versions/1")).json()
    assert v1["spec"]["instructions"] == "You are a support agent." and v1["current"] is False
    assert (await owner.get("/v1/agents/support/versions/9")).status_code == 404

    r = await owner.post("/v1/agents/support/rollback", json={"version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 3 and r.json()["spec"]["instructions"] == "You are a support agent."
    r = await owner.post("/v1/agents/support/rollback", json={"version": 7})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "version"
    assert [v["version"] for v in (await owner.get("/v1/agents/support/versions")).json()] == [3, 2, 1]

    assert (await owner.delete("/v1/agents/support")).status_code == 204
    assert (await owner.get("/v1/agents/support")).status_code == 404
    assert "support" not in [a["name"] for a in (await owner.get("/v1/agents")).json()]
    async with api.db.session() as s:  # deleted softly: the versions stay for the calls that ran them
        record = await s.scalar(select(AgentRecord))
        assert record is not None and record.deleted_at is not None
        assert len((await s.scalars(select(AgentVersion))).all()) == 3
    # the name can be used again; its version numbers go on, so old calls still name what ran
    assert (await _create(owner, SUPPORT))["version"] == 4


async def test_a_bad_spec_is_refused_naming_the_field(api: Api) -> None:
    owner = await _owner(api)
    base = {"name": "support", "instructions": "Help."}
    for body, field in (
        ({**base, "llm": {"provider": "gemini"}}, "llm.provider"),
        ({**base, "colour": "red"}, "colour"),
        ({**base, "llm": {"provider": "openai", "temperature": 9}}, "llm.temperature"),
        ({**base, "turn": {"detection": "psychic"}}, "turn.detection"),
        ({**base, "mcp": [{"name": "fs", "transport": "stdio"}]}, "mcp.0"),
        ({**base, "tools": [{"builtin": "current_time"}, {"builtin": "fly"}]}, "tools.1.builtin"),
        ({**base, "name": "Not A Name"}, "name"),
        ({"name": "support"}, "instructions"),
    ):
        r = await owner.post("/v1/agents", json=body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["type"] == "ValidationError"
        assert error["fields"][0]["field"] == field, (body, r.text)
    r = await owner.post("/v1/agents", json={**base, "llm": {"provider": "gemini"}})
    assert "'gemini'" in r.json()["error"]["fields"][0]["message"]
    assert (await owner.post("/v1/agents", json=[base])).status_code == 422
    await _create(owner, SUPPORT)
    r = await owner.put("/v1/agents/support", json={**SUPPORT, "name": "helpdesk"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "name"
    r = await owner.put("/v1/agents/support", json={**SUPPORT, "llm": {"provider": "gemini"}})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "llm.provider"
    assert (await owner.get("/v1/agents/support")).json()["version"] == 1  # nothing stored was lost
    assert (await owner.get("/v1/agents")).status_code == 200


async def test_missing_byok_keys_are_warnings_not_errors(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURALINK_TEST_LLM_KEY", raising=False)
    owner = await _owner(api)
    spec = {**SUPPORT, "llm": {"provider": "openai", "api_key_env": "AURALINK_TEST_LLM_KEY"}}
    created = await _create(owner, spec)
    assert [(w["field"], w["env"]) for w in created["warnings"]] == [
        ("llm.api_key_env", "AURALINK_TEST_LLM_KEY")
    ]
    monkeypatch.setenv("AURALINK_TEST_LLM_KEY", "sk-test")
    assert (await owner.get("/v1/agents/support")).json()["warnings"] == []


async def test_toggles_come_from_the_agent_else_the_organisation_else_the_defaults(api: Api) -> None:
    owner = await _owner(api)
    org_id = (await owner.get("/v1/auth/me")).json()["org_id"]
    defaults = {f.value: on for f, on in FEATURE_DEFAULTS.items()}
    assert set(FeatureToggles.model_fields) == set(FeatureTogglesUpdate.model_fields) == set(Feature)
    listed = {a["name"]: a for a in (await owner.get("/v1/agents")).json()}
    assert listed["barista"]["features"] == defaults and listed["barista"]["source"] == "file"

    r = await owner.patch(f"/v1/organisations/{org_id}/features", json={"recording": True, "memory": False})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "features": {**defaults, "recording": True, "memory": False},
        "overrides": {"recording": True, "memory": False},
    }
    assert (await owner.get(f"/v1/organisations/{org_id}/features")).json() == r.json()
    created = await _create(owner, SUPPORT)
    assert created["features"] == {**defaults, "recording": True, "memory": False}
    assert created["feature_overrides"] == {}

    r = await owner.patch("/v1/agents/support/features", json={"memory": True, "mcp": False})
    assert r.status_code == 200, r.text
    assert r.json()["features"] == {**defaults, "recording": True, "memory": True, "mcp": False}
    assert r.json()["feature_overrides"] == {"memory": True, "mcp": False}
    assert r.json()["version"] == 1  # toggles are not spec versions
    r = await owner.patch("/v1/agents/support/features", json={"memory": None})  # back to inheriting
    assert r.json()["features"]["memory"] is False and r.json()["feature_overrides"] == {"mcp": False}
    await owner.patch(f"/v1/organisations/{org_id}/features", json={"recording": None})
    agent = (await owner.get("/v1/agents/support")).json()
    assert agent["features"] == {**defaults, "memory": False, "mcp": False}
    listed = {a["name"]: a for a in (await owner.get("/v1/agents")).json()}
    assert listed["barista"]["features"] == {**defaults, "memory": False}  # file agents follow the org

    r = await owner.patch("/v1/agents/support/features", json={"telepathy": True})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "telepathy"
    r = await owner.patch(f"/v1/organisations/{org_id}/features", json={"memory": "yes please"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "memory"
    developer = await api.member(owner, "developer", "d@acme.test")
    assert (
        await developer.patch(f"/v1/organisations/{org_id}/features", json={"mcp": True})
    ).status_code == 403
    assert (await developer.get(f"/v1/organisations/{org_id}/features")).status_code == 200


async def test_a_database_agent_shadows_the_file_one_in_a_link_session(api: Api) -> None:
    owner = await _owner(api)
    org_id = (await owner.get("/v1/auth/me")).json()["org_id"]
    link = (await owner.post("/v1/links", json={"agent": "barista"})).json()

    async def dispatch() -> tuple[dict[str, Any], dict[str, Any]]:
        r = await api.client().post(f"/j/{link['code']}/session", json={})
        assert r.status_code == 201, r.text
        config = _claims(api, r.json()["token"]).room_config
        assert config is not None
        (agent,) = config.agents
        return json.loads(agent.metadata), json.loads(config.metadata)

    defaults = {
        "memory": True,
        "recording": False,
        "translation": True,
        "moderation": True,
        "mcp": True,
        "notes": True,
        "files": True,
    }
    metadata, room = await dispatch()
    assert metadata == {"agent": "barista", "org": org_id, "features": defaults}
    assert "agent_version" not in room

    mine = {"name": "barista", "instructions": "You take tea orders only.", "greeting": "Tea?"}
    await _create(owner, mine)
    listed = {a["name"]: a for a in (await owner.get("/v1/agents")).json()}
    assert (listed["barista"]["source"], listed["barista"]["version"]) == ("api", 1)
    assert listed["assistant"]["source"] == "file"
    await owner.put("/v1/agents/barista", json={**mine, "greeting": "Tea, anyone?"})

    metadata, room = await dispatch()
    assert (metadata["agent"], metadata["org"], metadata["version"]) == ("barista", org_id, 2)
    assert (room["agent"], room["agent_version"], room["link"]) == ("barista", 2, link["id"])
    # the worker runs the spec the dispatch carries, not the file's barista
    spec = resolve_spec(json.dumps(metadata), api.settings)
    assert spec.instructions == "You take tea orders only." and spec.greeting == "Tea, anyone?"

    await owner.delete("/v1/agents/barista")
    metadata, _ = await dispatch()
    assert metadata == {"agent": "barista", "org": org_id, "features": defaults}  # the file agent again
    assert resolve_spec(json.dumps(metadata), api.settings).instructions == "You take coffee orders."


async def test_links_accept_the_organisations_database_agents_only(api: Api) -> None:
    owner = await _owner(api)
    await _create(owner, SUPPORT)
    r = await owner.post("/v1/links", json={"agent": "support"})
    assert r.status_code == 201, r.text
    other = await api.login((await api.signup("Globex")).email)
    r = await other.post("/v1/links", json={"agent": "support"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "agent"
    assert "support" not in r.json()["error"]["message"].split("known: ")[1]
    assert (await other.post("/v1/links", json={"agent": "barista"})).status_code == 201


async def test_rooms_dispatch_the_organisations_database_agents(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        LIVEKIT_URL=f"ws://127.0.0.1:{free_port()}",  # nothing listens: a room gets as far as LiveKit
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
        data_dir=tmp_path / "data",
        agents_file=tmp_path / "agents.yaml",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'auralink.db'}",
    )
    async with rooms_api(settings) as rooms:
        owner = await rooms.login((await rooms.signup()).email)
        await _create(owner, SUPPORT)
        r = await owner.post("/v1/rooms", json={"agents": ["assistant", "support"]})
        assert r.status_code == 502, r.text  # both agents known; LiveKit is not running here
        other = await rooms.login((await rooms.signup("Globex")).email)
        r = await other.post("/v1/rooms", json={"agents": ["assistant", "support"]})
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "agents.1"


async def test_import_copies_the_catalogue_and_leaves_existing_names_alone(api: Api) -> None:
    owner = await _owner(api)
    await _create(owner, {"name": "assistant", "instructions": "My own assistant."})
    r = await owner.post("/v1/agents/import")
    assert r.status_code == 200, r.text
    assert r.json() == {"copied": ["barista"], "skipped": ["assistant"]}
    listed = {a["name"]: a for a in (await owner.get("/v1/agents")).json()}
    assert (listed["barista"]["source"], listed["barista"]["version"]) == ("catalogue", 1)
    assert listed["assistant"]["source"] == "api"
    assert (await owner.get("/v1/agents/assistant")).json()["spec"]["instructions"] == "My own assistant."
    assert (await owner.post("/v1/agents/import")).json() == {
        "copied": [],
        "skipped": ["assistant", "barista"],
    }
    # once in the database, editing agents.yaml no longer changes the organisation's barista
    api.settings.agents_file.write_text(CATALOGUE.replace("coffee", "juice"), encoding="utf-8")
    assert (await owner.get("/v1/agents/barista")).json()["spec"]["instructions"] == "You take coffee orders."


async def test_file_agents_are_read_but_changed_in_the_file(api: Api) -> None:
    owner = await _owner(api)
    read = (await owner.get("/v1/agents/barista")).json()
    assert (read["source"], read["version"], read["id"]) == ("file", None, None)
    for r in (
        await owner.put("/v1/agents/barista", json={"name": "barista", "instructions": "x"}),
        await owner.delete("/v1/agents/barista"),
        await owner.get("/v1/agents/barista/versions"),
        await owner.post("/v1/agents/barista/rollback", json={"version": 1}),
        await owner.patch("/v1/agents/barista/features", json={"memory": False}),
    ):
        assert r.status_code == 409 and "agents.yaml" in r.json()["error"]["message"], r.text


async def test_other_organisations_agents_answer_404_on_every_route(api: Api) -> None:
    owner = await _owner(api)
    await _create(owner, SUPPORT)
    other = await api.login((await api.signup("Globex")).email)
    assert "support" not in [a["name"] for a in (await other.get("/v1/agents")).json()]
    for name in ("support", "no-such-agent", "Not%20A%20Name", "agt_0123456789abcdef"):
        for r in (
            await other.get(f"/v1/agents/{name}"),
            await other.put(f"/v1/agents/{name}", json=SUPPORT),
            await other.delete(f"/v1/agents/{name}"),
            await other.get(f"/v1/agents/{name}/versions"),
            await other.get(f"/v1/agents/{name}/versions/1"),
            await other.post(f"/v1/agents/{name}/rollback", json={"version": 1}),
            await other.patch(f"/v1/agents/{name}/features", json={"memory": False}),
        ):
            assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound", (name, r.text)
    assert (await owner.get("/v1/agents/support")).json()["version"] == 1


async def test_roles_fence_agents(api: Api) -> None:
    owner = await _owner(api)
    await _create(owner, SUPPORT)
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert (await viewer.get("/v1/agents")).status_code == 200
    assert (await viewer.get("/v1/agents/support")).status_code == 200
    assert (await viewer.get("/v1/agents/support/versions/1")).status_code == 200
    for r in (
        await viewer.post("/v1/agents", json={**SUPPORT, "name": "viewer-bot"}),
        await viewer.post("/v1/agents/import"),
        await viewer.put("/v1/agents/support", json={**SUPPORT, "greeting": "Yo"}),
        await viewer.post("/v1/agents/support/rollback", json={"version": 1}),
        await viewer.patch("/v1/agents/support/features", json={"memory": False}),
        await viewer.delete("/v1/agents/support"),
    ):
        assert r.status_code == 403, r.text
    developer = await api.member(owner, "developer", "d@acme.test")
    assert (await developer.post("/v1/agents", json={**SUPPORT, "name": "dev-bot"})).status_code == 201
    read_only = api.client(key=(await api.key(owner, scopes=["agents:read"]))["secret"])
    assert (await read_only.get("/v1/agents")).status_code == 200
    assert (await read_only.post("/v1/agents", json={**SUPPORT, "name": "key-bot"})).status_code == 403
    assert (await api.client().get("/v1/agents")).status_code == 401


def test_openapi_documents_the_spec_body_and_the_error_answers(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        data_dir=tmp_path,
    )
    spec = create_app(settings, web_dist=tmp_path / "no-dist").openapi()
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/v1/agents"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    while "$ref" in body:  # AgentSpecBody, documented as the AgentSpec it carries
        body = schemas[body["$ref"].rsplit("/", 1)[1]]
    assert {"name", "instructions", "llm", "class"} <= set(body["properties"])
    assert schemas["AgentSpecBody"]["examples"][0]["name"] == "support"
    for path, ops in spec["paths"].items():
        if path.startswith("/v1/agents"):
            for method, op in ops.items():
                assert {"401", "403"} <= set(op["responses"]), (method, path)
                assert op.get("summary") and op.get("description"), (method, path)  # the docstring
