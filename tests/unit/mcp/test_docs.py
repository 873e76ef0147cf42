"""The agents.yaml examples in docs/mcp.md are valid catalogues."""

from __future__ import annotations

import re
from pathlib import Path

from auralink.core.catalogue import parse_catalogue

DOC = Path(__file__).resolve().parents[3] / "docs" / "mcp.md"


def test_every_yaml_example_in_the_mcp_docs_validates() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 3
    presets: set[str] = set()
    for block in blocks:
        for agent in parse_catalogue(block).agents:
            presets.update(server.preset for server in agent.mcp if server.preset)
    assert presets == {"memory", "sequential-thinking", "filesystem", "deepwiki", "supabase"}
