"""From an agents.yaml MCP entry to the command line or URL (and headers) that reach the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auralink.core.errors import ConfigError, MissingCredential
from auralink.core.spec import MCPServerSpec
from auralink.mcp import HttpLaunch, StdioLaunch, default_servers_dir, launch_for


def _fake_servers(root: Path, package: str, bin_name: str) -> Path:
    package_dir = root / "node_modules" / package
    (package_dir / "dist").mkdir(parents=True)
    (package_dir / "dist" / "index.js").write_text("// server\n")
    (package_dir / "package.json").write_text(json.dumps({"bin": {bin_name: "dist/index.js"}}))
    return root


def test_a_custom_stdio_server_runs_its_command_with_its_env(tmp_path: Path) -> None:
    spec = MCPServerSpec(name="tickets", command="tickets-mcp", args=["--ro"], env={"LEVEL": "2"})
    launch = launch_for(spec, data_dir=tmp_path)
    assert launch == StdioLaunch(command="tickets-mcp", args=("--ro",), env={"LEVEL": "2"})


def test_the_memory_preset_runs_the_installed_package_with_node_and_keeps_its_file_in_the_data_dir(
    tmp_path: Path,
) -> None:
    servers = _fake_servers(tmp_path / "servers", "@modelcontextprotocol/server-memory", "mcp-server-memory")
    launch = launch_for(
        MCPServerSpec(name="graph", preset="memory"), data_dir=tmp_path / "data", servers_dir=servers
    )
    assert isinstance(launch, StdioLaunch)
    assert Path(launch.command).name == "node"
    assert launch.args == (str(servers / "node_modules/@modelcontextprotocol/server-memory/dist/index.js"),)
    assert launch.env["MEMORY_FILE_PATH"] == str((tmp_path / "data" / "mcp" / "graph.jsonl").absolute())


def test_the_memory_file_can_be_chosen(tmp_path: Path) -> None:
    servers = _fake_servers(tmp_path, "@modelcontextprotocol/server-memory", "mcp-server-memory")
    spec = MCPServerSpec(name="graph", preset="memory", env={"MEMORY_FILE_PATH": "/srv/graph.jsonl"})
    launch = launch_for(spec, data_dir=tmp_path, servers_dir=servers)
    assert isinstance(launch, StdioLaunch) and launch.env["MEMORY_FILE_PATH"] == "/srv/graph.jsonl"


def test_the_setup_script_installs_every_npm_preset() -> None:
    manifest = json.loads((default_servers_dir() / "package.json").read_text())
    assert set(manifest["dependencies"]) == {
        "@modelcontextprotocol/server-memory",
        "@modelcontextprotocol/server-sequential-thinking",
        "@modelcontextprotocol/server-filesystem",
    }
    lock = json.loads((default_servers_dir() / "package-lock.json").read_text())
    assert all(f"node_modules/{name}" in lock["packages"] for name in manifest["dependencies"])


def test_a_preset_that_is_not_installed_says_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not installed .* \(run scripts/setup.sh\)"):
        launch_for(
            MCPServerSpec(name="t", preset="sequential-thinking"), data_dir=tmp_path, servers_dir=tmp_path
        )


def test_the_filesystem_preset_exposes_existing_folders_only(tmp_path: Path) -> None:
    servers = _fake_servers(
        tmp_path / "s", "@modelcontextprotocol/server-filesystem", "mcp-server-filesystem"
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    launch = launch_for(
        MCPServerSpec(name="docs", preset="filesystem", args=[str(docs)]),
        data_dir=tmp_path,
        servers_dir=servers,
    )
    assert isinstance(launch, StdioLaunch) and launch.args[-1] == str(docs)
    with pytest.raises(ConfigError, match="not a folder"):
        launch_for(
            MCPServerSpec(name="docs", preset="filesystem", args=[str(tmp_path / "nope")]),
            data_dir=tmp_path,
            servers_dir=servers,
        )


def test_deepwiki_is_reached_over_streamable_http_without_secrets(tmp_path: Path) -> None:
    launch = launch_for(MCPServerSpec(name="wiki", preset="deepwiki"), data_dir=tmp_path, environ={})
    assert launch == HttpLaunch(url="https://mcp.deepwiki.com/mcp", transport="http", headers={})


def test_supabase_sends_the_token_from_env_as_a_bearer_and_never_shows_it(tmp_path: Path) -> None:
    spec = MCPServerSpec(name="db", preset="supabase", url="https://mcp.supabase.com/mcp?read_only=true")
    launch = launch_for(spec, data_dir=tmp_path, environ={"SUPABASE_ACCESS_TOKEN": "sbp_secret"})
    assert isinstance(launch, HttpLaunch)
    assert launch.url == "https://mcp.supabase.com/mcp?read_only=true"
    assert launch.headers == {"Authorization": "Bearer sbp_secret"}
    assert "sbp_secret" not in repr(launch)


def test_a_missing_secret_names_the_env_var(tmp_path: Path) -> None:
    spec = MCPServerSpec(
        name="wiki", transport="http", url="https://x.test/mcp", headers_env={"X-Key": "WIKI_KEY"}
    )
    with pytest.raises(MissingCredential, match="WIKI_KEY") as caught:
        launch_for(spec, data_dir=tmp_path, environ={})
    assert caught.value.env_var == "WIKI_KEY"
    with pytest.raises(MissingCredential, match="SUPABASE_ACCESS_TOKEN"):
        launch_for(MCPServerSpec(name="db", preset="supabase"), data_dir=tmp_path, environ={})


def test_sse_servers_keep_their_transport_and_urls_must_be_http(tmp_path: Path) -> None:
    launch = launch_for(
        MCPServerSpec(name="old", transport="sse", url="http://127.0.0.1:9/sse"), data_dir=tmp_path
    )
    assert isinstance(launch, HttpLaunch) and launch.transport == "sse"
    with pytest.raises(ConfigError, match="http:// or https://"):
        launch_for(MCPServerSpec(name="bad", transport="http", url="ftp://x/mcp"), data_dir=tmp_path)
