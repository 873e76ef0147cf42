"""Meeting moderation through the API: the organisation's policy (validated field by field,
carried to the worker in every dispatch), the decisions the worker reports, their filters and
pages, reviews (once), ``moderation.flagged`` webhooks, roles and other organisations."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from auralink.api.db import AuditEntry, WebhookDelivery
from auralink.core.moderation import ModerationPolicy
from tests.unit.api.test_agents import _claims
from tests.unit.api.test_auth import Api
from tests.unit.api.test_calls import _delivered, _metadata, _report, receiver
from tests.unit.api.test_links import CATALOGUE
from tests.unit.api.test_webhooks import Receiver

__all__ = ["receiver"]  # the webhook receiver fixture

POLICY: dict[str, Any] = {
    "rules": [
        {"id": "pii.card", "kind": "pii", "entity": "card_number", "actions": ["redact"]},
        {"id": "words", "kind": "blocklist", "words": ["darn"], "actions": ["flag", "redact"]},
    ]
}


def moderation_event(
    speaker: str, *, rule: str = "toxicity", actions: list[str] | None = None, at: str | None = None
) -> dict[str, Any]:
    record = {
        "rule_id": rule,
        "kind": "toxicity" if rule == "toxicity" else "pii",
        "entity": None if rule == "toxicity" else "card_number",
        "actions": actions or ["flag", "warn"],
        "speaker": speaker,
        "source": "speech",
        "excerpt": "toxicity 0.93" if rule == "toxicity" else "card ending 4242",
        "score": 0.93 if rule == "toxicity" else None,
    }
    event: dict[str, Any] = {"type": "moderation", "record": record, "text_redacted": "you [blocked] idiot"}
    if at:
        event["at"] = at
    return event


async def _org(api: Api, name: str = "Acme") -> tuple[str, httpx.AsyncClient]:
    org = await api.signup(name)
    return org.id, await api.login(org.email)


async def test_the_policy_is_validated_by_field_stored_and_sent_with_every_dispatch(api: Api) -> None:
    api.settings.agents_file.write_text(CATALOGUE, encoding="utf-8")
    org_id, owner = await _org(api)
    r = await owner.get("/v1/moderation/policy")
    assert r.status_code == 200 and r.json()["stored"] is False

    link = (await owner.post("/v1/links", json={"agent": "barista"})).json()

    async def dispatched() -> dict[str, Any]:
        r = await api.client().post(f"/j/{link['code']}/session", json={})
        assert r.status_code == 201, r.text
        config = _claims(api, r.json()["token"]).room_config
        assert config is not None
        metadata: dict[str, Any] = json.loads(config.agents[0].metadata)
        return metadata

    assert "moderation" not in await dispatched()  # no stored policy: nothing extra

    bad = {"rules": [*POLICY["rules"], {"id": "re", "kind": "regex", "pattern": "(unclosed"}]}
    r = await owner.put("/v1/moderation/policy", json=bad)
    assert r.status_code == 422, r.text
    fields = [f["field"] for f in r.json()["error"]["fields"]]
    assert fields == ["rules[2].pattern"]
    r = await owner.put("/v1/moderation/policy", json={"rules": [{"id": "x", "kind": "telepathy"}]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "rules[0].kind"

    r = await owner.put("/v1/moderation/policy", json=POLICY)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] is True and [rule["id"] for rule in r.json()["policy"]["rules"]] == [
        "pii.card",
        "words",
    ]
    sent = (await dispatched())["moderation"]
    # the worker gets a policy it can load and merge with the agent's own
    merged = ModerationPolicy.merge(ModerationPolicy.load(sent), ModerationPolicy.default())
    assert [rule.id for rule in merged.rules][:2] == ["pii.card", "words"]
    assert (await owner.get("/v1/moderation/policy")).json()["policy"] == sent

    async with api.db.session() as s:
        actions = list(await s.scalars(select(AuditEntry.action).where(AuditEntry.org_id == org_id)))
    assert "moderation_policy.created" in actions  # a change made on purpose is audited

    developer = await api.member(owner, "developer", "dev@acme.test")
    assert (await developer.get("/v1/moderation/policy")).status_code == 403
    assert (await developer.put("/v1/moderation/policy", json=POLICY)).status_code == 403
    _, other = await _org(api, "Globex")
    assert (await other.get("/v1/moderation/policy")).json()["stored"] is False


async def test_flags_are_stored_pending_sent_as_webhooks_filtered_paged_and_reviewed_once(
    api: Api, receiver: Receiver
) -> None:
    org_id, owner = await _org(api)
    r = await owner.post("/v1/webhooks", json={"url": receiver.url, "events": ["moderation.flagged"]})
    assert r.status_code == 201, r.text
    events = [
        moderation_event("guest-1", at="2026-11-25T10:00:00+00:00"),
        moderation_event("guest-2", rule="pii.card", actions=["redact"], at="2026-11-25T10:01:00+00:00"),
        moderation_event("guest-1", at="2026-11-25T10:02:00+00:00"),
    ]
    r = await _report(api, "RM_mod1", events, metadata=_metadata(org_id))
    assert r.status_code == 200 and r.json()["moderation"] == 3, r.text
    call_id = r.json()["call_id"]

    page = (await owner.get("/v1/moderation/decisions", params={"limit": 2})).json()
    assert [d["speaker"] for d in page["items"]] == ["guest-1", "guest-2"]  # newest first
    rest = (await owner.get("/v1/moderation/decisions", params={"cursor": page["next_cursor"]})).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    pending = (await owner.get("/v1/moderation/decisions", params={"status": "pending"})).json()["items"]
    assert {d["speaker"] for d in pending} == {"guest-1"} and len(pending) == 2
    assert all(d["call_id"] == call_id and d["text_redacted"] == "you [blocked] idiot" for d in pending)
    by_rule = (await owner.get("/v1/moderation/decisions", params={"rule": "pii.card"})).json()["items"]
    assert [(d["review_status"], d["excerpt"]) for d in by_rule] == [("none", "card ending 4242")]
    since = (
        await owner.get("/v1/moderation/decisions", params={"since": "2026-11-25T10:01:30+00:00"})
    ).json()["items"]
    assert len(since) == 1
    assert (await owner.get("/v1/moderation/decisions", params={"speaker": "guest-2"})).json()["items"][0][
        "rule_id"
    ] == "pii.card"
    assert (await owner.get("/v1/moderation/decisions", params={"cursor": "nonsense"})).status_code == 422

    async with api.db.session() as s:
        bodies = list(
            await s.scalars(
                select(WebhookDelivery.body).where(WebhookDelivery.event_type == "moderation.flagged")
            )
        )
    assert len(bodies) == 2  # flags only, not the redaction
    assert await _delivered(api, receiver, 2) == ["moderation.flagged"] * 2
    data = json.loads(bodies[0])["data"]
    assert data["call_id"] == call_id and data["rule_id"] == "toxicity" and "text" not in json.dumps(data)

    decision = pending[0]["id"]
    r = await owner.post(
        f"/v1/moderation/decisions/{decision}/review", json={"verdict": "overturn", "note": "banter"}
    )
    assert r.status_code == 200, r.text
    reviewed = r.json()
    assert reviewed["review_status"] == "overturned" and reviewed["review_note"] == "banter"
    assert reviewed["reviewed_by"].startswith("member:") and reviewed["reviewed_at"]
    again = await owner.post(f"/v1/moderation/decisions/{decision}/review", json={"verdict": "confirm"})
    assert again.status_code == 409
    bad = await owner.post(f"/v1/moderation/decisions/{pending[1]['id']}/review", json={"verdict": "maybe"})
    assert bad.status_code == 422
    extra = await owner.post(
        f"/v1/moderation/decisions/{pending[1]['id']}/review", json={"verdict": "confirm", "x": 1}
    )
    assert extra.status_code == 422

    _, other = await _org(api, "Globex")
    assert (await other.get("/v1/moderation/decisions")).json()["items"] == []
    r = await other.post(f"/v1/moderation/decisions/{pending[1]['id']}/review", json={"verdict": "confirm"})
    assert r.status_code == 404
    viewer = await api.member(owner, "viewer", "v@acme.test")
    assert (await viewer.get("/v1/moderation/decisions")).status_code == 403


async def test_a_malformed_moderation_report_is_refused_and_stores_nothing(api: Api) -> None:
    org_id, owner = await _org(api)
    bad = moderation_event("guest-1")
    bad["record"]["raw_text"] = "4242 4242 4242 4242"  # records never carry the matched text
    r = await _report(api, "RM_mod2", [bad], metadata=_metadata(org_id))
    assert r.status_code == 422, r.text
    wrong_action = moderation_event("guest-1", actions=["explode"])
    assert (await _report(api, "RM_mod2", [wrong_action], metadata=_metadata(org_id))).status_code == 422
    assert (await owner.get("/v1/moderation/decisions")).json()["items"] == []
