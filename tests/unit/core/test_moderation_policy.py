"""Moderation policies: defaults, YAML/JSON round trips, errors that name the field, merging."""

from __future__ import annotations

import json

import pytest
import yaml

from auralink.core.errors import ConfigError
from auralink.core.moderation import (
    BlocklistRule,
    ModerationPolicy,
    PIIRule,
    PolicyError,
    RegexRule,
    ToxicityRule,
    strongest_first,
)

POLICY_YAML = """
rules:
  - id: pii.card_number
    kind: pii
    entity: card_number
    actions: [redact, flag]
  - id: competitors
    kind: blocklist
    words: [AcmeCorp, "secret project"]
    actions: [warn, redact]
  - id: toxicity
    kind: toxicity
    threshold: 0.7
    actions: [flag, mute, warn]
    sources: [speech]
  - id: employee-ids
    kind: regex
    pattern: 'EMP-\\d{6}'
    placeholder: "[employee id]"
    actions: [redact]
llm_classifier:
  base_url: http://127.0.0.1:11434/v1
  model: llama3.2
  api_key_env: ""
"""


def _problems(data: object) -> dict[str, str]:
    with pytest.raises(PolicyError) as info:
        ModerationPolicy.load(data)  # type: ignore[arg-type]
    return {issue.field: issue.message for issue in info.value.issues}


def test_default_policy_redacts_pii_and_flags_toxicity_without_muting() -> None:
    policy = ModerationPolicy.default()
    pii = {r.entity: r.actions for r in policy.rules if isinstance(r, PIIRule)}
    assert pii == {"card_number": ["redact"], "email": ["redact"], "phone": ["redact"]}
    (tox,) = [r for r in policy.rules if isinstance(r, ToxicityRule)]
    assert tox.threshold == 0.8
    assert tox.actions == ["flag", "warn"]
    assert not any("mute" in r.actions for r in policy.rules)


def test_yaml_policy_loads_and_round_trips_through_json_and_yaml() -> None:
    policy = ModerationPolicy.load(yaml.safe_load(POLICY_YAML))
    kinds = [type(r) for r in policy.rules]
    assert kinds == [PIIRule, BlocklistRule, ToxicityRule, RegexRule]
    # actions come back deduplicated and strongest first whatever order they were written in
    assert policy.rules[2].actions == ["mute", "flag", "warn"]
    assert policy.rules[1].actions == ["redact", "warn"]
    assert policy.rules_for("chat") == [policy.rules[0], policy.rules[1], policy.rules[3]]
    assert ModerationPolicy.load(policy.model_dump_json()) == policy
    dumped = yaml.safe_dump(policy.model_dump(mode="json"))
    assert ModerationPolicy.load(yaml.safe_load(dumped)) == policy
    assert json.loads(policy.model_dump_json())["rules"][3]["pattern"] == r"EMP-\d{6}"


def test_bad_regex_error_names_the_field() -> None:
    data = yaml.safe_load(POLICY_YAML)
    data["rules"][3]["pattern"] = "EMP-(\\d{6}"
    problems = _problems(data)
    assert list(problems) == ["rules[3].pattern"]
    assert "not a valid regular expression" in problems["rules[3].pattern"]


def test_pattern_matching_empty_text_is_refused() -> None:
    problems = _problems({"rules": [{"id": "x", "kind": "regex", "pattern": "a*"}]})
    assert "empty string" in problems["rules[0].pattern"]


def test_each_bad_field_is_named() -> None:
    data = {
        "rules": [
            {"id": "ok", "kind": "pii", "entity": "email"},
            {"id": "t", "kind": "toxicity", "threshold": 1.5},
            {"id": "b", "kind": "blocklist", "words": []},
            {"id": "p", "kind": "pii", "entity": "passport"},
            {"id": "a", "kind": "pii", "entity": "email", "actions": ["explode"]},
            {"id": "Bad Id", "kind": "pii", "entity": "email"},
            {"id": "k", "kind": "sentiment"},
            {"id": "e", "kind": "pii", "entity": "email", "colour": "red"},
        ]
    }
    problems = _problems(data)
    assert set(problems) == {
        "rules[1].threshold",
        "rules[2].words",
        "rules[3].entity",
        "rules[4].actions[0]",
        "rules[5].id",
        "rules[6].kind",
        "rules[7].colour",
    }
    assert "blocklist, pii, toxicity, regex" in problems["rules[6].kind"]
    assert problems["rules[7].colour"].startswith("unknown field")


def test_duplicate_rule_ids_are_refused_naming_both() -> None:
    rule = {"id": "same", "kind": "pii", "entity": "email"}
    problems = _problems({"rules": [rule, {**rule, "entity": "phone"}]})
    assert "rules[0] and rules[1]" in problems["rules"]


def test_policy_error_is_a_config_error_with_a_readable_message() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\.threshold"):
        ModerationPolicy.load('{"rules": [{"id": "t", "kind": "toxicity", "threshold": -1}]}')


def test_merge_keeps_org_rules_as_a_floor_and_adds_agent_rules() -> None:
    org = ModerationPolicy(
        rules=[
            PIIRule(id="pii.card_number", entity="card_number", actions=["redact", "flag"]),
            ToxicityRule(id="toxicity", threshold=0.6, actions=["flag"]),
        ]
    )
    agent = ModerationPolicy(
        rules=[
            ToxicityRule(id="toxicity", threshold=0.99, actions=["warn"]),  # cannot weaken the org's
            BlocklistRule(id="spoilers", words=["the butler did it"]),
        ]
    )
    merged = ModerationPolicy.merge(org, agent)
    assert [r.id for r in merged.rules] == ["pii.card_number", "toxicity", "spoilers"]
    assert merged.rules[1] == org.rules[1]
    assert ModerationPolicy.merge(None, agent) == agent
    assert ModerationPolicy.merge(org, None) == org


def test_merge_drops_a_disabled_policy() -> None:
    org = ModerationPolicy(enabled=False, rules=[PIIRule(id="pii.email", entity="email")])
    agent = ModerationPolicy.default()
    assert ModerationPolicy.merge(org, agent).rules == agent.rules
    nothing = ModerationPolicy.merge(org, None)
    assert not nothing.enabled
    assert nothing.rules_for("speech") == []


def test_strongest_first_orders_and_deduplicates() -> None:
    assert strongest_first(["warn", "flag", "warn", "block", "redact", "mute", "notify_host"]) == [
        "block",
        "mute",
        "redact",
        "notify_host",
        "flag",
        "warn",
    ]
