"""Usage and billing as an organisation meets it: plans and quotas, 402/429 naming the quota,
API calls metered, the report and its CSV, usage.threshold webhooks sent once per threshold.

Call-side usage (call seconds, STT, TTS, LLM) is written by the worker's reports; here those
rows are inserted directly, as the report and the quotas only read them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from auralink.api import create_app
from auralink.api.db import Room, UsageRecord, WebhookDelivery, new_id
from auralink.api.usage import UsageRuntime, month_of
from auralink.core import ConfigError, Settings
from tests.unit.api.test_auth import Api, open_api, sqlite_url
from tests.unit.api.test_links import CATALOGUE


async def add_usage(
    api: Api,
    org_id: str,
    metric: str,
    quantity: float,
    *,
    agent: str | None = None,
    at: datetime | None = None,
) -> None:
    async with api.db.session() as s:
        s.add(
            UsageRecord(
                id=new_id("use"),
                org_id=org_id,
                agent=agent,
                metric=metric,
                quantity=quantity,
                occurred_at=at or datetime.now(UTC),
            )
        )
        await s.commit()


def runtime(api: Api) -> UsageRuntime:
    usage = api.app.state.usage
    assert isinstance(usage, UsageRuntime)
    return usage


async def owner_of(api: Api) -> tuple[str, httpx.AsyncClient]:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    org = await api.signup()
    return org.id, await api.login(org.email)


def quota(plan: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(q for q in plan["quotas"] if q["quota"] == name)
    return found


async def test_the_plan_shows_each_quota_with_what_was_used_this_month(api: Api) -> None:
    org_id, owner = await owner_of(api)
    await add_usage(api, org_id, "call_seconds", 600, agent="barista")
    await add_usage(api, org_id, "llm_prompt_tokens", 1000, agent="barista")
    await add_usage(api, org_id, "llm_completion_tokens", 500, agent="barista")
    # last month's usage does not count against this month's quota
    await add_usage(
        api, org_id, "call_seconds", 99_999, at=month_of(datetime.now(UTC)).start - timedelta(seconds=1)
    )
    r = await owner.get("/v1/usage/plan")
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["plan"] == "free" and plan["plans"] == ["free", "pro", "enterprise"]
    assert plan["period"] == month_of(datetime.now(UTC)).label
    minutes = quota(plan, "call_minutes")
    assert minutes == {"quota": "call_minutes", "limit": 100, "used": 10, "remaining": 90, "percent": 10}
    assert quota(plan, "llm_tokens")["used"] == 1500
    assert plan["rate_limit"] == {
        "per_minute": api.settings.rate_limit_per_minute,
        "burst": api.settings.rate_limit_burst,
    }


async def test_only_an_owner_changes_the_plan_and_only_to_a_known_one(api: Api) -> None:
    _, owner = await owner_of(api)
    admin = await api.member(owner, "admin", "admin@acme.test")
    r = await admin.put("/v1/usage/plan", json={"plan": "pro"})
    assert r.status_code == 403
    assert (await admin.get("/v1/usage/plan")).json()["plan"] == "free"  # admins still read it
    r = await owner.put("/v1/usage/plan", json={"plan": "platinum"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "plan" and "enterprise" in r.json()["error"]["message"]
    r = await owner.patch("/v1/usage/plan", json={"plan": "pro", "discount": 100})
    assert r.status_code == 422
    r = await owner.put("/v1/usage/plan", json={"plan": "pro"})
    assert r.status_code == 200, r.text
    assert r.json()["plan"] == "pro"
    assert quota(r.json(), "call_minutes")["limit"] == 10_000
    assert r.json()["rate_limit"]["per_minute"] == api.settings.rate_limit_per_minute * 5
    r = await owner.patch("/v1/usage/plan", json={"plan": "enterprise"})
    assert r.status_code == 200
    assert all(q["limit"] is None and q["percent"] is None for q in r.json()["quotas"])
    assert (await admin.get("/v1/usage/plan")).json()["plan"] == "enterprise"


async def test_call_minutes_used_up_refuse_new_calls_with_402_naming_the_quota(api: Api) -> None:
    org_id, owner = await owner_of(api)
    link = (await owner.post("/v1/links", json={"agent": "barista"})).json()
    code = link["code"]
    assert (await api.client().post(f"/j/{code}/session", json={})).status_code == 201
    await add_usage(api, org_id, "call_seconds", 100 * 60 + 30, agent="barista")

    r = await api.client().post(f"/j/{code}/session", json={})
    assert r.status_code == 402, r.text
    error = r.json()["error"]
    period = month_of(datetime.now(UTC))
    assert error["type"] == "QuotaExceeded"
    assert error["quota"] == "call_minutes" and error["limit"] == 100 and error["used"] == 100.5
    assert error["period"] == period.label
    assert datetime.fromisoformat(error["period_end"]) == period.end
    assert "call_minutes" in error["message"] and "100.5 of 100 minutes" in error["message"]
    # the refused join was not counted as a use of the link
    assert (await owner.get(f"/v1/links/{link['id']}")).json()["uses"] == 1

    async with api.db.session() as s:  # a room made before the quota ran out
        s.add(Room(id=new_id("rom"), org_id=org_id, name="standup", agents=["barista"]))
        await s.commit()
    sdk = api.client(key=(await api.key(owner, role="admin"))["secret"])
    assert (await sdk.post("/v1/rooms/nope/tokens", json={"identity": "ada"})).status_code == 404
    for attempt in (
        sdk.post("/v1/rooms", json={"agents": ["barista"]}),
        sdk.post("/v1/rooms/standup/tokens", json={"identity": "ada"}),
    ):
        r = await attempt
        assert r.status_code == 402, r.text
        assert r.json()["error"]["quota"] == "call_minutes"

    assert (await owner.put("/v1/usage/plan", json={"plan": "pro"})).status_code == 200
    assert (await api.client().post(f"/j/{code}/session", json={})).status_code == 201
    assert (await sdk.post("/v1/rooms/standup/tokens", json={"identity": "ada"})).status_code == 201


async def test_api_calls_over_the_monthly_quota_get_429_naming_the_quota(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yaml"
    plans.write_text("plans:\n  free:\n    quotas: {api_calls: 5}\n", encoding="utf-8")
    async with open_api(sqlite_url(tmp_path), tmp_path, plans_file=plans) as api:
        _, owner = await owner_of(api)
        sdk = api.client(key=(await api.key(owner))["secret"])
        assert [(await sdk.get("/v1/keys")).status_code for _ in range(5)] == [200] * 5
        r = await sdk.get("/v1/keys")
        assert r.status_code == 429
        error = r.json()["error"]
        assert error["type"] == "QuotaExceeded" and error["quota"] == "api_calls"
        assert error["limit"] == 5 and error["used"] == 5
        assert 0 < int(r.headers["retry-after"]) <= 31 * 86400
        # the usage routes stay open so the caller can see why; the dashboard is not metered
        assert (await sdk.get("/v1/usage/plan")).status_code == 200
        assert (await owner.get("/v1/keys")).status_code == 200
        await runtime(api).meter.flush()
        assert quota((await owner.get("/v1/usage/plan")).json(), "api_calls")["used"] == 6


async def test_authenticated_api_calls_are_metered_per_organisation_after_a_flush(api: Api) -> None:
    org_id, owner = await owner_of(api)
    other_id, other_owner = await owner_of(api)
    key = (await api.key(owner))["secret"]
    sdk = api.client(key=key)
    for _ in range(4):
        assert (await sdk.get("/v1/keys")).status_code == 200
    assert (await sdk.get("/v1/rooms/nope")).status_code == 404  # answered: a call all the same
    wrong = api.client(key=key[:-4] + "AAAA")  # the key's prefix, a wrong secret: 401, not counted
    assert (await wrong.get("/v1/keys")).status_code == 401
    other_sdk = api.client(key=(await api.key(other_owner))["secret"])
    assert (await other_sdk.get("/v1/keys")).status_code == 200
    for _ in range(3):
        await owner.get("/v1/keys")  # dashboard sessions are not API calls

    # nothing is written per request; a flush writes one row per organisation
    async with api.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(UsageRecord)) == 0
    assert await runtime(api).meter.flush() == 6
    async with api.db.session() as s:
        rows = (await s.execute(select(UsageRecord.org_id, UsageRecord.metric, UsageRecord.quantity))).all()
    assert sorted(rows) == sorted([(org_id, "api_calls", 5.0), (other_id, "api_calls", 1.0)])
    assert await runtime(api).meter.flush() == 0
    r = await owner.get("/v1/usage")
    assert r.json()["totals"]["api_calls"] == 5
    assert (await other_owner.get("/v1/usage")).json()["totals"]["api_calls"] == 1


async def test_the_last_counts_are_written_when_the_api_stops(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    async with open_api(url, tmp_path / "a") as api:
        org_id, owner = await owner_of(api)
        sdk = api.client(key=(await api.key(owner))["secret"])
        for _ in range(3):
            await sdk.get("/v1/keys")
    async with open_api(url, tmp_path / "b") as again:
        async with again.db.session() as s:
            total = await s.scalar(select(func.sum(UsageRecord.quantity)).where(UsageRecord.org_id == org_id))
        assert total == 3


async def test_the_report_sums_per_agent_and_per_day_and_the_csv_has_a_row_per_day_agent_metric(
    api: Api,
) -> None:
    org_id, owner = await owner_of(api)
    day1, day2 = datetime(2026, 3, 9, 10, tzinfo=UTC), datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
    await add_usage(api, org_id, "call_seconds", 90, agent="barista", at=day1)
    await add_usage(api, org_id, "call_seconds", 30, agent="barista", at=day1 + timedelta(hours=2))
    await add_usage(api, org_id, "tts_characters", 420, agent="barista", at=day2)
    await add_usage(api, org_id, "call_seconds", 60, agent="assistant", at=day2)
    await add_usage(api, org_id, "api_calls", 7, at=day2)
    await add_usage(api, org_id, "call_seconds", 500, agent="barista", at=datetime(2026, 4, 1, tzinfo=UTC))

    r = await owner.get("/v1/usage", params={"period": "2026-03"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == "2026-03" and body["groups"] == []
    assert body["totals"] == {
        "api_calls": 7, "call_seconds": 180, "stt_seconds": 0, "tts_characters": 420,
        "llm_prompt_tokens": 0, "llm_completion_tokens": 0,
    }  # fmt: skip
    assert body["call_minutes"] == 3

    by_agent = (await owner.get("/v1/usage", params={"period": "2026-03", "group_by": "agent"})).json()[
        "groups"
    ]
    assert by_agent == [
        {"day": None, "agent": None, "metrics": {"api_calls": 7}},
        {"day": None, "agent": "assistant", "metrics": {"call_seconds": 60}},
        {"day": None, "agent": "barista", "metrics": {"call_seconds": 120, "tts_characters": 420}},
    ]
    by_day = (await owner.get("/v1/usage", params={"period": "2026-03", "group_by": "day"})).json()["groups"]
    assert [(g["day"], g["metrics"]) for g in by_day] == [
        ("2026-03-09", {"call_seconds": 120}),
        ("2026-03-10", {"api_calls": 7, "call_seconds": 60, "tts_characters": 420}),
    ]
    span = await owner.get("/v1/usage", params={"since": "2026-03-10", "until": "2026-04-02"})
    assert span.json()["totals"]["call_seconds"] == 560 and span.json()["period"] is None

    r = await owner.get("/v1/usage/export.csv", params={"period": "2026-03"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="usage-2026-03-01-2026-04-01.csv"' in r.headers["content-disposition"]
    assert r.text == (
        "day,agent,metric,quantity\n"
        "2026-03-09,barista,call_seconds,120\n"
        "2026-03-10,,api_calls,7\n"
        "2026-03-10,assistant,call_seconds,60\n"
        "2026-03-10,barista,tts_characters,420\n"
    )


async def test_one_organisation_never_sees_another_ones_usage(api: Api) -> None:
    org_id, _ = await owner_of(api)
    _, other = await owner_of(api)
    await add_usage(api, org_id, "call_seconds", 6000, agent="barista")
    assert (await other.get("/v1/usage")).json()["totals"]["call_seconds"] == 0
    assert (await other.get("/v1/usage/export.csv")).text == "day,agent,metric,quantity\n"
    assert quota((await other.get("/v1/usage/plan")).json(), "call_minutes")["used"] == 0


async def test_bad_periods_are_refused_naming_the_parameter(api: Api) -> None:
    _, owner = await owner_of(api)
    cases = [
        ({"period": "2026-13"}, "period"),
        ({"period": "March"}, "period"),
        ({"period": "2026-03", "since": "2026-03-01"}, "period"),
        ({"since": "2026-03-10", "until": "2026-03-01"}, "until"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
        ({"group_by": "week"}, "group_by"),
    ]
    for params, field in cases:
        for path in ("/v1/usage", "/v1/usage/export.csv", "/v1/analytics"):
            if field == "group_by" and path != "/v1/usage":
                continue
            r = await owner.get(path, params=params)
            assert r.status_code == 422, (path, params, r.text)
            assert r.json()["error"]["fields"][0]["field"] == field, (path, params)
    assert (await api.client().get("/v1/usage")).status_code == 401


async def _threshold_events(api: Api, org_id: str) -> list[dict[str, Any]]:
    async with api.db.session() as s:
        bodies = await s.scalars(
            select(WebhookDelivery.body).where(
                WebhookDelivery.org_id == org_id, WebhookDelivery.event_type == "usage.threshold"
            )
        )
        return [json.loads(b) for b in bodies]


async def test_usage_threshold_events_are_sent_once_at_80_and_once_at_100_percent(api: Api) -> None:
    org_id, owner = await owner_of(api)
    quiet_id, _ = await owner_of(api)  # no endpoint: nothing is queued for it
    r = await owner.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/usage", "events": ["usage.threshold"]}
    )
    assert r.status_code == 201, r.text
    watcher = runtime(api).thresholds

    await add_usage(api, org_id, "call_seconds", 79 * 60, agent="barista")
    await add_usage(api, quiet_id, "call_seconds", 200 * 60, agent="barista")
    await watcher.check()
    assert await _threshold_events(api, org_id) == []

    await add_usage(api, org_id, "call_seconds", 60, agent="barista")  # 80 of 100 minutes
    await watcher.check()
    await watcher.check()
    events = await _threshold_events(api, org_id)
    assert [e["data"] for e in events] == [
        {
            "metric": "call_minutes",
            "used": 80,
            "limit": 100,
            "threshold": 80,
            "period": month_of(datetime.now(UTC)).label,
        }
    ]

    await add_usage(api, org_id, "call_seconds", 30 * 60, agent="barista")  # 110 minutes
    for _ in range(3):
        await watcher.check()
    events = await _threshold_events(api, org_id)
    assert sorted(e["data"]["threshold"] for e in events) == [80, 100]
    assert len({e["id"] for e in events}) == 2
    assert await _threshold_events(api, quiet_id) == []


async def test_a_flush_checks_the_api_call_quota_threshold(tmp_path: Path) -> None:
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps({"plans": {"free": {"quotas": {"api_calls": 10}}}}), encoding="utf-8")
    async with open_api(sqlite_url(tmp_path), tmp_path, plans_file=plans) as api:
        org_id, owner = await owner_of(api)
        await owner.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/usage"})  # every event type
        sdk = api.client(key=(await api.key(owner))["secret"])
        for _ in range(8):
            assert (await sdk.get("/v1/keys")).status_code == 200
        await runtime(api).meter.flush()
        events = await _threshold_events(api, org_id)
        assert [(e["data"]["metric"], e["data"]["threshold"], e["data"]["used"]) for e in events] == [
            ("api_calls", 80, 8)
        ]


def test_a_bad_plans_file_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yaml"
    for text, expected in (
        ("plans:\n  pro:\n    quotas: {call_minutes: -5}\n", "plans.pro.quotas.call_minutes"),
        ("plans:\n  pro:\n    quota: {}\n", "plans.pro.quota"),
        ("plans:\n  Pro Plan: {}\n", "plans.Pro Plan"),
        ("prices:\n  tts.elevenlabs: cheap\n", "prices.tts.elevenlabs"),
        ("plans: [unclosed\n", "not valid"),
    ):
        plans.write_text(text, encoding="utf-8")
        settings = Settings(
            _env_file=None,
            LIVEKIT_API_KEY="test-key",
            LIVEKIT_API_SECRET="0123456789abcdef0123456789abcdef-test-secret",
            database_url=sqlite_url(tmp_path),
            plans_file=plans,
        )
        with pytest.raises(ConfigError) as caught:
            create_app(settings, web_dist=tmp_path / "no-dist")
        assert "AURALINK_PLANS_FILE" in str(caught.value) and str(plans) in str(caught.value)
        assert expected in str(caught.value), str(caught.value)


async def test_a_plans_file_adds_a_plan_and_changes_another(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yaml"
    plans.write_text(
        "plans:\n"
        "  pro: {quotas: {call_minutes: 20000}, rate_limit_per_minute: 7000}\n"
        "  team: {quotas: {call_minutes: 5000, api_calls: null}}\n",
        encoding="utf-8",
    )
    async with open_api(sqlite_url(tmp_path), tmp_path, plans_file=plans) as api:
        _, owner = await owner_of(api)
        r = await owner.put("/v1/usage/plan", json={"plan": "team"})
        assert r.status_code == 200, r.text
        team = r.json()
        assert team["plans"] == ["free", "pro", "enterprise", "team"]
        assert quota(team, "call_minutes")["limit"] == 5000 and quota(team, "api_calls")["limit"] is None
        assert quota(team, "stt_seconds")["limit"] == 6000  # the rest as on the free plan
        pro = (await owner.put("/v1/usage/plan", json={"plan": "pro"})).json()
        assert quota(pro, "call_minutes")["limit"] == 20000 and quota(pro, "api_calls")["limit"] == 1_000_000
        assert pro["rate_limit"]["per_minute"] == 7000
