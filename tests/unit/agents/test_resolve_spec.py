"""Which spec a job runs: the spec a dispatch carries (an organisation's database agent) wins
over the agents.yaml entry of the same name; plain ``{"agent": name}`` still runs the file's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auralink.agents import resolve_spec
from auralink.core import AgentSpec, ConfigError, Settings, UnknownAgent

CATALOGUE = """\
version: 1
agents:
  - name: assistant
    instructions: You are the assistant from the file.
  - name: barista
    instructions: You take coffee orders.
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    agents_file = tmp_path / "agents.yaml"
    agents_file.write_text(CATALOGUE, encoding="utf-8")
    return Settings(_env_file=None, agents_file=agents_file, default_agent="assistant")


def _stored(**fields: object) -> dict[str, object]:
    """A spec as the API stores and dispatches it."""
    spec = AgentSpec.model_validate({"name": "assistant", "instructions": "From the database.", **fields})
    return spec.model_dump(mode="json", by_alias=True)


def test_the_spec_in_the_metadata_runs_instead_of_the_file_entry(settings: Settings) -> None:
    stored = _stored(greeting="Hi from v3", llm={"provider": "local", "temperature": 0.1})
    metadata = json.dumps({"agent": "assistant", "org": "org_0123456789abcdef", "version": 3, "spec": stored})
    spec = resolve_spec(metadata, settings)
    assert spec.instructions == "From the database." and spec.greeting == "Hi from v3"
    assert spec.llm.provider == "local" and spec.llm.temperature == 0.1
    assert spec == AgentSpec.model_validate(stored)  # what was saved is what runs


def test_a_dispatch_naming_only_the_agent_runs_the_file_entry(settings: Settings) -> None:
    assert resolve_spec(json.dumps({"agent": "barista"}), settings).instructions == "You take coffee orders."
    org_only = json.dumps({"agent": "assistant", "org": "org_0123456789abcdef"})
    assert resolve_spec(org_only, settings).instructions == "You are the assistant from the file."
    assert resolve_spec(None, settings).name == "assistant"  # no metadata: the default agent
    with pytest.raises(UnknownAgent, match="nobody"):
        resolve_spec(json.dumps({"agent": "nobody"}), settings)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"llm": {"provider": "gemini"}}, "llm.provider"),
        ({"llm": {"provider": "openai", "temperature": 9}}, "llm.temperature"),
        ({"colour": "red"}, "colour"),
        (
            {"mcp": [{"name": "fs", "transport": "stdio"}]},
            r"mcp\[0\]",
        ),  # the path as `auralink agents validate` writes it
    ],
)
def test_a_bad_spec_in_the_metadata_is_a_config_error_naming_the_field(
    settings: Settings, fields: dict[str, object], where: str
) -> None:
    spec = {"name": "assistant", "instructions": "x", **fields}
    metadata = json.dumps({"agent": "assistant", "version": 2, "spec": spec})
    with pytest.raises(ConfigError, match=rf"'assistant'.*not valid: {where}: "):
        resolve_spec(metadata, settings)


def test_a_spec_that_is_not_an_object_or_not_the_named_agent_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        resolve_spec(json.dumps({"agent": "assistant", "spec": "assistant"}), settings)
    with pytest.raises(ConfigError, match="names agent 'barista' but its spec is agent 'assistant'"):
        resolve_spec(json.dumps({"agent": "barista", "spec": _stored()}), settings)


def test_the_organisations_toggles_switch_memory_and_mcp_off(settings: Settings) -> None:
    spec = {
        "name": "helper",
        "instructions": "Help.",
        "memory": {"enabled": True},
        "mcp": [{"name": "notes", "command": "npx", "args": ["@modelcontextprotocol/server-memory"]}],
    }
    on = resolve_spec(json.dumps({"agent": "helper", "spec": spec, "features": {"memory": True}}), settings)
    assert on.memory.enabled and len(on.mcp) == 1
    off = {"memory": False, "mcp": False, "recording": False}
    resolved = resolve_spec(json.dumps({"agent": "helper", "spec": spec, "features": off}), settings)
    assert resolved.memory.enabled is False and resolved.mcp == []
    assert resolved.instructions == "Help."  # the rest of the spec is untouched
