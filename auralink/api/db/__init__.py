"""Storage of the management API: SQLAlchemy 2 (async) models, the engine, Alembic migrations.

SQLite is the embedded default and PostgreSQL the choice at scale; both run the same
migrations. The :class:`Database` is made in the app's lifespan, never at import time.
"""

from .engine import Database, is_sqlite
from .migrate import current_revision, head_revision, upgrade
from .models import (
    AgentRecord,
    AgentVersion,
    ApiKey,
    AuditEntry,
    Base,
    Call,
    CallParticipant,
    CallTurn,
    LinkVisitor,
    Member,
    MemberIdentity,
    MemberSession,
    Organisation,
    Room,
    RoomEvent,
    ShareLink,
    UsageRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    is_id,
    new_id,
    utcnow,
)

__all__ = [
    "AgentRecord",
    "AgentVersion",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Call",
    "CallParticipant",
    "CallTurn",
    "Database",
    "LinkVisitor",
    "Member",
    "MemberIdentity",
    "MemberSession",
    "Organisation",
    "Room",
    "RoomEvent",
    "ShareLink",
    "UsageRecord",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "current_revision",
    "head_revision",
    "is_id",
    "is_sqlite",
    "new_id",
    "upgrade",
    "utcnow",
]
