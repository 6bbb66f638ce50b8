"""Access-token verification (RFC 8725): ES256 only, keys only from our own JWKS.

The header's `alg` must be ES256 and its `kid` one of our keys; `jku`, `x5u` and `jwk`
headers are never followed. `typ` must be `at+jwt` (RFC 9068) so an ID or refresh token
can never pass for an access token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mss_contracts.permissions import OrganizationType, Role

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"
LEEWAY_S = 5
# An unknown kid triggers a JWKS refresh at most this often (forged kids cannot flood identity).
REFRESH_INTERVAL_S = 30.0
# Tokens verified, remembered by their exact text until they expire: the ECDSA check and
# the claims' validation were the larger part of a one-page read's own CPU, and a client
# sends the same token on every request. Bounded; the oldest entry makes room.
VERIFIED_CACHE_SIZE = 4096

KeyLoader = Callable[[], Awaitable[Mapping[str, EllipticCurvePublicKey]]]


class TokenError(Exception):
    """The token is missing, malformed, forged or expired."""


class KeysUnavailable(Exception):
    """Our JWKS could not be loaded: the token can be neither accepted nor refused."""


class AccessClaims(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    iss: str
    aud: str
    sub: UUID
    sid: UUID
    org: UUID
    org_type: OrganizationType = Field(alias="orgType")
    role: Role | None = None
    permissions: tuple[str, ...] | None = Field(default=None, alias="perms")
    amr: tuple[str, ...] = ()
    mfa_enrollment_required: bool = Field(default=False, alias="mfaEnroll")
    iat: int
    exp: int
    jti: str


class TokenVerifier:
    def __init__(self, *, load_keys: KeyLoader, issuer: str, audience: str) -> None:
        self._load_keys = load_keys
        self._issuer = issuer
        self._audience = audience
        self._keys: Mapping[str, EllipticCurvePublicKey] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        # token -> (valid until, epoch seconds; its claims). Only accepted tokens enter.
        self._verified: dict[str, tuple[float, AccessClaims]] = {}

    async def _key(self, kid: str) -> EllipticCurvePublicKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._loaded_at > REFRESH_INTERVAL_S:
                try:
                    self._keys = await self._load_keys()
                except Exception as exc:
                    raise KeysUnavailable("signing keys unavailable") from exc
                self._loaded_at = time.monotonic()
        key = self._keys.get(kid)
        if key is None:
            raise TokenError("unknown signing key")
        return key

    async def verify(self, token: str) -> AccessClaims:
        """The claims of a token we signed that is valid now; TokenError otherwise.

        A token accepted before is accepted again without its signature check until it
        expires (the same leeway). Revocation is not this cache's concern: the session
        check runs on every request (`mss_auth.dependencies.current_principal`).
        """
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() <= cached[0]:
                return cached[1]
            del self._verified[token]
        claims = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (claims.exp + LEEWAY_S, claims)
        return claims

    async def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise TokenError("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("no key id")
        key = await self._key(kid)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
            return AccessClaims.model_validate(payload)
        except (jwt.PyJWTError, ValidationError) as exc:
            raise TokenError("invalid token") from exc
