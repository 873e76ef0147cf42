"""Sign-up, dashboard login and logout, credentials at rest, migrations, and refusal of bad input.

The harness here (:func:`open_api`, :class:`Api`) is shared with test_keys, test_members and
tests/integration/test_api_postgres.py, which runs the same tests against PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text, update

from auralink.api import create_app
from auralink.api.auth import SESSION_COOKIE
from auralink.api.bootstrap import create_organisation_with_settings
from auralink.api.db import (
    Base,
    Database,
    Member,
    MemberSession,
    current_revision,
    head_revision,
    upgrade,
)
from auralink.api.limits import MAX_BODY_BYTES
from auralink.api.permissions import permission_table_markdown
from auralink.core import Settings

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery staple"


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'auralink.db'}"


@dataclass
class Org:
    id: str
    owner_id: str
    email: str
    password: str


class Api:
    """The app on an in-process transport, with helpers that act as different callers."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._clients: list[httpx.AsyncClient] = []
        self._orgs = 0

    @property
    def db(self) -> Database:
        db = self.app.state.database
        assert isinstance(db, Database)
        return db

    def client(self, *, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else None
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver", headers=headers
        )
        self._clients.append(c)
        return c

    async def signup(self, name: str = "Acme") -> Org:
        self._orgs += 1
        email = f"owner{self._orgs}@{name.lower()}.test"
        body = {"name": name, "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
        r = await self.client().post("/v1/organisations", json=body)
        assert r.status_code == 201, r.text
        data = r.json()
        return Org(data["organisation"]["id"], data["owner"]["id"], email, PASSWORD)

    async def login(self, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
        c = self.client()
        r = await c.post("/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return c

    async def member(self, owner: httpx.AsyncClient, role: str, email: str) -> httpx.AsyncClient:
        """Invite ``email`` with ``role`` through ``owner`` and return a client logged in as them."""
        body = {"email": email, "name": role.title(), "role": role, "password": PASSWORD}
        r = await owner.post("/v1/members", json=body)
        assert r.status_code == 201, r.text
        return await self.login(email)

    async def key(self, creator: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
        r = await creator.post("/v1/keys", json={"name": "test key", **body})
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    async def aclose(self) -> None:
        for c in self._clients:
            await c.aclose()


@asynccontextmanager
async def open_api(db_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    fields: dict[str, Any] = {
        "LIVEKIT_URL": "ws://127.0.0.1:7880",
        "LIVEKIT_API_KEY": "test-key",
        "LIVEKIT_API_SECRET": "0123456789abcdef0123456789abcdef-test-secret",
        "data_dir": tmp_path / "data",
        "agents_file": tmp_path / "agents.yaml",
        "database_url": db_url,
        "webhook_allow_private_networks": True,  # the tests' webhook receivers listen on 127.0.0.1
    }
    settings = Settings(_env_file=None, **(fields | overrides))
    app = create_app(settings, web_dist=tmp_path / "no-dist")
    harness = Api(app, settings)
    async with app.router.lifespan_context(app):
        try:
            yield harness
        finally:
            await harness.aclose()


async def test_signup_then_login_sets_a_session_cookie_that_works_until_logout(api: Api) -> None:
    org = await api.signup()
    dashboard = api.client()
    r = await dashboard.post("/v1/auth/login", json={"email": org.email.upper(), "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["org_id"] == org.id and r.json()["role"] == "owner"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    token = dashboard.cookies[SESSION_COOKIE]

    me = await dashboard.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["member_id"] == org.owner_id

    r = await dashboard.post("/v1/auth/logout")
    assert r.status_code == 204
    assert SESSION_COOKIE not in dashboard.cookies
    # the old token is dead on the server too, even if a client kept it
    replay = api.client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert (await replay.get("/v1/auth/me")).status_code == 401


async def test_an_expired_session_is_refused(api: Api) -> None:
    org = await api.signup()
    dashboard = await api.login(org.email)
    async with api.db.session() as s:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await s.execute(update(MemberSession).values(expires_at=past))
        await s.commit()
    r = await dashboard.get("/v1/auth/me")
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    await api.login(org.email)  # a new login clears the dead session away
    async with api.db.session() as s:
        assert len((await s.scalars(select(MemberSession))).all()) == 1


async def test_wrong_password_and_unknown_email_are_refused_alike(api: Api) -> None:
    org = await api.signup()
    c = api.client()
    wrong = await c.post("/v1/auth/login", json={"email": org.email, "password": "not the password"})
    unknown = await c.post("/v1/auth/login", json={"email": "nobody@acme.test", "password": PASSWORD})
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.json()["error"]["message"] == "wrong e-mail or password"
        assert "set-cookie" not in r.headers


async def test_requests_without_credentials_are_refused_with_401(api: Api) -> None:
    for path in ("/v1/auth/me", "/v1/keys", "/v1/members"):
        r = await api.client().get(path)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "NotAuthenticated"
    r = await api.client(key="al_notakey1_" + "x" * 43).get("/v1/keys")
    assert r.status_code == 401
    r = await api.client().get("/v1/keys", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401


async def test_passwords_and_session_tokens_are_stored_hashed(api: Api) -> None:
    org = await api.signup()
    dashboard = await api.login(org.email)
    token = dashboard.cookies[SESSION_COOKIE]
    async with api.db.session() as s:
        member = await s.scalar(select(Member).where(Member.id == org.owner_id))
        assert member is not None
        assert member.password_hash.startswith("$argon2id$")
        assert PASSWORD not in member.password_hash
        stored = (await s.scalars(select(MemberSession.token_hash))).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]


async def test_duplicate_signup_email_conflicts(api: Api) -> None:
    org = await api.signup()
    body = {"name": "Other", "owner": {"email": org.email, "name": "X", "password": PASSWORD}}
    r = await api.client().post("/v1/organisations", json=body)
    assert r.status_code == 409
    assert r.json()["error"]["type"] == "Conflict"


async def test_signup_can_be_closed_and_the_cli_path_still_creates_organisations(
    db_url: str, tmp_path: Path
) -> None:
    async with open_api(db_url, tmp_path, allow_signup=False) as api:
        body = {"name": "Acme", "owner": {"email": "a@acme.test", "name": "A", "password": PASSWORD}}
        r = await api.client().post("/v1/organisations", json=body)
        assert r.status_code == 403
        assert "AURALINK_ALLOW_SIGNUP" in r.json()["error"]["message"]
        org_id, _ = await create_organisation_with_settings(
            api.settings, name="Acme", owner_email="a@acme.test", owner_name="A", password=PASSWORD
        )
        me = await (await api.login("a@acme.test")).get("/v1/auth/me")
        assert me.json()["org_id"] == org_id


async def test_migrations_bring_an_empty_database_to_head_matching_the_models(db_url: str) -> None:
    async with Database(url=db_url) as db:
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await upgrade(db)  # a second run is a no-op

        def tables(conn: Any) -> set[str]:
            return set(inspect(conn).get_table_names())

        def drift(conn: Any) -> list[Any]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with db.engine.connect() as conn:
            names = await conn.run_sync(tables)
            assert await conn.run_sync(drift) == []  # the models and the migrations agree
            if db.url.startswith("sqlite"):
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    assert {"organisations", "members", "member_sessions", "api_keys", "alembic_version"} <= names


async def test_bad_bodies_get_clear_4xx_answers_never_500(api: Api) -> None:
    org = await api.signup()
    owner = await api.login(org.email)
    r = await owner.post("/v1/keys", json={"name": "k", "colour": "red"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "colour"
    r = await owner.post("/v1/keys", json={"name": "bad\x00name"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "name"
    r = await owner.post("/v1/keys", json={"name": "k", "scopes": ["keys:fly"]})
    assert r.status_code == 422
    r = await owner.post("/v1/keys", json={"name": "k", "expires_at": "2020-01-01T00:00:00Z"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "expires_at"
    r = await owner.post("/v1/keys", json={"name": "k", "expires_at": "2999-01-01T00:00:00"})
    assert r.status_code == 422  # a time without a zone is ambiguous
    r = await owner.post("/v1/keys", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = await owner.post("/v1/keys", json={"name": "x" * (MAX_BODY_BYTES + 10)})
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "BodyTooLarge"

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    r = await owner.post("/v1/keys", content=stream(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = await api.client(key="al_abcdefgh_\x00" + "x" * 30).get("/v1/keys")
    assert r.status_code == 401
    r = await owner.get("/v1/keys/" + "%00" * 40)
    assert r.status_code == 404
    r = await owner.post("/v1/members", json={"email": "not-an-email", "name": "X"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "email"
    r = await owner.delete("/v1/organisations")
    assert r.status_code == 405 and r.json()["error"]["type"] == "MethodNotAllowed"


def test_permission_document_matches_the_matrix() -> None:
    doc = (REPO / "docs" / "api-permissions.md").read_text(encoding="utf-8")
    table = permission_table_markdown()
    assert table in doc, "docs/api-permissions.md is out of date; paste this table:\n" + table


def test_openapi_documents_the_real_error_bodies_and_examples(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        LIVEKIT_API_KEY="test-key",
        LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
        data_dir=tmp_path,
    )
    spec = create_app(settings, web_dist=tmp_path / "no-dist").openapi()
    schemas = spec["components"]["schemas"]
    assert schemas["HTTPValidationError"]["properties"] == {
        "error": {"$ref": "#/components/schemas/ValidationErrorPublic"}
    }
    assert "fields" in schemas["ValidationErrorPublic"]["properties"]
    for name in ("OrganisationCreate", "MemberCreate", "ApiKeyCreate", "LoginCreate"):
        assert schemas[name]["examples"], name
    for path, ops in spec["paths"].items():
        if path.startswith(("/v1/keys", "/v1/members", "/v1/organisations/")):
            for method, op in ops.items():
                assert {"401", "403"} <= set(op["responses"]), (method, path)


async def test_without_a_database_url_the_api_keeps_its_data_in_the_data_dir(tmp_path: Path) -> None:
    async with open_api("", tmp_path) as api:
        assert api.settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'auralink.db'}"
        org = await api.signup()
        assert (await (await api.login(org.email)).get("/v1/auth/me")).status_code == 200
    assert (tmp_path / "data" / "auralink.db").is_file()
