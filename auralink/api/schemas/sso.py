"""Single sign-on: whether the dashboard shows a "log in with SSO" button, and where it leads."""

from __future__ import annotations

__all__ = ["SsoPublic"]

from pydantic import BaseModel, ConfigDict, Field


class SsoPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "issuer": "https://keycloak.example/realms/acme",
                    "login_url": "/v1/auth/oidc/login",
                }
            ]
        }
    )

    enabled: bool = Field(description="single sign-on is configured on this server")
    issuer: str | None = Field(description="the OpenID provider members sign in at")
    login_url: str | None = Field(
        description="open this in the browser (add ?next=/path to come back there) to sign in"
    )
