"""Load agents.yaml into a validated :class:`~auralink.core.spec.Catalogue`.

Every problem is reported with the file, the line and the dotted field path, and says what
is expected, e.g. ``agents.yaml:14: agents[1].llm.provider: expected one of 'local', ...``.
"""

from __future__ import annotations

__all__ = ["check_credentials", "dotted_path", "load_catalogue", "parse_catalogue", "spec_problems"]

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import SpecError, SpecIssue
from .spec import Catalogue

_Path = tuple[str | int, ...]


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and validate a catalogue file; raises :class:`SpecError` naming file, line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecIssue(str(p), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError([SpecIssue(str(p), None, "", f"cannot read the file: {e}")]) from None
    return parse_catalogue(text, filename=str(p))


def parse_catalogue(text: str, *, filename: str = "agents.yaml") -> Catalogue:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark is not None else None
        raise SpecError([SpecIssue(filename, line, "", f"not valid YAML: {e.problem}")]) from None
    except yaml.YAMLError as e:
        raise SpecError([SpecIssue(filename, None, "", f"not valid YAML: {e}")]) from None
    if node is None:
        raise SpecError([SpecIssue(filename, 1, "", "the file is empty; expected `agents:`")])
    lines: dict[_Path, int] = {}
    _index_lines(node, (), lines)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(filename, 1, "", "expected a mapping with `version` and `agents`")])
    try:
        return Catalogue.model_validate(data)
    except ValidationError as e:
        raise SpecError([_issue(err, lines, data, filename) for err in e.errors()]) from None


def check_credentials(catalogue: Catalogue, *, filename: str, text: str | None = None) -> list[SpecIssue]:
    """Issues for every BYOK key the catalogue needs that the environment lacks."""
    lines: dict[_Path, int] = {}
    if text is not None:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _index_lines(node, (), lines)
    issues: list[SpecIssue] = []
    for i, agent in enumerate(catalogue.agents):
        for field, env in agent.missing_credentials():
            path: _Path = ("agents", i, *_split(field))
            issues.append(
                SpecIssue(
                    filename,
                    _nearest_line(path, lines),
                    _dotted(path),
                    f"environment variable {env} is not set (export it or put it in .env)",
                )
            )
    return issues


# ------------------------------------------------------------------ helpers
def _index_lines(node: yaml.Node, path: _Path, out: dict[_Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            out[(*path, k)] = key.start_mark.line + 1
            _index_lines(value, (*path, k), out)
            out[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


def _issue(err: Any, lines: dict[_Path, int], data: Any, filename: str) -> SpecIssue:
    path = _error_path(err, data)
    return SpecIssue(filename, _nearest_line(path, lines), _dotted(path), _explain(err))


def _error_path(err: Any, data: Any) -> _Path:
    path = _data_path(tuple(err["loc"]), data)
    if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        path = (*path, _tag_field(err))
    return path


def _tag_field(err: Any) -> str:
    """The discriminator a union error is about: ``kind`` for moderation rules, else ``provider``."""
    return "kind" if err.get("ctx", {}).get("discriminator") == "'kind'" else "provider"


def spec_problems(error: ValidationError, data: Any) -> list[tuple[_Path, str]]:
    """Each problem of a spec that failed validation: its path as written in ``data`` (pydantic's
    union tags left out, ``provider`` named for a bad one) and a message for a bot builder.
    The same wording as ``auralink agents validate``, for the API and the worker."""
    return [(_error_path(err, data), _explain(err)) for err in error.errors()]


def dotted_path(path: _Path) -> str:
    """``("mcp", 0, "command")`` -> ``mcp[0].command``."""
    return _dotted(path)


def _data_path(loc: _Path, data: Any) -> _Path:
    """Follow a pydantic error location through the data, dropping union tags it inserts."""
    out: list[str | int] = []
    cur: Any = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            out.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            out.append(part)
        elif isinstance(cur, dict) and isinstance(part, str) and part not in _UNION_TAGS:
            out.append(part)  # a missing or unknown key: it is the last word of the path
            cur = None
    return tuple(out)


# pydantic's tags in error locations: provider blocks, and moderation rules (`moderation.rules[2].pattern`)
_UNION_TAGS = {
    "local", "deepgram", "openai", "elevenlabs", "plugin", "function-after",
    "blocklist", "pii", "toxicity", "regex",
}  # fmt: skip


def _nearest_line(path: _Path, lines: dict[_Path, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _dotted(path: _Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _split(field: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in field.split("."):
        if "[" in chunk:
            name, _, rest = chunk.partition("[")
            parts.append(name)
            parts.append(int(rest.rstrip("]")))
        else:
            parts.append(chunk)
    return parts


def _explain(err: Any) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see docs/agents-yaml.md)"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown {_tag_field(err)} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "missing `provider:`; expected one of 'local', 'openai', 'deepgram', 'elevenlabs', 'plugin'"
    if kind == "literal_error":
        return f"got {err.get('input')!r}; {msg.lower()}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return (
        f"{msg} (got {err.get('input')!r})"
        if kind not in {"value_error"} and not isinstance(err.get("input"), dict | list)
        else msg
    )
