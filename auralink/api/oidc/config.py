"""The single sign-on settings, checked and gathered: :class:`OidcConfig` or "SSO is off"."""

from __future__ import annotations

__all__ = ["OidcConfig"]

from dataclasses import dataclass

from auralink.api.permissions import Role
from auralink.core import Settings

from .errors import SsoNotConfigured


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """Where the provider is, who AuraLink is there, and who may join through it."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    client_auth: str = "client_secret_basic"
    redirect_url: str | None = None
    scopes: str = "openid email profile"
    auto_join_org: str | None = None
    default_role: Role = Role.VIEWER

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig:
        """The configuration in ``settings``; :class:`SsoNotConfigured` naming what is missing."""
        issuer = (settings.oidc_issuer or "").strip()
        if not issuer:
            raise SsoNotConfigured("set AURALINK_OIDC_ISSUER and AURALINK_OIDC_CLIENT_ID to turn it on")
        client_id = (settings.oidc_client_id or "").strip()
        if not client_id:
            raise SsoNotConfigured("AURALINK_OIDC_ISSUER is set but AURALINK_OIDC_CLIENT_ID is not")
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        scopes = settings.oidc_scopes.split()
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        return cls(
            issuer=issuer,
            client_id=client_id,
            client_secret=secret or None,
            client_auth=settings.oidc_client_auth,
            redirect_url=(settings.oidc_redirect_url or "").strip() or None,
            scopes=" ".join(scopes),
            auto_join_org=(settings.oidc_auto_join_org or "").strip() or None,
            default_role=Role(settings.oidc_default_role),
        )
