"""The tables of the management API, as SQLAlchemy 2 declarative models.

    organisations ─┬─ members ── member_sessions   (dashboard logins, token stored hashed)
                   ├─ api_keys                     (secret stored hashed, prefix shown)
                   ├─ share_links ── link_visitors (public codes; visitors only as salted hashes)
                   ├─ rooms                        (LiveKit rooms made through the API)
                   └─ webhook_endpoints ── webhook_deliveries ── webhook_attempts
                                                   (the outbox of signed events, and its delivery log)
    room_events                                    (LiveKit's verified webhooks: rooms and participants)
    agents ── agent_versions                       (AgentSpecs per organisation, every save kept)
    calls ─┬─ call_participants                    (one call per room session, made from room events)
           └─ call_turns                           (transcript lines with per-turn latency)
    usage_records                                  (metered quantities per organisation and agent)
    audit_log                                      (append-only, hash-chained)
    member_identities                              (OIDC logins of members)
    phone_numbers                                  (numbers attached to agents through livekit-sip)
    moderation_policies                            (one moderation policy per organisation)
    calls ─┬─ moderation_decisions                 (what moderation flagged, redacted or blocked; reviews)
           ├─ call_notes                           (meeting notes: summary, action items, follow-ups)
           └─ call_files                           (files shared in a meeting; the bytes live on disk)

Ids are short random strings with a kind prefix (``org_…``, ``mem_…``, ``key_…``, ``lnk_…``), so they
say what they name and cannot be enumerated. Times are timezone-aware UTC on every backend.
The Alembic revisions create exactly these tables; change both together.
"""

from __future__ import annotations

__all__ = [
    "AgentRecord",
    "AgentVersion",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Call",
    "CallFile",
    "CallNotes",
    "CallParticipant",
    "CallTurn",
    "LinkVisitor",
    "Member",
    "MemberIdentity",
    "MemberSession",
    "ModerationDecision",
    "ModerationPolicyRecord",
    "Organisation",
    "PhoneNumber",
    "Room",
    "RoomEvent",
    "ShareLink",
    "UsageRecord",
    "UtcDateTime",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "is_id",
    "new_id",
    "utcnow",
]

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(kind: str) -> str:
    """``kind`` + ``_`` + 16 random hex digits, e.g. ``org_3f9a0c2d7b1e4a55``."""
    return f"{kind}_{secrets.token_hex(8)}"


_ID = re.compile(r"[a-z]{3}_[0-9a-f]{16}")


def is_id(value: str, kind: str) -> bool:
    """``value`` has the shape of an id of ``kind``; anything else names nothing (and never reaches SQL)."""
    return value.startswith(f"{kind}_") and _ID.fullmatch(value) is not None


class UtcDateTime(TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that always reads back aware UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("org"))
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(16), default="free")  # free | pro | enterprise
    features: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    members: Mapped[list[Member]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", passive_deletes=True
    )


class Member(Base):
    """A person in an organisation. E-mail addresses are unique across the installation."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("mem"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="members")


class MemberSession(Base):
    """A dashboard login: the cookie carries the token, the row keeps only its sha256."""

    __tablename__ = "member_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("ses"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiKey(Base):
    """A key for SDK calls: ``al_<prefix>_<secret>``; the row keeps the prefix and a sha256."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("key"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ShareLink(Base):
    """A public URL ``/j/<code>`` that opens a call with one agent.

    ``uses`` counts sessions minted (joins) and never passes ``max_uses``; ``opens`` counts
    visits of the page. Visitors are kept in :class:`LinkVisitor` as hashes salted with
    ``visitor_salt``, which is the link's own, so visitors of two links cannot be matched.
    """

    __tablename__ = "share_links"
    __table_args__ = (Index("ix_share_links_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("lnk"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    agent: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    custom_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    passcode_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    opens: Mapped[int] = mapped_column(Integer, default=0)
    visitor_salt: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LinkVisitor(Base):
    """One distinct visitor of a link: a salted sha256 of client address and user agent."""

    __tablename__ = "link_visitors"

    link_id: Mapped[str] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"), primary_key=True)
    visitor_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Room(Base):
    """A LiveKit room an organisation made through the API; names are unique on the server."""

    __tablename__ = "rooms"
    __table_args__ = (Index("ix_rooms_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("rom"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    agents: Mapped[list[str]] = mapped_column(JSON)
    empty_timeout: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookEndpoint(Base):
    """A URL an organisation's events are POSTed to, signed with ``secret``.

    The secret (``whsec_…``) is kept as-is: the server needs it to sign every delivery, so a hash
    would not do. Anyone who can read the database can read it (see docs/webhooks.md).
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("whk"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    events: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row, written in the transaction that caused the event.

    ``body`` is the exact JSON sent (signed as-is on every attempt). ``status`` is ``pending``
    until a 2xx answer (``delivered``) or the last attempt (``failed``); ``next_attempt_at`` is
    when the dispatcher may send it next, so the schedule survives a restart.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("dlv"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebhookAttempt(Base):
    """One POST of a delivery: when, how long, the answer's status code or the error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_number", "delivery_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("att"))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class RoomEvent(Base):
    """A verified LiveKit webhook about a room: started, finished, a participant joined or left.

    ``event_id`` is LiveKit's own id, unique, so a webhook LiveKit sends again is stored once.
    Participants are kept by identity only (no names or metadata).
    """

    __tablename__ = "room_events"
    __table_args__ = (Index("ix_room_events_room_name_occurred_at", "room_name", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("rev"))
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(32))
    room_name: Mapped[str] = mapped_column(String(128))
    room_sid: Mapped[str] = mapped_column(String(64), default="")
    participant_identity: Mapped[str | None] = mapped_column(String(255), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AgentRecord(Base):
    """An organisation's AgentSpec kept in the database; it wins over agents.yaml at run time.

    The spec itself lives in :class:`AgentVersion` rows, one per save; ``version`` is the one
    in use. ``features`` holds this agent's toggles (memory, recording, translation,
    moderation, mcp) that override the organisation's. A deleted agent keeps its versions
    (``deleted_at`` set) so calls made with it still name what ran.
    """

    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_agents_org_id_name"),
        Index("ix_agents_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("agt"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer, default=1)
    features: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | catalogue (seeded)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AgentVersion(Base):
    """One saved AgentSpec of an agent (the JSON of ``AgentSpec.model_dump(by_alias=True)``)."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version", name="uq_agent_versions_agent_id_version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("agv"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Call(Base):
    """One room session: made when LiveKit reports the room started, closed when it finished.

    ``org_id`` comes from the room's metadata (set by the API when it made the room or the
    token); a room nobody in the API made has none and is visible to no organisation.
    ``status`` is ``active``, ``ended`` or ``failed`` (the agent reported an error it could not
    recover from, or the call dropped); ``errors`` counts agent errors reported during it.
    """

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_org_id_started_at", "org_id", "started_at"),
        Index("ix_calls_room_name", "room_name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("cal"))
    org_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    room_name: Mapped[str] = mapped_column(String(128))
    room_sid: Mapped[str] = mapped_column(String(64), unique=True)
    agent: Mapped[str | None] = mapped_column(String(63), nullable=True)
    agent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | link | sip | twilio | dev
    link_id: Mapped[str | None] = mapped_column(
        ForeignKey("share_links.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class CallParticipant(Base):
    """Someone (or an agent) in a call: identity, display name, kind, when they joined and left."""

    __tablename__ = "call_participants"
    __table_args__ = (
        Index("ix_call_participants_call_id", "call_id"),
        Index("ix_call_participants_identity", "identity"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("cpt"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(16), default="standard")  # standard | agent | sip | ingress
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CallTurn(Base):
    """One final line of a call's transcript, persisted as the worker reports it.

    ``seq`` orders lines within the call and makes a report sent twice land once. ``speaker``
    is the participant identity (the agent's for its own lines). ``metrics`` holds that turn's
    latency figures in milliseconds (``end_of_utterance``, ``llm_ttft``, ``tts_ttfb``, ``e2e``).
    """

    __tablename__ = "call_turns"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_turns_call_id_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("trn"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    speaker: Mapped[str] = mapped_column(String(255), default="")
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    metrics: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    spoken_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UsageRecord(Base):
    """A metered quantity: ``metric`` is one of api_calls, call_seconds, stt_seconds,
    tts_characters, llm_prompt_tokens, llm_completion_tokens. Rows are summed per period."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_org_id_metric_occurred_at", "org_id", "metric", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("use"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    agent: Mapped[str | None] = mapped_column(String(63), nullable=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), nullable=True)
    metric: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEntry(Base):
    """One line of the append-only audit log, chained: ``hash`` = sha256(``prev_hash`` + the
    line's canonical JSON), so changing or removing any line breaks every hash after it.

    ``seq`` is the chain order (1, 2, …, no gaps). ``actor`` is ``member:<id>``, ``key:<id>``,
    ``system`` or ``anonymous``; ``ip`` where the request came from. No personal data beyond ids.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_id_seq", "org_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class MemberIdentity(Base):
    """A member's login at an OIDC provider: (issuer, subject) is who the provider says they are."""

    __tablename__ = "member_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_member_identities_issuer_subject"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("mid"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PhoneNumber(Base):
    """A phone number (E.164) an organisation attached to an agent through livekit-sip.

    Inbound calls to the number reach the agent through a LiveKit inbound trunk and dispatch rule
    (their ids kept here); outbound calls from it go through a LiveKit outbound trunk made from the
    carrier's termination settings. Passwords are never stored: ``*_password_env`` name the
    environment variables that hold them. Numbers are unique on the server: livekit-sip routes a
    call by the number dialled.
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (Index("ix_phone_numbers_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("phn"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(16), unique=True)
    agent: Mapped[str] = mapped_column(String(63))
    allowed_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    inbound_username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    inbound_password_env: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outbound_address: Mapped[str | None] = mapped_column(String(253), nullable=True)
    outbound_transport: Mapped[str | None] = mapped_column(String(8), nullable=True)
    outbound_username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    outbound_password_env: Mapped[str | None] = mapped_column(String(128), nullable=True)
    inbound_trunk_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dispatch_rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outbound_trunk_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ModerationPolicyRecord(Base):
    """An organisation's moderation policy (``ModerationPolicy`` as JSON): a floor every agent keeps."""

    __tablename__ = "moderation_policies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("mpl"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), unique=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ModerationDecision(Base):
    """One rule that matched one line of a call, as the worker reported it (never the raw text).

    ``review_status`` is ``pending`` for a ``flag`` until someone confirms or overturns it
    (``confirmed`` / ``overturned``, with reviewer, time and note), and ``none`` otherwise.
    """

    __tablename__ = "moderation_decisions"
    __table_args__ = (
        Index("ix_moderation_decisions_org_id_at", "org_id", "at"),
        Index("ix_moderation_decisions_call_id", "call_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("mod"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actions: Mapped[list[str]] = mapped_column(JSON)
    speaker: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(8))  # speech | chat
    excerpt: Mapped[str] = mapped_column(String(200))
    text_redacted: Mapped[str | None] = mapped_column(Text, nullable=True)  # the line, PII redacted
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    review_status: Mapped[str] = mapped_column(String(16), default="none")
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    review_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class CallNotes(Base):
    """A call's meeting notes (``MeetingNotes`` as JSON); a later report replaces an earlier one.

    ``search_text`` is the notes flattened to text (summary, decisions, action items, questions)
    for the archive's text search; ``final`` is set by the report sent when the meeting ended.
    """

    __tablename__ = "call_notes"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    notes: Mapped[dict[str, Any]] = mapped_column(JSON)
    search_text: Mapped[str] = mapped_column(Text, default="")
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CallFile(Base):
    """A file shared in a call: who sent it, its name, type, size and sha256; the bytes are on
    disk under ``<data_dir>/files/<org>/<call>/<id>``."""

    __tablename__ = "call_files"
    __table_args__ = (Index("ix_call_files_call_id_created_at", "call_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("fil"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
