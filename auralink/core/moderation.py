"""Moderation policies and the decisions they produce (the wire format; the engine lives in
:mod:`auralink.agents.meeting.moderation`).

A :class:`ModerationPolicy` is a list of rules, each discriminated by ``kind``:

- ``blocklist``: words and phrases, case-insensitive, matched on word boundaries;
- ``pii``: one ``entity`` (``card_number`` Luhn-checked, ``email``, ``phone``, ``iban`` mod-97-checked);
- ``toxicity``: a ``threshold`` on the toxicity score (offline classifier, or a BYOK LLM);
- ``regex``: a custom pattern, compiled when the policy loads.

Each rule carries ``actions`` from :data:`ACTIONS` (strongest first). Policies serialise to and from
JSON/YAML with :meth:`ModerationPolicy.model_dump` / :meth:`ModerationPolicy.load`; invalid input
raises :class:`PolicyError` whose issues name the field, e.g. ``rules[2].pattern``.

**Merging** (:meth:`ModerationPolicy.merge`): organisation rules are a floor an agent cannot lower.
The merged policy holds every enabled organisation rule, then the agent's rules whose id the
organisation does not use (an agent rule with an organisation rule's id is dropped: the organisation's
wins); the organisation's LLM classifier wins over the agent's. A disabled policy contributes nothing.

A :class:`Decision` is what one ``check`` of a line decided: the text safe to forward (PII redacted),
the actions to take and one :class:`ModerationRecord` per match. Records never hold the raw matched
text: only the kind, a hint (last 4 digits of a card, 2 of a phone number) or a salted hash.
"""

from __future__ import annotations

__all__ = [
    "ACTIONS",
    "PII_ENTITIES",
    "Action",
    "BlocklistRule",
    "Decision",
    "LLMClassifierSpec",
    "ModerationPolicy",
    "ModerationRecord",
    "PIIEntity",
    "PIIRule",
    "PolicyError",
    "RegexRule",
    "Rule",
    "Source",
    "ToxicityRule",
    "strongest_first",
]

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

Action = Literal["block", "mute", "redact", "notify_host", "flag", "warn"]
#: every action, strongest first: ``block`` drops the line, ``mute`` silences the speaker's track,
#: ``redact`` replaces the match with a placeholder, ``notify_host`` tells the room's host now,
#: ``flag`` queues the decision for human review, ``warn`` tells the speaker privately.
ACTIONS: tuple[Action, ...] = ("block", "mute", "redact", "notify_host", "flag", "warn")
PIIEntity = Literal["card_number", "email", "phone", "iban"]
PII_ENTITIES: tuple[PIIEntity, ...] = ("card_number", "email", "phone", "iban")
Source = Literal["speech", "chat"]

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_MAX_PATTERN = 500


def strongest_first(actions: Iterable[Action]) -> list[Action]:
    """Deduplicate ``actions`` and order them as :data:`ACTIONS` does."""
    wanted = set(actions)
    return [a for a in ACTIONS if a in wanted]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- rules
class _RuleBase(_Strict):
    id: str = Field(description="unique within the policy: lowercase letters, digits, '.', '-', '_'")
    description: str = ""
    enabled: bool = True
    actions: list[Action] = Field(min_length=1, description="what to do on a match; see ACTIONS")
    sources: list[Source] = Field(
        default_factory=lambda: list[Source](("speech", "chat")),
        min_length=1,
        description="speech, chat or both",
    )
    message: str | None = Field(
        default=None, max_length=300, description="said to the speaker by `warn`; a default per kind"
    )

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _RULE_ID.match(v):
            raise ValueError("use lowercase letters, digits, '.', '-' and '_', at most 63 characters")
        return v

    @field_validator("actions")
    @classmethod
    def _actions(cls, v: list[Action]) -> list[Action]:
        return strongest_first(v)


class BlocklistRule(_RuleBase):
    kind: Literal["blocklist"] = "blocklist"
    words: list[str] = Field(min_length=1, description="words or phrases, matched whole and case-blind")
    placeholder: str = Field(default="[blocked]", max_length=40)
    actions: list[Action] = Field(default_factory=lambda: list[Action](("redact",)), min_length=1)

    @field_validator("words")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        cleaned = [" ".join(w.split()) for w in v]
        for i, w in enumerate(cleaned):
            if not w:
                raise ValueError(f"entry {i} is empty")
        return cleaned


class PIIRule(_RuleBase):
    kind: Literal["pii"] = "pii"
    entity: PIIEntity = Field(description="card_number, email, phone or iban")
    placeholder: str | None = Field(default=None, max_length=40, description="default: [card number] …")
    actions: list[Action] = Field(default_factory=lambda: list[Action](("redact",)), min_length=1)


class ToxicityRule(_RuleBase):
    kind: Literal["toxicity"] = "toxicity"
    threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="score at or above which it fires")
    placeholder: str = Field(default="[blocked]", max_length=40, description="replaces profane words")
    actions: list[Action] = Field(
        default_factory=lambda: list[Action](("flag", "warn")),
        min_length=1,
    )


class RegexRule(_RuleBase):
    kind: Literal["regex"] = "regex"
    pattern: str = Field(min_length=1, max_length=_MAX_PATTERN, description="a Python regular expression")
    ignore_case: bool = True
    placeholder: str = Field(default="[redacted]", max_length=40)
    actions: list[Action] = Field(default_factory=lambda: list[Action](("redact",)), min_length=1)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        if compiled.fullmatch(""):
            raise ValueError("the pattern matches the empty string; it would match everywhere")
        return v

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)


Rule = Annotated[BlocklistRule | PIIRule | ToxicityRule | RegexRule, Field(discriminator="kind")]
RULE_KINDS = ("blocklist", "pii", "toxicity", "regex")


class LLMClassifierSpec(_Strict):
    """A bring-your-own-key toxicity classifier: any OpenAI-compatible chat completions endpoint."""

    base_url: str = Field(pattern=r"^https?://", description="e.g. https://api.openai.com/v1")
    model: str = Field(default="gpt-4o-mini", min_length=1)
    api_key_env: str = Field(default="OPENAI_API_KEY", description="env var with the key; '' for none")
    timeout_s: float = Field(default=1.5, gt=0.0, le=30.0, description="after this the offline score is used")


# ---------------------------------------------------------------- the policy
class PolicyIssue(_Strict):
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class PolicyError(ConfigError):
    """A moderation policy failed validation; ``issues`` names each bad field (``rules[2].pattern``)."""

    def __init__(self, issues: list[PolicyIssue], *, source: str = "moderation policy") -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) in the {source}:\n{lines}")


class ModerationPolicy(_Strict):
    enabled: bool = True
    rules: list[Rule] = Field(default_factory=list)
    llm_classifier: LLMClassifierSpec | None = Field(
        default=None, description="scores toxicity instead of the offline classifier when it answers"
    )

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: dict[str, int] = {}
        for i, rule in enumerate(rules):
            if rule.id in seen:
                raise ValueError(f"rules[{seen[rule.id]}] and rules[{i}] both have id {rule.id!r}")
            seen[rule.id] = i
        return rules

    @classmethod
    def default(cls) -> ModerationPolicy:
        """Redact card numbers, emails and phone numbers; flag toxicity >= 0.8 and warn the speaker."""
        return cls(
            rules=[
                PIIRule(id="pii.card_number", entity="card_number", actions=["redact"]),
                PIIRule(id="pii.email", entity="email", actions=["redact"]),
                PIIRule(id="pii.phone", entity="phone", actions=["redact"]),
                ToxicityRule(id="toxicity", threshold=0.8, actions=["flag", "warn"]),
            ]
        )

    @classmethod
    def load(
        cls, data: Mapping[str, Any] | str | bytes, *, source: str = "moderation policy"
    ) -> ModerationPolicy:
        """Validate a dict (from YAML) or a JSON string; raise :class:`PolicyError` naming each field."""
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as e:
            raise PolicyError(
                [PolicyIssue(field=f, message=m) for f, m in policy_problems(e)], source=source
            ) from None

    def rules_for(self, source: Source) -> list[Rule]:
        """The enabled rules that apply to ``source``; none when the policy is disabled."""
        if not self.enabled:
            return []
        return [r for r in self.rules if r.enabled and source in r.sources]

    @classmethod
    def merge(cls, org: ModerationPolicy | None, agent: ModerationPolicy | None) -> ModerationPolicy:
        """Organisation rules first and unweakened, then the agent's rules with new ids."""
        parts = [p for p in (org, agent) if p is not None and p.enabled]
        rules: list[Rule] = []
        ids: set[str] = set()
        for part in parts:
            for rule in part.rules:
                if rule.id not in ids:
                    rules.append(rule)
                    ids.add(rule.id)
        classifier = next((p.llm_classifier for p in parts if p.llm_classifier is not None), None)
        return cls(enabled=bool(parts), rules=rules, llm_classifier=classifier)


def policy_problems(error: ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` per error, fields written as in the YAML (``rules[2].pattern``),
    without the union tags pydantic inserts in its locations."""
    out: list[tuple[str, str]] = []
    for err in error.errors():
        loc = list(err["loc"])
        # pydantic puts the discriminator value after a list index: rules.2.regex.pattern
        cleaned = [
            p for i, p in enumerate(loc) if not (p in RULE_KINDS and i > 0 and isinstance(loc[i - 1], int))
        ]
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            cleaned.append("kind")
        field = ""
        for part in cleaned:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        out.append((field, _message(err)))
    return out


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown field (see docs/moderation.md)"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        return f"expected `kind:` to be one of {', '.join(RULE_KINDS)}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


# ---------------------------------------------------------------- decisions
class ModerationRecord(_Strict):
    """One rule that matched one line: safe to store and show admins (no raw matched text)."""

    rule_id: str
    kind: Literal["blocklist", "pii", "toxicity", "regex"]
    entity: str | None = Field(default=None, description="card_number, email, ... for pii rules")
    actions: list[Action]
    speaker: str = Field(description="participant identity")
    source: Source
    excerpt: str = Field(description="non-reversible: a kind, last digits or a salted hash, never the value")
    score: float | None = Field(default=None, description="toxicity score, for toxicity rules")
    categories: list[str] = Field(default_factory=list, description="from the LLM classifier, if used")


class Decision(_Strict):
    """What moderation decided for one line of speech or chat."""

    id: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    speaker: str
    source: Source
    text: str = Field(description="the line with redactions applied: what the LLM, storage and logs get")
    blocked: bool = Field(default=False, description="a `block` action fired: forward nothing")
    actions: list[Action] = Field(default_factory=list, description="deduplicated, strongest first")
    records: list[ModerationRecord] = Field(default_factory=list)
    toxicity: float | None = Field(default=None, description="the line's toxicity score, if scored")
    classifier: Literal["offline", "llm"] | None = None
    warnings: list[str] = Field(default_factory=list, description="e.g. the LLM classifier failed")
    warn_messages: list[str] = Field(default_factory=list, description="what `warn` tells the speaker")
    elapsed_ms: float = 0.0

    @property
    def matched(self) -> bool:
        return bool(self.records)

    @property
    def rule_ids(self) -> list[str]:
        return list(dict.fromkeys(r.rule_id for r in self.records))
