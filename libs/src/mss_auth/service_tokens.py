"""Service tokens: how one service proves to another that it is calling, not a user.

A service token is a JWT, HS256 with the platform-internal key (`service_token_secret`),
header `typ: svc+jwt`, claims `iss` (the calling service), `aud` (the service called),
`iat`, `exp` (at most 60 s later) and `jti`. Only the `/internal/...` routes accept one,
and they accept nothing else: a user's access token is ES256 with `typ: at+jwt` and
fails here on the algorithm alone, and the access-token verifier refuses HS256 and this
`typ`, so a service token opens no public route.

One key for the whole platform: any service holding it can name any caller in `iss`.
It authenticates "a platform process", and `iss` says which one for logs and metrics;
per-service keys or mTLS would bind `iss` too.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from pydantic import SecretStr

from mss_auth.tokens import TokenError

ALGORITHM = "HS256"
TOKEN_TYPE = "svc+jwt"
TTL_S = 30
MAX_LIFETIME_S = 60
LEEWAY_S = 5


class ServiceTokens:
    """Issues this service's tokens and verifies the ones addressed to it."""

    def __init__(self, secret: SecretStr, *, service: str, callers: frozenset[str]) -> None:
        """`callers`: the services whose tokens are accepted (the registry's names)."""
        self._key = secret.get_secret_value().encode()
        self.service = service
        self._callers = callers

    def issue(self, audience: str, *, now: float | None = None) -> str:
        """A token for one call to `audience`'s internal routes."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.service,
            "aud": audience,
            "iat": issued,
            "exp": issued + TTL_S,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})

    def verify(self, token: str) -> str:
        """The calling service, when the token is ours, for us, and live; else TokenError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise TokenError("not a service token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key,
                algorithms=[ALGORITHM],
                audience=self.service,
                leeway=LEEWAY_S,
                options={"require": ["iss", "aud", "iat", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError("invalid service token") from exc
        caller, issued, expires = claims["iss"], claims["iat"], claims["exp"]
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise TokenError("invalid service token")
        if expires - issued > MAX_LIFETIME_S:
            raise TokenError("service token lives too long")
        if caller not in self._callers:
            raise TokenError("unknown calling service")
        return str(caller)
