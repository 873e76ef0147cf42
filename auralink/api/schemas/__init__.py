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
from .members import MemberCreate, MemberCreated, MemberPublic, MemberUpdate
from .organisations import (
    OrganisationCreate,
    OrganisationCreated,
    OrganisationPublic,
    OrganisationUpdate,
    OwnerCreate,
)

__all__ = [
    "AgentPublic",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "ApiKeyUpdate",
    "ErrorBody",
    "ErrorPublic",
    "FieldErrorPublic",
    "HealthPublic",
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
    "PrincipalPublic",
    "SessionCreate",
    "SessionPublic",
    "ValidationErrorBody",
    "ValidationErrorPublic",
]
