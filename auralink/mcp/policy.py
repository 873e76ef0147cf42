"""Which of a server's tools an agent may use: the spec's ``allow``/``deny`` and the preset's."""

from __future__ import annotations

__all__ = ["ToolPolicy"]

from dataclasses import dataclass

from auralink.core.spec import MCPServerSpec
from auralink.mcp.presets import PRESETS, NpmPreset


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """``allow`` None means every tool not denied; ``deny`` always wins."""

    allow: frozenset[str] | None = None
    deny: frozenset[str] = frozenset()

    @classmethod
    def for_spec(cls, spec: MCPServerSpec) -> ToolPolicy:
        """The spec's lists plus the preset's refusals, which only an explicit ``allow`` lifts."""
        allow = frozenset(spec.allow) if spec.allow is not None else None
        preset = PRESETS.get(spec.preset) if spec.preset else None
        preset_deny = preset.deny if isinstance(preset, NpmPreset) else frozenset()
        return cls(allow=allow, deny=frozenset(spec.deny) | (preset_deny - (allow or frozenset())))

    def permits(self, tool: str) -> bool:
        if tool in self.deny:
            return False
        return self.allow is None or tool in self.allow
