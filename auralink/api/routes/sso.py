"""Single sign-on through OpenID Connect: login redirect and callback that open a member session."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter

router = APIRouter(prefix="/v1/auth/oidc", tags=["auth"])
