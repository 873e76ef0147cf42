"""Single sign-on through OpenID Connect: login redirect and callback that open a member session.

``GET /v1/auth/oidc`` tells the dashboard whether to show the button; ``/login`` sends the browser
to the provider (code flow, PKCE S256, state and nonce kept in a signed cookie); ``/callback``
checks what comes back, finds the member (:mod:`auralink.api.oidc.members`) and sets the same
session cookie as the password login. A browser that asks for HTML gets a short page instead of
the JSON error body when the callback refuses.
"""

from __future__ import annotations

__all__ = ["router"]

import html
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from auralink.api.auth import open_member_session
from auralink.api.deps import SessionDep, SettingsDep, writes
from auralink.api.errors import ApiError, InvalidField, status_for
from auralink.api.livekit_client import livekit_credentials
from auralink.api.oidc import (
    STATE_COOKIE,
    STATE_PATH,
    STATE_TTL,
    LoginState,
    OidcClient,
    OidcConfig,
    OidcLoginFailed,
    SsoNotConfigured,
    member_for_login,
    safe_next,
    state_key,
)
from auralink.api.schemas import ErrorBody, SsoPublic
from auralink.core import ProviderError, Settings

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/auth/oidc", tags=["auth"])

_HTML: dict[str, Any] = {"content": {"text/html": {}}}
_OFF: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "single sign-on is off (AURALINK_OIDC_ISSUER is unset)"}
}
_PROVIDER_DOWN: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "the OpenID provider did not answer properly"}
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem">
<h1>{title}</h1><p>{message}</p><p><a href="/">Back to the dashboard</a></p></body></html>
"""


def _client(request: Request, settings: Settings) -> OidcClient:
    """The app's OIDC client for the current settings, made on first use and kept with its caches."""
    config = OidcConfig.from_settings(settings)
    client = getattr(request.app.state, "oidc", None)
    if not isinstance(client, OidcClient) or client.config != config:
        client = OidcClient(config=config)
        request.app.state.oidc = client
    return client


def _state_key(settings: Settings) -> bytes:
    return state_key(livekit_credentials(settings).api_secret)


@router.get("")
async def sso_info(request: Request, settings: SettingsDep) -> SsoPublic:
    """Whether single sign-on is on, at which provider, and the URL that starts it."""
    try:
        config = OidcConfig.from_settings(settings)
    except SsoNotConfigured:
        return SsoPublic(enabled=False, issuer=None, login_url=None)
    return SsoPublic(enabled=True, issuer=config.issuer, login_url=request.url_for("oidc_login").path)


@router.get(
    "/login",
    name="oidc_login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {"description": "on to the provider's sign-in page; the login cookie is set"},
        422: {"model": ErrorBody, "description": "`next` is not a path on this server"},
        **_OFF,
        **_PROVIDER_DOWN,
    },
)
async def oidc_login(
    request: Request,
    settings: SettingsDep,
    next_: Annotated[
        str | None,
        Query(alias="next", max_length=1024, description="path to return to after login, e.g. /calls"),
    ] = None,
) -> Response:
    """Send the browser to the OpenID provider to sign in (authorization code flow with PKCE)."""
    client = _client(request, settings)
    try:
        target = safe_next(next_)
    except ValueError as e:
        raise InvalidField("next", str(e)) from None
    meta = await client.metadata()
    redirect_uri = client.config.redirect_url or str(request.url_for("oidc_callback"))
    login = LoginState(redirect_uri=redirect_uri, next=target)
    response = RedirectResponse(client.authorization_url(meta, login), status_code=status.HTTP_302_FOUND)
    response.set_cookie(
        STATE_COOKIE,
        login.seal(_state_key(settings)),
        max_age=STATE_TTL,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, not on cross-site posts
        secure=request.url.scheme == "https",
        path=STATE_PATH,
    )
    return response


async def _finish(
    request: Request,
    session: SessionDep,
    settings: Settings,
    *,
    code: str | None,
    state: str | None,
    iss: str | None,
    error: str | None,
    error_description: str | None,
) -> Response:
    client = _client(request, settings)
    login = LoginState.open(request.cookies.get(STATE_COOKIE), _state_key(settings))
    login.check_state(state)
    if error:
        detail = f": {error_description[:200]}" if error_description else ""
        raise OidcLoginFailed(f"the provider did not sign you in ({error[:100]}{detail})")
    meta = await client.metadata()
    if iss is not None and iss != meta.issuer:  # RFC 9207: the answer came from another provider
        raise OidcLoginFailed("the answer names another issuer than the one this login went to")
    if not code:
        raise OidcLoginFailed("the provider sent no authorization code; start again from the login page")
    identity = await client.identity(code=code, login=login)
    member = await member_for_login(session, identity=identity, config=client.config)
    response = RedirectResponse(login.next, status_code=status.HTTP_302_FOUND)
    await open_member_session(session, member=member, request=request, response=response)
    response.delete_cookie(
        STATE_COOKIE, path=STATE_PATH, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    logger.info("member %s logged in through single sign-on", member.id)
    return response


@router.get(
    "/callback",
    name="oidc_callback",
    dependencies=[Depends(writes)],  # a GET that writes: its session holds the write lock
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {"description": "signed in: on to `next`, with the session cookie set"},
        400: {
            "model": ErrorBody,
            "description": "the login cannot complete (state, code or ID token); HTML for browsers",
            **_HTML,
        },
        403: {
            "model": ErrorBody,
            "description": "the account matches no member and may not join; HTML for browsers",
            **_HTML,
        },
        **_OFF,
        **_PROVIDER_DOWN,
    },
)
async def oidc_callback(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    *,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    iss: Annotated[str | None, Query(max_length=1024)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """Where the provider sends the browser back: check the login and open a dashboard session."""
    try:
        return await _finish(
            request,
            session,
            settings,
            code=code,
            state=state,
            iss=iss,
            error=error,
            error_description=error_description,
        )
    except (ApiError, ProviderError) as e:
        logger.info("single sign-on refused: %s", type(e).__name__)
        if "text/html" not in request.headers.get("accept", ""):
            raise
        body = _PAGE.format(title="Single sign-on failed", message=html.escape(str(e)))
        return HTMLResponse(body, status_code=status_for(e))
