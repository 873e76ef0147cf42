"""The provider's signing keys: RSA public keys read from its JWKS with PyJWT and cryptography."""

from __future__ import annotations

__all__ = ["ALGORITHMS", "MIN_RSA_BITS", "PublicKey", "rsa_key_from_jwk"]

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import InvalidKeyError

#: the ID token signatures accepted (what Keycloak, Google, Entra and Auth0 use by default)
ALGORITHMS = ("RS256", "RS384", "RS512")
MIN_RSA_BITS = 2048

PublicKey = RSAPublicKey


def rsa_key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """The RSA public key of one JWK; ``InvalidKeyError`` for anything else or a short key."""
    if jwk.get("kty") != "RSA" or "n" not in jwk or "e" not in jwk:
        raise InvalidKeyError("not an RSA public key")
    try:
        key = jwt.PyJWK({k: jwk[k] for k in ("kty", "n", "e")}, algorithm="RS256").key
    except (jwt.PyJWTError, ValueError) as e:
        raise InvalidKeyError(f"unreadable RSA key: {e}") from None
    if not isinstance(key, RSAPublicKey):
        raise InvalidKeyError("not an RSA public key")
    numbers = key.public_numbers()
    if key.key_size < MIN_RSA_BITS:
        raise InvalidKeyError(f"RSA keys of {key.key_size} bits are too short (at least {MIN_RSA_BITS})")
    if numbers.e % 2 == 0 or numbers.e < 3:
        raise InvalidKeyError("the RSA exponent is not valid")
    return key
