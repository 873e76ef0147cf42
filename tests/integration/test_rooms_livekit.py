"""Rooms and tokens against a real livekit-server (and its Redis) on free ports: the API makes
the room and its agent dispatches, a participant joins with a minted token and is listed, and
ending the room disconnects them; LiveKit's refusals answer 502."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api, rtc
from pydantic import SecretStr

from auralink.cli.stack import Stack
from auralink.core import Settings
from auralink.testing.ports import free_port
from tests.unit.api.test_rooms import rooms_api

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("rooms-stack")
    settings = Settings(
        _env_file=None,
        data_dir=tmp / "data",
        redis_port=free_port(),
        livekit_port=free_port(),
        livekit_rtc_tcp_port=free_port(),
    )
    with Stack(settings, services=["redis", "livekit"], run_dir=tmp / "run") as running:
        yield running


def _settings(stack: Stack, tmp_path: Path, **changes: object) -> Settings:
    return stack.settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "agents_file": tmp_path / "agents.yaml",
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'auralink.db'}",
            "worker_agent_name": "auralink-rooms-test",
            **changes,
        }
    )


def _server_api(settings: Settings) -> api.LiveKitAPI:
    secret = settings.livekit_api_secret
    assert settings.livekit_api_key and secret is not None
    url = settings.livekit_url.replace("ws://", "http://")
    return api.LiveKitAPI(url, settings.livekit_api_key, secret.get_secret_value())


async def test_a_room_is_made_joined_listed_and_ended_on_livekit(stack: Stack, tmp_path: Path) -> None:
    settings = _settings(stack, tmp_path)
    name = f"standup-{secrets.token_hex(4)}"
    async with rooms_api(settings) as harness, _server_api(settings) as server:
        org = await harness.signup()
        owner = await harness.login(org.email)
        r = await owner.post(
            "/v1/rooms", json={"name": name, "agents": ["assistant", "barista"], "empty_timeout": 120}
        )
        assert r.status_code == 201, r.text
        assert r.json()["agents"] == ["assistant", "barista"]

        (room,) = (await server.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms
        assert room.empty_timeout == 120
        # LiveKit adds its own unnamed dispatch to a room made without agents in its request; it
        # only reaches workers registered without a name, and AuraLink's worker always has one
        listed = await server.agent_dispatch.list_dispatch(room_name=name)
        dispatches = [d for d in listed if d.agent_name]
        assert sorted(json.loads(d.metadata)["agent"] for d in dispatches) == ["assistant", "barista"]
        assert {d.agent_name for d in dispatches} == {"auralink-rooms-test"}

        minted = await owner.post(f"/v1/rooms/{name}/tokens", json={"identity": "ada", "name": "Ada"})
        assert minted.status_code == 201, minted.text
        participant = rtc.Room()
        ended = asyncio.Event()
        participant.on("disconnected", lambda *_: ended.set())
        await participant.connect(minted.json()["url"], minted.json()["token"])
        try:
            deadline = time.monotonic() + 20
            while True:
                listed = (await owner.get(f"/v1/rooms/{name}/participants")).json()
                if any(p["identity"] == "ada" for p in listed):
                    break
                assert time.monotonic() < deadline, listed
                await asyncio.sleep(0.2)
            (ada,) = [p for p in listed if p["identity"] == "ada"]
            assert ada["name"] == "Ada" and ada["kind"] == "STANDARD" and ada["joined_at"] is not None

            assert (await owner.delete(f"/v1/rooms/{name}")).status_code == 204
            await asyncio.wait_for(ended.wait(), timeout=20)  # LiveKit sent the participant away
        finally:
            await participant.disconnect()
        assert (await server.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms == []
        assert (await owner.get(f"/v1/rooms/{name}")).status_code == 404
        # the name is free again; a room LiveKit closed by itself lists nobody and still ends cleanly
        assert (await owner.post("/v1/rooms", json={"name": name})).status_code == 201
        await server.room.delete_room(api.DeleteRoomRequest(room=name))
        gone = await owner.get(f"/v1/rooms/{name}/participants")
        assert gone.status_code == 200 and gone.json() == []
        assert (await owner.delete(f"/v1/rooms/{name}")).status_code == 204


async def test_a_room_livekit_refuses_answers_502_and_is_not_kept(stack: Stack, tmp_path: Path) -> None:
    settings = _settings(stack, tmp_path, livekit_api_secret=SecretStr("not-the-secret-" + "x" * 32))
    async with rooms_api(settings) as harness:
        owner = await harness.login((await harness.signup()).email)
        r = await owner.post("/v1/rooms", json={"name": "refused", "agents": ["assistant"]})
        assert r.status_code == 502, r.text
        assert r.json()["error"]["message"].startswith("LiveKit refused to create the room 'refused'")
        assert (await owner.get("/v1/rooms")).json() == []
