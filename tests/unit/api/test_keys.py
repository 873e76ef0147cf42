"""API keys as their users meet them: the secret works once made, dies on revoke, rotate or
expiry, is never listed and is stored hashed; roles, scopes and organisations fence them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from auralink.api.db import ApiKey
from tests.unit.api.test_auth import Api


async def test_a_new_key_works_at_once_and_stops_when_revoked(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    made = await api.key(owner, name="ci", role="admin")
    assert made["secret"].startswith(made["prefix"] + "_") and made["prefix"].startswith("al_")

    sdk = api.client(key=made["secret"])
    me = await sdk.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "org_id": org.id, "role": "admin", "member_id": None, "key_id": made["id"], "scopes": None
    }  # fmt: skip
    assert (await sdk.get("/v1/members")).status_code == 200

    r = await owner.post(f"/v1/keys/{made['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await sdk.get("/v1/auth/me")
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]["message"]


async def test_an_expired_key_is_refused(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    made = await api.key(owner, expires_at=soon)
    sdk = api.client(key=made["secret"])
    assert (await sdk.get("/v1/keys")).status_code == 200
    async with api.db.session() as s:  # let a day pass
        past = datetime.now(UTC) - timedelta(seconds=1)
        await s.execute(update(ApiKey).where(ApiKey.id == made["id"]).values(expires_at=past))
        await s.commit()
    r = await sdk.get("/v1/keys")
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]


async def test_a_tampered_secret_with_a_real_prefix_is_refused(api: Api) -> None:
    org = await api.signup()
    made = await api.key(await api.login(org.email))
    forged = made["prefix"] + "_" + "A" * 43
    assert (await api.client(key=forged).get("/v1/keys")).status_code == 401


async def test_lists_show_prefix_and_name_but_never_the_secret(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    made = await api.key(owner, name="ci", scopes=["keys:read"])
    r = await owner.get("/v1/keys")
    assert r.status_code == 200
    assert made["secret"] not in r.text
    (listed,) = r.json()
    assert "secret" not in listed
    assert listed["prefix"] == made["prefix"] and listed["name"] == "ci"
    assert listed["scopes"] == ["keys:read"] and listed["last_used_at"] is None
    one = await owner.get(f"/v1/keys/{made['id']}")
    assert made["secret"] not in one.text and one.json()["prefix"] == made["prefix"]


async def test_the_secret_is_stored_hashed_and_use_is_stamped(api: Api) -> None:
    org = await api.signup()
    made = await api.key(await api.login(org.email))
    async with api.db.session() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.id == made["id"]))
        assert row is not None
        assert row.secret_hash == hashlib.sha256(made["secret"].encode()).hexdigest()
        assert made["secret"] not in repr(
            [getattr(row, c.key) for c in ApiKey.__table__.columns]  # every stored column
        )
    before = datetime.now(UTC)
    assert (await api.client(key=made["secret"]).get("/v1/keys")).status_code == 200
    listed = (await api.client(key=made["secret"]).get(f"/v1/keys/{made['id']}")).json()
    assert listed["last_used_at"] is not None
    assert datetime.fromisoformat(listed["last_used_at"]) >= before - timedelta(seconds=1)


async def test_rotate_gives_a_new_secret_and_kills_the_old_one(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    old = await api.key(owner, name="ci", role="viewer", scopes=["keys:read"])
    r = await owner.post(f"/v1/keys/{old['id']}/rotate")
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["secret"] != old["secret"] and new["id"] != old["id"]
    assert (new["name"], new["role"], new["scopes"]) == ("ci", "viewer", ["keys:read"])
    assert (await api.client(key=old["secret"]).get("/v1/keys")).status_code == 401
    assert (await api.client(key=new["secret"]).get("/v1/keys")).status_code == 200
    again = await owner.post(f"/v1/keys/{old['id']}/rotate")
    assert again.status_code == 409


async def test_a_viewer_cannot_create_revoke_or_rotate_keys(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    viewer = await api.member(owner, "viewer", "v@acme.test")
    made = await api.key(owner)
    r = await viewer.post("/v1/keys", json={"name": "mine"})
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "PermissionDenied"
    assert (await viewer.post(f"/v1/keys/{made['id']}/revoke")).status_code == 403
    assert (await viewer.post(f"/v1/keys/{made['id']}/rotate")).status_code == 403
    assert (await viewer.get("/v1/keys")).status_code == 200
    assert (await api.client(key=made["secret"]).get("/v1/keys")).status_code == 200


async def test_roles_and_scopes_bound_what_a_key_can_do(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    developer = await api.member(owner, "developer", "d@acme.test")
    assert (await developer.post("/v1/keys", json={"name": "k", "role": "admin"})).status_code == 403
    admin_key = await api.key(owner, role="admin")
    assert (await developer.post(f"/v1/keys/{admin_key['id']}/revoke")).status_code == 403

    read_only = await api.key(developer, scopes=["keys:read"])
    sdk = api.client(key=read_only["secret"])
    assert (await sdk.get("/v1/keys")).status_code == 200
    assert (await sdk.post("/v1/keys", json={"name": "k"})).status_code == 403
    assert (await sdk.get("/v1/members")).status_code == 403
    r = await owner.post("/v1/keys", json={"name": "k", "role": "viewer", "scopes": ["keys:create"]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "scopes"


async def test_another_organisations_key_ids_answer_404(api: Api) -> None:
    a = await api.login((await api.signup("Acme")).email)
    b = await api.login((await api.signup("Bravo")).email)
    theirs = await api.key(b, name="b's key")
    for method, path in [
        ("GET", f"/v1/keys/{theirs['id']}"),
        ("PATCH", f"/v1/keys/{theirs['id']}"),
        ("POST", f"/v1/keys/{theirs['id']}/revoke"),
        ("POST", f"/v1/keys/{theirs['id']}/rotate"),
    ]:
        r = await a.request(method, path, json={"name": "stolen"} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["type"] == "NotFound"
    assert theirs["id"] not in (await a.get("/v1/keys")).text
    still = await api.client(key=theirs["secret"]).get(f"/v1/keys/{theirs['id']}")
    assert still.status_code == 200 and still.json()["name"] == "b's key"
    assert still.json()["revoked_at"] is None
