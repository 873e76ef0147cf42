"""agents.yaml `mcp:` entries: presets fill in the transport, and mistakes name the field."""

from __future__ import annotations

import pytest

from auralink.core.catalogue import check_credentials, parse_catalogue
from auralink.core.errors import SpecError
from auralink.core.spec import MCPServerSpec


def _yaml(entry: str) -> str:
    return f"version: 1\nagents:\n  - name: a\n    instructions: x\n    mcp:\n      - {entry}\n"


def _issues(entry: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_catalogue(_yaml(entry))
    return [str(i) for i in caught.value.issues]


@pytest.mark.parametrize(
    ("preset", "transport"),
    [("memory", "stdio"), ("sequential-thinking", "stdio"), ("deepwiki", "http"), ("supabase", "http")],
)
def test_a_preset_alone_is_a_valid_entry(preset: str, transport: str) -> None:
    [agent] = parse_catalogue(_yaml(f"{{name: m, preset: {preset}}}")).agents
    assert agent.mcp[0].transport == transport and agent.mcp[0].command is None


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        (
            "{name: m, preset: memory, command: npx}",
            "agents[0].mcp[0].command: the memory preset starts its own server",
        ),
        ("{name: m, preset: filesystem}", "agents[0].mcp[0].args: the filesystem preset needs the folder(s)"),
        (
            "{name: m, preset: deepwiki, transport: stdio}",
            "agents[0].mcp[0].transport: the deepwiki preset speaks http",
        ),
        ("{name: m, preset: github}", "agents[0].mcp[0].preset: got 'github'; input should be 'memory'"),
        ("{name: m, transport: stdio}", "agents[0].mcp[0]: a stdio MCP server needs `command`"),
        ("{name: m, transport: sse}", "agents[0].mcp[0]: a sse MCP server needs `url`"),
    ],
)
def test_mistakes_name_the_field(entry: str, line: str) -> None:
    assert any(f"agents.yaml:6: {line}" in issue for issue in _issues(entry))


def test_entries_written_before_presets_still_load() -> None:
    spec = MCPServerSpec.model_validate(
        {"name": "fs", "command": "npx", "args": ["-y", "srv"], "allow": ["read"], "timeout_s": 5}
    )
    assert spec.preset is None and spec.transport == "stdio" and spec.bearer_token_env is None


def test_the_supabase_token_is_a_credential_validate_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_ACCESS_TOKEN", raising=False)
    text = _yaml("{name: db, preset: supabase}")
    issues = check_credentials(parse_catalogue(text), filename="agents.yaml", text=text)
    assert [i.field for i in issues] == ["agents[0].mcp[0].bearer_token_env"]
    assert "SUPABASE_ACCESS_TOKEN" in str(issues[0])
