"""Memories through the API: per subject list, search, add, delete one, forget all; audited
reads; roles; other organisations see nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from auralink.api.db import AuditEntry
from auralink.api.memories import MemoryHandle
from auralink.memory import ChromaMemoryStore, MemoryService
from tests.unit.api.test_auth import Api
from tests.unit.memory.conftest import HashEmbedder


def _use_hash_embeddings(api: Api) -> None:
    """The store in the test's data folder, with embeddings that need no model server."""
    embedder = HashEmbedder()
    store = ChromaMemoryStore.embedded(api.settings.memory_dir, embedder=embedder)
    handle: MemoryHandle = api.app.state.memories
    handle._service = MemoryService(store=store, embedder=embedder)


async def _add(client: httpx.AsyncClient, subject: str, text: str, kind: str = "fact") -> dict[str, str]:
    r = await client.post("/v1/memories", json={"subject": subject, "kind": kind, "text": text})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def test_add_list_search_delete_and_forget_a_subjects_memories(api: Api) -> None:
    _use_hash_embeddings(api)
    org = await api.signup()
    owner = await api.login(org.email)
    tea = await _add(owner, "identity:ada", "Ada drinks green tea every afternoon.", "preference")
    await _add(owner, "identity:ada", "Ada lives in Lisbon.")
    await _add(owner, "identity:bob", "Bob drinks black coffee.")

    listed = (await owner.get("/v1/memories", params={"subject": "identity:ada"})).json()
    assert sorted(m["text"] for m in listed) == [
        "Ada drinks green tea every afternoon.",
        "Ada lives in Lisbon.",
    ]
    assert {m["kind"] for m in listed} == {"preference", "fact"}

    r = await owner.post(
        "/v1/memories/search", json={"subject": "identity:ada", "query": "what does she drink"}
    )
    assert r.status_code == 200, r.text
    hits = r.json()
    assert hits[0]["memory"]["id"] == tea["id"] and all(
        h["memory"]["subject"] == "identity:ada" for h in hits
    )

    async with api.db.session() as s:
        actions = set(await s.scalars(select(AuditEntry.action).where(AuditEntry.org_id == org.id)))
    assert {"memories.read", "memories.search"} <= actions  # personal data reads are audited

    gone = await owner.delete(f"/v1/memories/{tea['id']}", params={"subject": "identity:bob"})
    assert gone.status_code == 404  # not Bob's memory
    assert (
        await owner.delete(f"/v1/memories/{tea['id']}", params={"subject": "identity:ada"})
    ).status_code == 204
    r = await owner.delete("/v1/memories", params={"subject": "identity:ada"})
    assert r.json() == {"removed": 1}
    assert (await owner.get("/v1/memories", params={"subject": "identity:ada"})).json() == []
    bob = (await owner.get("/v1/memories", params={"subject": "identity:bob"})).json()
    assert [m["text"] for m in bob] == ["Bob drinks black coffee."]


async def test_other_organisations_and_viewers_and_bad_subjects(api: Api) -> None:
    _use_hash_embeddings(api)
    acme = await api.login((await api.signup("Acme")).email)
    globex = await api.login((await api.signup("Globex")).email)
    await _add(acme, "phone:+15551234567", "Prefers calls after 5 pm.")
    assert (await globex.get("/v1/memories", params={"subject": "phone:+15551234567"})).json() == []
    assert (await globex.delete("/v1/memories", params={"subject": "phone:+15551234567"})).json() == {
        "removed": 0
    }
    assert len((await acme.get("/v1/memories", params={"subject": "phone:+15551234567"})).json()) == 1

    viewer = await api.member(acme, "viewer", "viewer@acme.test")
    assert (await viewer.get("/v1/memories", params={"subject": "identity:ada"})).status_code == 403
    r = await acme.get("/v1/memories", params={"subject": "ada"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "subject"
    r = await acme.post("/v1/memories", json={"subject": "identity:ada", "text": "x", "colour": "red"})
    assert r.status_code == 422
