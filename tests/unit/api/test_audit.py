"""The audit log: changes made through the routes are recorded with who and from where, nothing
secret or personal reaches an entry, the hash chain verifies, tampering is caught by the route
and by ``auralink audit verify``, concurrent writers never leave a gap, and each organisation
sees only its own entries.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from auralink.api.db import AuditEntry, Database
from auralink.cli.audit_cmds import verify as cli_verify
from tests.unit.api.test_auth import PASSWORD, Api, open_api

REPO = Path(__file__).resolve().parents[3]


async def _entries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/audit", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _tamper(db: Database, statement: str) -> None:
    """Change the log behind the API's back, as someone with the database's owner rights could."""
    async with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            await conn.execute(text(statement))
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            await conn.execute(text(statement))


async def test_changes_through_the_routes_are_recorded_with_actor_and_address(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    key = await api.key(owner, role="admin")
    by_key = api.client(key=key["secret"])
    r = await by_key.patch(f"/v1/keys/{key['id']}", json={"name": "renamed"})
    assert r.status_code == 200
    r = await by_key.post("/v1/members", json={"email": "dev@acme.test", "name": "Dev", "role": "developer"})
    assert r.status_code == 201
    member_id = r.json()["id"]
    r = await owner.patch(f"/v1/members/{member_id}", json={"role": "viewer"})
    assert r.status_code == 200
    r = await owner.post(f"/v1/keys/{key['id']}/revoke")
    assert r.status_code == 200

    entries = await _entries(owner)
    nouns = ("organisation.", "member.", "api_key.")  # sign-up may seed more (agents) in time
    seen = [
        (e["action"], e["actor"], e["target"]) for e in reversed(entries) if e["action"].startswith(nouns)
    ]
    assert seen == [
        ("organisation.created", "anonymous", org.id),
        ("member.created", "anonymous", org.owner_id),
        ("api_key.created", f"member:{org.owner_id}", key["id"]),
        ("api_key.updated", f"key:{key['id']}", key["id"]),
        ("member.created", f"key:{key['id']}", member_id),
        ("member.updated", f"member:{org.owner_id}", member_id),
        ("api_key.revoked", f"member:{org.owner_id}", key["id"]),
    ]
    assert {e["ip"] for e in entries} == {"127.0.0.1"}
    role_change = next(e for e in entries if e["action"] == "member.updated")
    assert role_change["detail"] == {"fields": ["role"], "values": {"role": "viewer"}}
    created_key = next(e for e in entries if e["action"] == "api_key.created")
    assert {"name", "prefix", "secret_hash", "role"} <= set(created_key["detail"]["fields"])

    # using a key stamps last_used_at: that is not a change anyone made, so no entry
    other = await api.key(owner)
    before = len(await _entries(owner))
    assert (await api.client(key=other["secret"]).get("/v1/keys")).status_code == 200
    assert len(await _entries(owner)) == before


async def test_no_secret_hash_or_personal_value_reaches_the_log(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    key = await api.key(owner)
    rotated = (await owner.post(f"/v1/keys/{key['id']}/rotate")).json()
    await owner.post("/v1/members", json={"email": "ada@acme.test", "name": "Ada Lovelace", "role": "viewer"})
    hook = await owner.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201
    assert (await owner.delete(f"/v1/webhooks/{hook.json()['id']}")).status_code == 204

    async with api.db.session() as s:
        stored = json.dumps(
            [[e.actor, e.action, e.target, e.detail] for e in await s.scalars(select(AuditEntry))]
        )
        hashes = (await s.execute(text("SELECT secret_hash FROM api_keys"))).scalars().all()
        passwords = (await s.execute(text("SELECT password_hash FROM members"))).scalars().all()
    for secret in [key["secret"], rotated["secret"], hook.json()["secret"], PASSWORD, *hashes, *passwords]:
        assert secret not in stored
    for personal in ("ada@acme.test", "Ada Lovelace", org.email):
        assert personal not in stored
    actions = [e["action"] for e in await _entries(owner)]
    # the endpoint was deleted with a bulk statement, not through the ORM: still recorded
    assert "webhook.created" in actions and "webhook.deleted" in actions


async def test_the_chain_verifies_and_tampering_is_caught_by_the_route_and_the_cli(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    for _ in range(3):
        await api.key(owner)
    r = await owner.get("/v1/audit/verify")
    assert r.status_code == 200
    good = r.json()
    assert good["ok"] is True and good["entries"] == 5 and good["broken_at"] is None
    assert await asyncio.to_thread(cli_verify, api.settings) == 0  # the CLI runs its own loop

    await _tamper(api.db, "UPDATE audit_log SET actor = 'member:mem_0000000000000000' WHERE seq = 3")
    bad = (await owner.get("/v1/audit/verify")).json()
    assert bad["ok"] is False and bad["broken_at"] == 3 and "altered" in bad["reason"]
    env = {**os.environ, "AURALINK_DATABASE_URL": api.settings.database_url, "AURALINK_LOG_LEVEL": "WARNING"}
    # a real process, awaited without blocking this loop (the API's dispatcher keeps running)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "auralink", "audit", "verify", cwd=REPO, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(cli.communicate(), timeout=120)
    assert cli.returncode == 1, (out + err).decode()
    assert "BROKEN at seq 3" in out.decode()

    await _tamper(api.db, "DELETE FROM audit_log WHERE seq = 3")
    gone = (await owner.get("/v1/audit/verify")).json()
    assert gone["broken_at"] == 3 and "missing" in gone["reason"]


async def test_the_database_refuses_to_change_or_delete_an_entry(api: Api) -> None:
    org = await api.signup()
    for statement in ("UPDATE audit_log SET actor = 'system'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with api.db.engine.begin() as conn:
                await conn.execute(text(statement))
    owner = await api.login(org.email)
    assert (await owner.get("/v1/audit/verify")).json()["entries"] == 2


async def test_concurrent_changes_keep_the_chain_whole_and_gap_free(db_url: str, tmp_path: Path) -> None:
    async with open_api(db_url, tmp_path, rate_limit_enabled=False) as api:
        orgs = [await api.signup(name) for name in ("Acme", "Globex")]
        owners = [await api.login(o.email) for o in orgs]

        async def make(owner: httpx.AsyncClient, n: int) -> None:
            r = await owner.post("/v1/keys", json={"name": f"k{n}"})
            assert r.status_code == 201, r.text

        await asyncio.gather(*(make(owners[n % 2], n) for n in range(16)))
        async with api.db.session() as s:
            seqs = list(await s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
            heads = await s.scalar(select(func.count(func.distinct(AuditEntry.prev_hash))))
        assert seqs == list(range(1, 4 + 16 + 1))
        assert heads == len(seqs)  # every entry follows a different one: no fork
        report = (await owners[0].get("/v1/audit/verify")).json()
        assert report["ok"] is True and report["entries"] == len(seqs)


async def test_each_organisation_sees_and_filters_only_its_own_entries(api: Api) -> None:
    acme, globex = await api.signup("Acme"), await api.signup("Globex")
    owner, rival = await api.login(acme.email), await api.login(globex.email)
    start = datetime.now(UTC)
    key = await api.key(owner)
    await api.key(rival)
    await owner.patch(f"/v1/keys/{key['id']}", json={"name": "renamed"})

    mine = await _entries(owner)
    assert {e["seq"] for e in mine}.isdisjoint({e["seq"] for e in await _entries(rival)})
    assert all(e["target"] != globex.id for e in mine)
    actor = f"member:{acme.owner_id}"
    assert [e["action"] for e in await _entries(owner, actor=actor)] == ["api_key.updated", "api_key.created"]
    assert len(await _entries(owner, action="api_key.")) == 2
    assert len(await _entries(owner, action="api_key")) == 0
    assert [e["action"] for e in await _entries(owner, target=key["id"], action="api_key.updated")] == [
        "api_key.updated"
    ]
    assert len(await _entries(owner, since=start.isoformat())) == 2
    assert len(await _entries(owner, until=start.isoformat())) == 2  # sign-up's two
    assert await _entries(owner, since=(start + timedelta(hours=1)).isoformat()) == []

    first = (await owner.get("/v1/audit", params={"limit": 3})).json()
    assert len(first["items"]) == 3 and first["next_before"] == first["items"][-1]["seq"]
    rest = (await owner.get("/v1/audit", params={"limit": 3, "before": first["next_before"]})).json()
    assert len(rest["items"]) == 1 and rest["next_before"] is None

    viewer = await api.member(owner, "viewer", "viewer@acme.test")
    assert (await viewer.get("/v1/audit")).status_code == 403
    assert (await viewer.get("/v1/audit/verify")).status_code == 403
    assert (await owner.get("/v1/audit", params={"since": "2026-01-01T00:00:00"})).status_code == 422
    assert (await owner.get("/v1/audit", params={"limit": 0})).status_code == 422
