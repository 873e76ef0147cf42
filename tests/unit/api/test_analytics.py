"""Call analytics as an organisation reads them: calls and minutes per day, latency per agent
(average and p95 from the turns' figures), quality (agent errors, failed and agent-less calls),
AI usage and its estimated cost by the agent's providers. Rows are inserted as the call
tracking and the worker's reports would write them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auralink.api.db import AgentRecord, AgentVersion, Call, CallParticipant, CallTurn, UsageRecord, new_id
from auralink.api.usage.analytics import turn_latency_ms
from tests.unit.api.test_auth import Api, open_api, sqlite_url
from tests.unit.api.test_usage import owner_of

DAY1 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 5, 5, 17, 30, tzinfo=UTC)


async def add_call(
    api: Api,
    org_id: str,
    *,
    agent: str | None,
    started_at: datetime,
    status: str = "ended",
    duration_s: float | None = 60.0,
    errors: int = 0,
    agent_joined: bool = True,
    latencies: list[dict[str, Any]] | None = None,
) -> str:
    call_id = new_id("cal")
    async with api.db.session() as s:
        s.add(
            Call(
                id=call_id,
                org_id=org_id,
                room_name=f"room-{call_id}",
                room_sid=f"RM_{call_id}",
                agent=agent,
                status=status,
                started_at=started_at,
                ended_at=started_at + timedelta(seconds=duration_s or 0) if status != "active" else None,
                duration_s=duration_s,
                errors=errors,
            )
        )
        await s.flush()
        s.add(
            CallParticipant(
                id=new_id("cpt"), call_id=call_id, identity="guest-1", kind="standard", joined_at=started_at
            )
        )
        if agent_joined:
            s.add(
                CallParticipant(
                    id=new_id("cpt"), call_id=call_id, identity="agent-1", kind="agent", joined_at=started_at
                )
            )
        for seq, metrics in enumerate(latencies or []):
            s.add(
                CallTurn(
                    id=new_id("trn"), call_id=call_id, seq=seq, role="assistant", speaker="agent-1",
                    text="...", metrics=metrics, spoken_at=started_at,
                )
            )  # fmt: skip
        await s.commit()
    return call_id


async def add_usage(
    api: Api, org_id: str, agent: str | None, metric: str, quantity: float, at: datetime
) -> None:
    async with api.db.session() as s:
        s.add(
            UsageRecord(
                id=new_id("use"), org_id=org_id, agent=agent, metric=metric, quantity=quantity, occurred_at=at
            )
        )
        await s.commit()


async def store_agent(api: Api, org_id: str, name: str, spec: dict[str, Any]) -> None:
    async with api.db.session() as s:
        record = AgentRecord(id=new_id("agt"), org_id=org_id, name=name, version=2)
        s.add(record)
        await s.flush()
        s.add(AgentVersion(id=new_id("agv"), agent_id=record.id, version=1, spec={"name": name}))
        s.add(AgentVersion(id=new_id("agv"), agent_id=record.id, version=2, spec=spec))
        await s.commit()


@pytest.fixture
async def api(tmp_path: Path) -> Any:
    async with open_api(sqlite_url(tmp_path), tmp_path) as harness:
        yield harness


async def test_calls_minutes_latency_and_quality_per_day_and_agent(api: Api) -> None:
    org_id, owner = await owner_of(api)
    # barista: 20 turns at 100, 200, ... 2000 ms over two calls
    await add_call(api, org_id, agent="barista", started_at=DAY1, duration_s=120,
                   latencies=[{"e2e": 100.0 * i, "llm_ttft": 1.0} for i in range(1, 11)])  # fmt: skip
    await add_call(api, org_id, agent="barista", started_at=DAY2, duration_s=60, errors=2, status="failed",
                   latencies=[{"e2e_ms": 100.0 * i} for i in range(11, 21)])  # fmt: skip
    await add_call(api, org_id, agent="barista", started_at=DAY2 + timedelta(minutes=5), duration_s=30,
                   agent_joined=False)  # fmt: skip
    # assistant: latency from its parts (e2e missing), junk figures skipped
    await add_call(api, org_id, agent="assistant", started_at=DAY2, duration_s=90, latencies=[
        {"end_of_utterance": 300, "llm_ttft": 400, "tts_ttfb": 200},
        {"end_of_utterance": 300, "llm_ttft": "fast"},
        {"e2e": -5},
        {},
    ])  # fmt: skip
    await add_call(api, org_id, agent="assistant", started_at=DAY2, status="active", duration_s=None)
    await add_call(api, org_id, agent="barista", started_at=DAY2 + timedelta(days=30))  # outside the span

    r = await owner.get("/v1/analytics", params={"since": "2026-05-01", "until": "2026-05-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["calls"] == 5 and body["minutes"] == 5.0
    assert body["days"] == [
        {"day": "2026-05-04", "calls": 1, "minutes": 2.0},
        {"day": "2026-05-05", "calls": 4, "minutes": 3.0},
    ]
    agents = {a["agent"]: a for a in body["agents"]}
    barista, assistant = agents["barista"], agents["assistant"]
    assert barista["calls"] == 3 and barista["minutes"] == 3.5
    assert barista["latency_samples"] == 20
    assert barista["avg_latency_ms"] == 1050.0 and barista["p95_latency_ms"] == 1900.0
    assert barista["quality"] == {
        "agent_errors": 2,
        "failed_calls": 1,
        "calls_without_agent": 1,
        "dropped_calls": 2,
    }
    assert assistant["latency_samples"] == 1 and assistant["avg_latency_ms"] == 900.0
    assert assistant["quality"]["dropped_calls"] == 0  # an active call is not dropped
    assert body["quality"] == {
        "agent_errors": 2,
        "failed_calls": 1,
        "calls_without_agent": 1,
        "dropped_calls": 2,
    }
    assert body["p95_latency_ms"] == 1900.0


async def test_ai_usage_and_cost_follow_the_agents_providers(api: Api) -> None:
    org_id, owner = await owner_of(api)
    await store_agent(api, org_id, "concierge", {
        "name": "concierge",
        "stt": {"provider": "deepgram", "model": "nova-3"},
        "llm": {"provider": "openai", "model": "gpt-4o"},
        "tts": {"provider": "plugin", "plugin": "livekit.plugins.cartesia:TTS"},
    })  # fmt: skip
    for metric, quantity in (("stt_seconds", 600), ("llm_prompt_tokens", 1_000_000),
                             ("llm_completion_tokens", 100_000), ("tts_characters", 5000)):  # fmt: skip
        await add_usage(api, org_id, "concierge", metric, quantity, DAY1)
    await add_usage(api, org_id, "barista", "llm_prompt_tokens", 50_000, DAY1)  # a local catalogue agent
    await add_usage(api, org_id, "barista", "stt_seconds", 60, DAY1)

    body = (await owner.get("/v1/analytics", params={"period": "2026-05"})).json()
    agents = {a["agent"]: a for a in body["agents"]}
    concierge = agents["concierge"]
    assert concierge["calls"] == 0
    assert concierge["usage"]["llm_prompt_tokens"] == 1_000_000
    assert concierge["providers"] == {"stt": "deepgram:nova-3", "llm": "openai:gpt-4o",
                                      "tts": "plugin:livekit.plugins.cartesia:TTS"}  # fmt: skip
    cost = concierge["cost"]
    assert cost["stt_usd"] == pytest.approx(600 * 0.0077 / 60)
    assert cost["llm_usd"] == pytest.approx(2.50 + 0.1 * 10.00)
    assert cost["tts_usd"] == 0 and cost["unpriced"] == ["tts_characters"]
    assert cost["total_usd"] == pytest.approx(cost["stt_usd"] + cost["llm_usd"])
    barista = agents["barista"]
    assert barista["providers"]["llm"].startswith("local") and barista["cost"]["total_usd"] == 0
    assert body["cost"]["total_usd"] == pytest.approx(cost["total_usd"])
    assert body["cost"]["unpriced"] == ["tts_characters"]
    assert body["usage"]["llm_prompt_tokens"] == 1_050_000


async def test_prices_from_the_plans_file_win(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yaml"
    plans.write_text(
        "prices:\n  llm.openai:gpt-4o: {prompt: 0.000001, completion: 0.000002}\n", encoding="utf-8"
    )
    async with open_api(sqlite_url(tmp_path), tmp_path, plans_file=plans) as api:
        org_id, owner = await owner_of(api)
        await store_agent(
            api, org_id, "concierge", {"name": "concierge", "llm": {"provider": "openai", "model": "gpt-4o"}}
        )
        await add_usage(api, org_id, "concierge", "llm_prompt_tokens", 1_000_000, DAY1)
        await add_usage(api, org_id, "concierge", "llm_completion_tokens", 1_000_000, DAY1)
        body = (await owner.get("/v1/analytics", params={"period": "2026-05"})).json()
        assert body["cost"]["llm_usd"] == pytest.approx(3.0)


async def test_analytics_are_per_organisation_and_open_to_viewers(api: Api) -> None:
    org_id, owner = await owner_of(api)
    _, other = await owner_of(api)
    await add_call(api, org_id, agent="barista", started_at=DAY1, latencies=[{"e2e": 500}])
    await add_usage(api, org_id, "barista", "stt_seconds", 60, DAY1)
    viewer = await api.member(owner, "viewer", "viewer@acme.test")
    mine = await viewer.get("/v1/analytics", params={"period": "2026-05"})
    assert mine.status_code == 200 and mine.json()["calls"] == 1
    theirs = (await other.get("/v1/analytics", params={"period": "2026-05"})).json()
    assert theirs["calls"] == 0 and theirs["agents"] == [] and theirs["usage"] == {}
    assert theirs["avg_latency_ms"] is None and theirs["p95_latency_ms"] is None
    assert (await api.client().get("/v1/analytics")).status_code == 401


def test_turn_latency_is_read_defensively() -> None:
    assert turn_latency_ms({"e2e": 812.5}) == 812.5
    assert turn_latency_ms({"e2e_ms": 90}) == 90
    assert turn_latency_ms({"end_of_utterance_ms": 1, "llm_ttft_ms": 2, "tts_ttfb_ms": 3}) == 6
    for junk in (None, {}, {"e2e": True}, {"e2e": float("nan")}, {"e2e": "1"}, {"llm_ttft": 5}, [1, 2]):
        assert turn_latency_ms(junk) is None  # type: ignore[arg-type]
