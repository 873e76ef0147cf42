"""Which tools of a server an agent gets: allow, deny, and the read-only filesystem preset."""

from __future__ import annotations

from auralink.core.spec import MCPServerSpec
from auralink.mcp import ToolPolicy


def _policy(**fields: object) -> ToolPolicy:
    return ToolPolicy.for_spec(MCPServerSpec.model_validate({"name": "s", "command": "srv", **fields}))


def test_without_lists_every_tool_is_offered() -> None:
    assert _policy().permits("anything")


def test_allow_is_a_whitelist_and_deny_always_wins() -> None:
    policy = _policy(allow=["search_nodes", "read_graph"], deny=["read_graph"])
    assert policy.permits("search_nodes")
    assert not policy.permits("read_graph")
    assert not policy.permits("delete_entities")


def test_deny_alone_removes_just_those_tools() -> None:
    policy = _policy(deny=["delete_entities"])
    assert not policy.permits("delete_entities") and policy.permits("create_entities")


def test_the_filesystem_preset_is_read_only_unless_allow_names_a_write_tool() -> None:
    read_only = ToolPolicy.for_spec(MCPServerSpec(name="docs", preset="filesystem", args=["."]))
    assert read_only.permits("read_text_file") and read_only.permits("list_directory")
    assert not any(read_only.permits(t) for t in ("write_file", "edit_file", "move_file", "create_directory"))
    writer = ToolPolicy.for_spec(
        MCPServerSpec(name="docs", preset="filesystem", args=["."], allow=["read_text_file", "write_file"])
    )
    assert writer.permits("write_file") and not writer.permits("edit_file")
