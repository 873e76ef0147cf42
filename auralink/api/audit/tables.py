"""Which tables the audit log follows, the name each goes by, and what is never worth an entry.

Audited: the management tables a person changes on purpose (organisations, members, their OIDC
identities, API keys, share links, rooms, webhook endpoints, agents and agent versions, phone
numbers, the moderation policy).

Not audited, because they are high-volume internal records or the log of something already
audited: ``member_sessions`` (every login), ``link_visitors`` (salted hashes per visit),
``webhook_deliveries``/``webhook_attempts`` (the outbox and its retries), ``room_events``,
``calls``/``call_participants``/``call_turns`` (written by LiveKit webhooks and the worker),
``usage_records`` (metering), ``moderation_decisions``/``call_notes``/``call_files`` (the
worker's meeting reports; a review is recorded as ``moderation.reviewed``, a file's download and
deletion as ``files.read`` and ``files.deleted``) and ``audit_log`` itself. Reading or erasing those is audited where
it happens (transcript reads, GDPR export and erase).

Columns in :data:`_QUIET` change as a side effect of use (a key's ``last_used_at``, a link's
visit counters); an update that touches only those writes no entry.
"""

from __future__ import annotations

__all__ = ["AUDITED", "SAFE_VALUES", "AuditedTable"]

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditedTable:
    noun: str
    quiet: frozenset[str] = frozenset()


AUDITED: dict[str, AuditedTable] = {
    "organisations": AuditedTable("organisation"),
    "members": AuditedTable("member"),
    "member_identities": AuditedTable("member_identity"),
    "api_keys": AuditedTable("api_key", frozenset({"last_used_at"})),
    "share_links": AuditedTable("link", frozenset({"uses", "opens", "last_used_at"})),
    "rooms": AuditedTable("room"),
    "webhook_endpoints": AuditedTable("webhook"),
    "agents": AuditedTable("agent", frozenset({"updated_at"})),
    "agent_versions": AuditedTable("agent_version"),
    "phone_numbers": AuditedTable("phone_number", frozenset({"updated_at"})),
    "moderation_policies": AuditedTable("moderation_policy", frozenset({"updated_at"})),
}

#: columns whose new value is an enumeration or a number, never personal data or a secret; an
#: entry shows these values, every other changed column only by name
SAFE_VALUES = frozenset({"role", "plan", "version", "enabled", "scopes", "events", "agent", "source"})
