"""Who may do what: roles, actions and the permission matrix every route checks.

The matrix (:data:`PERMISSIONS`) is the single source; ``docs/api-permissions.md`` carries
the same table, rendered by :func:`permission_table_markdown` and checked by a test. Beyond
the matrix, three rules hold everywhere (enforced in the routes):

- nobody grants a role above their own, or acts on a member or key that outranks them;
- only an owner makes, unmakes or removes an owner, and the last owner stays;
- an API key acts with its own role, narrowed to its scopes when it has any.
"""

from __future__ import annotations

__all__ = [
    "PERMISSIONS",
    "Action",
    "Role",
    "allowed",
    "outranks",
    "permission_table_markdown",
]

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.OWNER: 3, Role.ADMIN: 2, Role.DEVELOPER: 1, Role.VIEWER: 0}


class Action(StrEnum):
    ORGANISATION_READ = "organisation:read"
    ORGANISATION_UPDATE = "organisation:update"
    MEMBERS_READ = "members:read"
    MEMBERS_INVITE = "members:invite"
    MEMBERS_UPDATE = "members:update"
    MEMBERS_REMOVE = "members:remove"
    KEYS_READ = "keys:read"
    KEYS_CREATE = "keys:create"
    KEYS_UPDATE = "keys:update"
    KEYS_REVOKE = "keys:revoke"
    KEYS_ROTATE = "keys:rotate"
    LINKS_READ = "links:read"
    LINKS_CREATE = "links:create"
    LINKS_UPDATE = "links:update"
    LINKS_REVOKE = "links:revoke"
    ROOMS_READ = "rooms:read"
    ROOMS_CREATE = "rooms:create"
    ROOMS_DELETE = "rooms:delete"
    TOKENS_CREATE = "tokens:create"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_CREATE = "webhooks:create"
    WEBHOOKS_UPDATE = "webhooks:update"
    WEBHOOKS_DELETE = "webhooks:delete"
    AGENTS_READ = "agents:read"
    AGENTS_CREATE = "agents:create"
    AGENTS_UPDATE = "agents:update"
    AGENTS_DELETE = "agents:delete"
    CALLS_READ = "calls:read"
    CALLS_CREATE = "calls:create"
    TRANSCRIPTS_READ = "transcripts:read"
    USAGE_READ = "usage:read"
    PLAN_UPDATE = "plan:update"
    ANALYTICS_READ = "analytics:read"
    AUDIT_READ = "audit:read"
    GDPR_EXPORT = "gdpr:export"
    GDPR_ERASE = "gdpr:erase"
    MEMORIES_READ = "memories:read"
    MEMORIES_WRITE = "memories:write"
    PHONE_NUMBERS_READ = "phone_numbers:read"
    PHONE_NUMBERS_WRITE = "phone_numbers:write"
    MODERATION_READ = "moderation:read"
    MODERATION_WRITE = "moderation:write"
    FILES_READ = "files:read"
    FILES_DELETE = "files:delete"


_EVERYONE = frozenset(Role)
_OWNERS = frozenset({Role.OWNER})
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
_BUILDERS = frozenset({Role.OWNER, Role.ADMIN, Role.DEVELOPER})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.ORGANISATION_READ: _EVERYONE,
    Action.ORGANISATION_UPDATE: _MANAGERS,
    Action.MEMBERS_READ: _EVERYONE,
    Action.MEMBERS_INVITE: _MANAGERS,
    Action.MEMBERS_UPDATE: _MANAGERS,
    Action.MEMBERS_REMOVE: _MANAGERS,
    Action.KEYS_READ: _EVERYONE,
    Action.KEYS_CREATE: _BUILDERS,
    Action.KEYS_UPDATE: _BUILDERS,
    Action.KEYS_REVOKE: _BUILDERS,
    Action.KEYS_ROTATE: _BUILDERS,
    Action.LINKS_READ: _EVERYONE,
    Action.LINKS_CREATE: _BUILDERS,
    Action.LINKS_UPDATE: _BUILDERS,
    Action.LINKS_REVOKE: _BUILDERS,
    Action.ROOMS_READ: _EVERYONE,
    Action.ROOMS_CREATE: _BUILDERS,
    Action.ROOMS_DELETE: _BUILDERS,
    Action.TOKENS_CREATE: _BUILDERS,
    Action.WEBHOOKS_READ: _EVERYONE,
    Action.WEBHOOKS_CREATE: _BUILDERS,
    Action.WEBHOOKS_UPDATE: _BUILDERS,
    Action.WEBHOOKS_DELETE: _BUILDERS,
    Action.AGENTS_READ: _EVERYONE,
    Action.AGENTS_CREATE: _BUILDERS,
    Action.AGENTS_UPDATE: _BUILDERS,
    Action.AGENTS_DELETE: _BUILDERS,
    Action.CALLS_READ: _EVERYONE,
    Action.CALLS_CREATE: _BUILDERS,
    Action.TRANSCRIPTS_READ: _BUILDERS,
    Action.USAGE_READ: _EVERYONE,
    Action.PLAN_UPDATE: _OWNERS,
    Action.ANALYTICS_READ: _EVERYONE,
    Action.AUDIT_READ: _MANAGERS,
    Action.GDPR_EXPORT: _MANAGERS,
    Action.GDPR_ERASE: _MANAGERS,
    Action.MEMORIES_READ: _BUILDERS,
    Action.MEMORIES_WRITE: _BUILDERS,
    Action.PHONE_NUMBERS_READ: _EVERYONE,
    Action.PHONE_NUMBERS_WRITE: _BUILDERS,
    Action.MODERATION_READ: _MANAGERS,
    Action.MODERATION_WRITE: _MANAGERS,
    Action.FILES_READ: _BUILDERS,
    Action.FILES_DELETE: _MANAGERS,
}

_DESCRIPTIONS: dict[Action, str] = {
    Action.ORGANISATION_READ: "see the organisation",
    Action.ORGANISATION_UPDATE: "rename the organisation",
    Action.MEMBERS_READ: "list and see members",
    Action.MEMBERS_INVITE: "add a member with a role",
    Action.MEMBERS_UPDATE: "change a member's name or role",
    Action.MEMBERS_REMOVE: "remove a member",
    Action.KEYS_READ: "list API keys (prefix, name, scopes; never the secret)",
    Action.KEYS_CREATE: "create an API key (the secret is shown once)",
    Action.KEYS_UPDATE: "rename an API key",
    Action.KEYS_REVOKE: "revoke an API key",
    Action.KEYS_ROTATE: "replace an API key's secret (the old one is revoked)",
    Action.LINKS_READ: "list share links and their analytics (never a passcode)",
    Action.LINKS_CREATE: "create a share link to a call with an agent",
    Action.LINKS_UPDATE: "change a link's name, agent, expiry, uses, passcode or domain",
    Action.LINKS_REVOKE: "revoke a share link (its URL stops working)",
    Action.ROOMS_READ: "list rooms and their participants",
    Action.ROOMS_CREATE: "create a LiveKit room with agents dispatched",
    Action.ROOMS_DELETE: "end a room (everyone in it is disconnected)",
    Action.TOKENS_CREATE: "mint a participant token for a room",
    Action.WEBHOOKS_READ: "list webhook endpoints and their delivery logs (never a signing secret)",
    Action.WEBHOOKS_CREATE: "add a webhook endpoint (its signing secret is shown once)",
    Action.WEBHOOKS_UPDATE: "change an endpoint, rotate its secret, test-fire it, redeliver a delivery",
    Action.WEBHOOKS_DELETE: "delete a webhook endpoint and its delivery log",
    Action.AGENTS_READ: "list agents, their versions and feature toggles",
    Action.AGENTS_CREATE: "create an agent from an AgentSpec",
    Action.AGENTS_UPDATE: "save a new version of an agent, roll back, toggle its features",
    Action.AGENTS_DELETE: "delete an agent (its versions stay for the calls that used them)",
    Action.CALLS_READ: "list calls: participants, times, agent, status, latency figures",
    Action.CALLS_CREATE: "place an outbound phone call with an agent through a phone number's SIP trunk",
    Action.TRANSCRIPTS_READ: "read and search call transcripts and summaries (a sensitive read, audited)",
    Action.USAGE_READ: "see usage, quotas and the plan; export usage as CSV",
    Action.PLAN_UPDATE: "change the organisation's plan",
    Action.ANALYTICS_READ: "see call analytics: volume, minutes, latency, quality, cost estimates",
    Action.AUDIT_READ: "read and filter the audit log, check its hash chain",
    Action.GDPR_EXPORT: "export everything stored about a subject (a sensitive read, audited)",
    Action.GDPR_ERASE: "erase everything stored about a subject",
    Action.MEMORIES_READ: "list and search a subject's long-term memories (a sensitive read, audited)",
    Action.MEMORIES_WRITE: "add a memory about a subject, delete one, or forget a subject",
    Action.PHONE_NUMBERS_READ: "list phone numbers, the agent each reaches and their SIP trunk settings",
    Action.PHONE_NUMBERS_WRITE: "attach a phone number to an agent (SIP trunk), change or detach it",
    Action.MODERATION_READ: "see the moderation policy and the decisions moderation took in calls",
    Action.MODERATION_WRITE: "change the organisation's moderation policy; confirm or overturn flagged decisions",
    Action.FILES_READ: "list and download files shared in calls (a download is a sensitive read, audited)",
    Action.FILES_DELETE: "delete a file shared in a call",
}


def allowed(role: Role, action: Action) -> bool:
    return role in PERMISSIONS[action]


def outranks(a: Role, b: Role) -> bool:
    """``a`` is strictly above ``b``."""
    return a.rank > b.rank


def permission_table_markdown() -> str:
    """The matrix as the Markdown table in docs/api-permissions.md."""
    roles = list(Role)
    lines = [
        "| action | what it allows | " + " | ".join(r.value for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for action, who in PERMISSIONS.items():
        marks = " | ".join("yes" if r in who else "no" for r in roles)
        lines.append(f"| `{action.value}` | {_DESCRIPTIONS[action]} | {marks} |")
    return "\n".join(lines) + "\n"
