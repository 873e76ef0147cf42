"""Long-term memory on the real parts: MiniLM embeddings from the model server, and Chroma both as a
server (``chroma run``, reached with HttpClient) and embedded (PersistentClient)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from auralink.memory import (
    CachedEmbedder,
    ChromaMemoryStore,
    HttpEmbedder,
    MemoryRecord,
    MemoryScope,
    MemoryService,
)
from auralink.testing.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHROMA = Path(sys.executable).parent / "chroma"
ORG, WHO = "org_itest", "phone:+447700900123"
SCOPE = MemoryScope(org_id=ORG, subject=WHO)


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, ok: str | None = None) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with code {proc.returncode}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200 and (ok is None or ok in r.text):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def embeddings_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", "embeddings", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc, "the model server", ok='"ready"')
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, "chroma run")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


async def _conversation_then_recall(service: MemoryService) -> None:
    await service.remember_conversation(
        org_id=ORG,
        subject=WHO,
        conversation="call-1",
        user_turns=[
            "Hi, my name is Maria Lopez.",
            "I'm allergic to penicillin, so please note that.",
            "I prefer an aisle seat when I fly.",
            "Can you check the train times for tomorrow?",
        ],
        summary="Maria asked about train times and flight seats.",
    )
    await service.store.add(
        [
            MemoryRecord(
                org_id=ORG, subject="phone:+15550000", kind="fact", text="I am allergic to penicillin."
            )
        ]
    )
    profile = await service.prefetch(SCOPE)
    assert "My name is Maria Lopez." in [r.text for r in profile.facts]
    # questions phrased differently from what was said
    seat = await service.recall(SCOPE, "where do I like to sit on a plane?", top_k=3, profile=profile)
    assert seat[0].record.text == "I prefer an aisle seat when I fly."
    drugs = await service.recall(SCOPE, "is there any medicine I react badly to?", top_k=3)
    assert "penicillin" in drugs[0].record.text and drugs[0].record.subject == WHO
    assert all(h.record.subject == WHO for h in drugs)

    assert await service.forget_subject(ORG, WHO) >= 4
    assert await service.recall(SCOPE, "what is my name?", top_k=5) == []
    org_wide = await service.recall(MemoryScope(org_id=ORG), "penicillin allergy", top_k=5)
    assert [h.record.subject for h in org_wide] == ["phone:+15550000"]


async def test_chroma_server_through_http_client(embeddings_url: str, chroma_url: str) -> None:
    embedder = CachedEmbedder(HttpEmbedder(base_url=embeddings_url, model="all-minilm-l6-v2"))
    service = MemoryService(store=ChromaMemoryStore.http(chroma_url, embedder=embedder), embedder=embedder)
    try:
        await _conversation_then_recall(service)
    finally:
        await service.aclose()


async def test_embedded_store_survives_a_restart(embeddings_url: str, tmp_path: Path) -> None:
    def open_service() -> MemoryService:
        embedder = CachedEmbedder(HttpEmbedder(base_url=embeddings_url, model="all-minilm-l6-v2"))
        store = ChromaMemoryStore.embedded(tmp_path / "memory", embedder=embedder)
        return MemoryService(store=store, embedder=embedder)

    service = open_service()
    try:
        service.record_turn(
            MemoryRecord(org_id=ORG, subject=WHO, kind="turn", text="My order number is A48213.")
        )
    finally:
        await service.aclose()  # the writer flushes before the store closes
    service = open_service()
    try:
        hits = await service.recall(SCOPE, "which order is mine?", top_k=1)
        assert [h.record.text for h in hits] == ["My order number is A48213."]
        await _conversation_then_recall(service)
    finally:
        await service.aclose()
