"""Request and response bodies of the API, named ``XCreate`` / ``XUpdate`` / ``XPublic`` by resource.

Request bodies refuse unknown fields; field types in :mod:`.common` refuse control characters.
"""

from .auth import LoginCreate, PrincipalPublic
from .dev import (
    AgentPublic,
    ErrorBody,
    ErrorPublic,
    FieldErrorPublic,
    HealthPublic,
    SessionCreate,
    SessionPublic,
    ValidationErrorBody,
    ValidationErrorPublic,
)
from .keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeyUpdate
from .links import (
    LinkAnalytics,
    LinkCreate,
    LinkInfo,
    LinkJoin,
    LinkPublic,
    LinkState,
    LinkUpdate,
)
from .members import MemberCreate, MemberCreated, MemberPublic, MemberUpdate
from .organisations import (
    OrganisationCreate,
    OrganisationCreated,
    OrganisationPublic,
    OrganisationUpdate,
    OwnerCreate,
)
from .rooms import ParticipantPublic, RoomCreate, RoomPublic, TokenCreate, TokenPublic
from .webhooks import (
    DeliveryPublic,
    DeliveryQueued,
    DeliveryStatus,
    WebhookAttemptPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

__all__ = [
    "AgentPublic",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "ApiKeyUpdate",
    "DeliveryPublic",
    "DeliveryQueued",
    "DeliveryStatus",
    "ErrorBody",
    "ErrorPublic",
    "FieldErrorPublic",
    "HealthPublic",
    "LinkAnalytics",
    "LinkCreate",
    "LinkInfo",
    "LinkJoin",
    "LinkPublic",
    "LinkState",
    "LinkUpdate",
    "LoginCreate",
    "MemberCreate",
    "MemberCreated",
    "MemberPublic",
    "MemberUpdate",
    "OrganisationCreate",
    "OrganisationCreated",
    "OrganisationPublic",
    "OrganisationUpdate",
    "OwnerCreate",
    "ParticipantPublic",
    "PrincipalPublic",
    "RoomCreate",
    "RoomPublic",
    "SessionCreate",
    "SessionPublic",
    "TokenCreate",
    "TokenPublic",
    "ValidationErrorBody",
    "ValidationErrorPublic",
    "WebhookAttemptPublic",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPublic",
    "WebhookUpdate",
]
