"""A model file that does not match its pin: reported on /health, refused by serve()."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from auralink.core.errors import ModelIntegrityError
from auralink.core.settings import Settings
from auralink.models import create_app, registry, serve
from auralink.models.hub import HUB_KEY
from auralink.testing.ports import free_ports


@pytest.fixture()
def tampered_embeddings(monkeypatch: pytest.MonkeyPatch) -> str:
    """Pin the embedding model to a digest its installed file cannot have."""
    spec = registry.EMBEDDINGS[registry.DEFAULT_EMBEDDING]
    wrong = "f" * 64
    bad = dataclasses.replace(spec, model=dataclasses.replace(spec.model, sha256=wrong))
    monkeypatch.setitem(registry.EMBEDDINGS, registry.DEFAULT_EMBEDDING, bad)
    return wrong


def _settings(tmp_path: Path) -> Settings:
    models_port, piper_port = free_ports(2)
    return Settings(models_port=models_port, piper_port=piper_port, data_dir=tmp_path)


async def test_health_reports_the_integrity_failure_and_requests_get_503(
    tampered_embeddings: str, tmp_path: Path
) -> None:
    app = create_app(_settings(tmp_path), only={"embeddings"})
    async with TestClient(TestServer(app)) as client:
        await app[HUB_KEY].loaded.wait()
        r = await client.get("/health")
        assert r.status == 503
        body = await r.json()
        assert body["status"] == "failed"
        assert any(tampered_embeddings in e and "sha256" in e for e in body["errors"])
        r = await client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "hi"})
        assert r.status == 503
        assert (await r.json())["error"]["type"] == "server_error"


def test_serve_stops_and_raises_when_a_model_fails_its_check(
    tampered_embeddings: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ModelIntegrityError, match=tampered_embeddings):
        serve(settings, host="127.0.0.1", port=settings.models_port, only={"embeddings"})
