"""Why a single sign-on is refused; each class extends the API's error tree and so has its status.

ApiError
├── OidcLoginFailed                400  the login went wrong on the way (state, code, ID token)
├── PermissionDenied
│   └── NoMemberForLogin           403  the provider vouched for someone who is not a member here
└── NotFound
    └── SsoNotConfigured           404  AURALINK_OIDC_ISSUER (or the client id) is not set
ProviderError
└── IdentityProviderUnavailable    502  the provider did not answer, or answered nonsense
"""

from __future__ import annotations

__all__ = ["IdentityProviderUnavailable", "NoMemberForLogin", "OidcLoginFailed", "SsoNotConfigured"]

from auralink.api.errors import ApiError, NotFound, PermissionDenied
from auralink.core import ProviderError


class OidcLoginFailed(ApiError):
    """The login cannot be completed; the message says what to do (usually: start it again)."""


class NoMemberForLogin(PermissionDenied):
    """The provider's account matches no member and joining is not open to it."""


class SsoNotConfigured(NotFound):
    def __init__(self, reason: str) -> None:
        ApiError.__init__(self, f"single sign-on is off on this server: {reason}")


class IdentityProviderUnavailable(ProviderError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)
