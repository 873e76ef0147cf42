"""Single sign-on for dashboard members through OpenID Connect (authorization code flow with PKCE).

:mod:`.config` reads the settings, :mod:`.state` keeps a login between redirect and callback,
:mod:`.client` talks to the provider and verifies ID tokens (keys read in :mod:`.keys`),
:mod:`.members` decides which member the signed-in account is, :mod:`.errors` says why not.
The routes are in :mod:`auralink.api.routes.sso`; docs/sso.md explains the setup.
"""

from .client import Identity, OidcClient, ProviderMetadata
from .config import OidcConfig
from .errors import IdentityProviderUnavailable, NoMemberForLogin, OidcLoginFailed, SsoNotConfigured
from .keys import ALGORITHMS, PublicKey, rsa_key_from_jwk
from .members import SSO_ONLY_PASSWORD, member_for_login
from .state import STATE_COOKIE, STATE_PATH, STATE_TTL, LoginState, code_challenge, safe_next, state_key

__all__ = [
    "ALGORITHMS",
    "SSO_ONLY_PASSWORD",
    "STATE_COOKIE",
    "STATE_PATH",
    "STATE_TTL",
    "Identity",
    "IdentityProviderUnavailable",
    "LoginState",
    "NoMemberForLogin",
    "OidcClient",
    "OidcConfig",
    "OidcLoginFailed",
    "ProviderMetadata",
    "PublicKey",
    "SsoNotConfigured",
    "code_challenge",
    "member_for_login",
    "rsa_key_from_jwk",
    "safe_next",
    "state_key",
]
