"""The OpenAPI document is complete: every operation described, every request body with an
example, every authenticated operation documenting its 401/403 answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auralink.api import create_app
from auralink.core import Settings

_METHODS = ("get", "post", "put", "patch", "delete")


def _spec(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        data_dir=tmp_path,
    )
    spec: dict[str, Any] = create_app(settings, web_dist=tmp_path / "no-dist").openapi()
    return spec


def test_every_operation_is_described_and_every_body_has_an_example(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    schemas = spec["components"]["schemas"]
    undescribed, no_example = [], []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in _METHODS:
                continue
            if not (op.get("description") or op.get("summary")):
                undescribed.append(f"{method.upper()} {path}")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            name = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            schema = schemas.get(name, body.get("schema", {}))
            if not (
                body.get("example") or body.get("examples") or schema.get("examples") or schema.get("example")
            ):
                no_example.append(f"{method.upper()} {path}")
    assert not undescribed, undescribed
    assert not no_example, no_example


def test_operations_under_v1_that_need_credentials_document_401_and_403(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    missing = []
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/") or path.startswith(
            ("/v1/auth", "/v1/livekit", "/v1/ingest", "/v1/dev")
        ):
            continue
        for method, op in ops.items():
            if (
                method in _METHODS
                and path != "/v1/organisations"
                and not {"401", "403"} <= set(op["responses"])
            ):
                missing.append(f"{method.upper()} {path}")
    assert not missing, missing
    assert len(spec["paths"]) > 50
