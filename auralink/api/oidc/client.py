"""AuraLink as an OpenID Connect relying party: discovery, the authorization URL, the code exchange,
ID token verification and userinfo, against one provider.

- **Discovery** (``<issuer>/.well-known/openid-configuration``) is cached for an hour; the
  document's ``issuer`` must be the configured one.
- **Keys** come from the provider's ``jwks_uri``, cached, and fetched again when a token names a
  ``kid`` not seen yet (at most once a minute, so forged ``kid``s cannot make us hammer it).
- **ID tokens** must be signed RS256/RS384/RS512 by one of those keys (:mod:`.keys`, verified by PyJWT with ``cryptography``), name this
  issuer, have this client in ``aud`` (and as ``azp`` when there are several audiences), be
  unexpired and carry the nonce of this login. Claims missing from the ID token (providers that
  follow OIDC Core §5.4 strictly put ``email`` only in userinfo) are read from userinfo, whose
  ``sub`` must match.

HTTP goes through short-lived ``httpx`` clients, so nothing here needs closing; the caches are
plain data held by the :class:`OidcClient`, which the app keeps for its lifetime.
"""

from __future__ import annotations

__all__ = ["Identity", "OidcClient", "ProviderMetadata"]

import base64
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
from jwt.exceptions import InvalidKeyError
from pydantic import BaseModel, ConfigDict, ValidationError

from .config import OidcConfig
from .errors import IdentityProviderUnavailable, OidcLoginFailed
from .keys import ALGORITHMS, PublicKey, rsa_key_from_jwk
from .state import LoginState, code_challenge

logger = logging.getLogger("auralink.api")

_DISCOVERY_TTL = 3600.0
_JWKS_REFRESH_EVERY = 60.0
_LEEWAY = 60  # seconds of clock skew tolerated on exp/iat/nbf


class ProviderMetadata(BaseModel):
    """The parts of the discovery document AuraLink uses."""

    model_config = ConfigDict(extra="ignore")

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in: ``(issuer, subject)`` is the stable key; e-mail may change."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def _verified(value: object) -> bool:
    # a few providers send the boolean as a string
    return value is True or (isinstance(value, str) and value.lower() == "true")


class OidcClient:
    """One provider, as configured; keeps the discovery document and the signing keys cached."""

    def __init__(
        self,
        *,
        config: OidcConfig,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._timeout = timeout
        self._transport = transport
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: dict[str | None, PublicKey] = {}
        self._keys_at = float("-inf")

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, transport=self._transport, follow_redirects=False)

    def _unavailable(self, what: str, error: Exception | str) -> IdentityProviderUnavailable:
        reason = error if isinstance(error, str) else type(error).__name__
        logger.warning("OIDC provider: %s failed: %s", what, reason)
        return IdentityProviderUnavailable(
            f"the OpenID provider at {self.config.issuer} did not answer {what} properly ({reason}); "
            "try again shortly"
        )

    async def _get_json(self, url: str, what: str, *, headers: dict[str, str] | None = None) -> Any:
        try:
            async with self._http() as http:
                r = await http.get(url, headers=headers)
        except httpx.HTTPError as e:
            raise self._unavailable(what, e) from e
        if r.status_code != 200:
            raise self._unavailable(what, f"HTTP {r.status_code}")
        try:
            return r.json()
        except ValueError as e:
            raise self._unavailable(what, "not JSON") from e

    # -- discovery

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (cached for an hour)."""
        now = time.monotonic()
        if self._metadata is not None and now - self._metadata_at < _DISCOVERY_TTL:
            return self._metadata
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        data = await self._get_json(url, "the discovery request")
        try:
            meta = ProviderMetadata.model_validate(data)
        except ValidationError as e:
            raise self._unavailable("the discovery request", "incomplete document") from e
        if meta.issuer.rstrip("/") != self.config.issuer.rstrip("/"):
            raise self._unavailable("the discovery request", "the document names another issuer")
        self._metadata, self._metadata_at = meta, now
        return meta

    def authorization_url(self, meta: ProviderMetadata, login: LoginState) -> str:
        """Where the browser goes to sign in: code flow with PKCE S256, state and nonce."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": login.redirect_uri,
                "scope": self.config.scopes,
                "state": login.state,
                "nonce": login.nonce,
                "code_challenge": code_challenge(login.verifier),
                "code_challenge_method": "S256",
            }
        )
        joiner = "&" if "?" in meta.authorization_endpoint else "?"
        return f"{meta.authorization_endpoint}{joiner}{query}"

    # -- keys

    async def _fetch_keys(self, meta: ProviderMetadata) -> None:
        data = await self._get_json(meta.jwks_uri, "the key set request")
        keys: dict[str | None, PublicKey] = {}
        for jwk in data.get("keys", []) if isinstance(data, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[jwk.get("kid")] = rsa_key_from_jwk(jwk)
            except (InvalidKeyError, ValueError):
                continue
        self._keys, self._keys_at = keys, time.monotonic()

    async def _signing_key(self, meta: ProviderMetadata, kid: str | None) -> PublicKey:
        def pick() -> PublicKey | None:
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            return self._keys.get(kid)

        key = pick()
        if key is None and time.monotonic() - self._keys_at >= _JWKS_REFRESH_EVERY:
            await self._fetch_keys(meta)
            key = pick()
        if key is None:
            raise OidcLoginFailed("the ID token is signed with a key the provider does not publish")
        return key

    # -- the code exchange

    async def exchange_code(self, meta: ProviderMetadata, *, code: str, login: LoginState) -> dict[str, Any]:
        """Trade the authorization code for tokens (with the PKCE verifier); the token response."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "code_verifier": login.verifier,
        }
        headers = {"Accept": "application/json"}
        secret = self.config.client_secret
        if secret is not None and self.config.client_auth == "client_secret_basic":
            # RFC 6749 §2.3.1: both parts are form-encoded before they are joined
            pair = f"{quote(self.config.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = self.config.client_id
            if secret is not None:
                form["client_secret"] = secret
        try:
            async with self._http() as http:
                r = await http.post(meta.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as e:
            raise self._unavailable("the token request", e) from e
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code in (400, 401) and isinstance(body, dict) and isinstance(body.get("error"), str):
            error = body["error"][:100]
            logger.info("OIDC provider refused the code exchange: %s", error)
            if error == "invalid_client":
                raise OidcLoginFailed(
                    "the provider does not accept AuraLink's client credentials "
                    "(check AURALINK_OIDC_CLIENT_ID, AURALINK_OIDC_CLIENT_SECRET and AURALINK_OIDC_CLIENT_AUTH)"
                )
            raise OidcLoginFailed(
                f"the provider refused the authorization code ({error}); it may have been used "
                "already or have expired: start again from the login page"
            )
        if r.status_code != 200 or not isinstance(body, dict):
            raise self._unavailable("the token request", f"HTTP {r.status_code}")
        if not isinstance(body.get("id_token"), str):
            raise OidcLoginFailed(
                "the provider returned no ID token; is 'openid' among AURALINK_OIDC_SCOPES?"
            )
        return body

    # -- the ID token

    async def verify_id_token(self, meta: ProviderMetadata, token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of ``token`` once its signature, issuer, audience, times and nonce check out."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise OidcLoginFailed(f"the ID token is not a JWT: {e}") from e
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise OidcLoginFailed(
                f"the ID token is signed with {alg!r}; AuraLink accepts {', '.join(ALGORITHMS)}"
            )
        kid = header.get("kid")
        key = await self._signing_key(meta, kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_iat": True,
                    "verify_nbf": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "require": ["iss", "sub", "aud", "exp", "iat"],
                },
                audience=self.config.client_id,
                issuer=meta.issuer,
                leeway=_LEEWAY,
            )
        except jwt.PyJWTError as e:
            raise OidcLoginFailed(f"the ID token is not valid: {e}") from e
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.config.client_id:
            raise OidcLoginFailed("the ID token was issued to another client (azp)")
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise OidcLoginFailed("the ID token's nonce does not match this login; start again")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise OidcLoginFailed("the ID token names no subject")
        return claims

    async def userinfo(self, meta: ProviderMetadata, access_token: str, *, subject: str) -> dict[str, Any]:
        """The userinfo claims of the signed-in account, checked to be about ``subject``."""
        assert meta.userinfo_endpoint is not None
        data = await self._get_json(
            meta.userinfo_endpoint,
            "the userinfo request",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if not isinstance(data, dict) or data.get("sub") != subject:
            raise OidcLoginFailed("the provider's userinfo is about another account")
        return data

    # -- all of it

    async def identity(self, *, code: str, login: LoginState) -> Identity:
        """The signed-in account behind ``code``: exchange, verify, and fill claims from userinfo."""
        meta = await self.metadata()
        tokens = await self.exchange_code(meta, code=code, login=login)
        claims = await self.verify_id_token(meta, tokens["id_token"], nonce=login.nonce)
        access = tokens.get("access_token")
        if "email" not in claims and meta.userinfo_endpoint and isinstance(access, str):
            extra = await self.userinfo(meta, access, subject=claims["sub"])
            claims = {**extra, **claims}
        email = claims.get("email")
        name = claims.get("name")
        return Identity(
            issuer=meta.issuer,
            subject=claims["sub"],
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            # Entra ID sends no email_verified; its optional xms_edov claim says the same thing
            email_verified=_verified(claims.get("email_verified")) or _verified(claims.get("xms_edov")),
            name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
        )
