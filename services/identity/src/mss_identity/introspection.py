"""The gateway's token check: a separate process so a login flood cannot slow it.

NGINX's `auth_request` calls GET /introspect with the client's Authorization header.
204 + X-Auth-* headers when the token is valid and its session live; 401 with
X-Auth-Error otherwise. X-Accel-Expires lets NGINX cache the answer for at most
CACHE_S seconds and never past the token's expiry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mss_auth.sessions import SessionStore
from mss_auth.tokens import KeysUnavailable, TokenError, TokenVerifier
from mss_contracts.api import ErrorCode
from mss_contracts.errors import ServiceUnavailable
from mss_identity.adapters.keys import local_key_loader
from mss_identity.config import IdentitySettings

# A revoked session must be refused within 5 s. NGINX keeps an entry CACHE_S seconds, then
# may still serve it while one refresh is in flight (`proxy_cache_use_stale updating`): the
# 2 s left over are that refresh on a loaded machine (5 s + the refresh was seen at load 4).
CACHE_S = 3


def _refuse(code: ErrorCode) -> Response:
    return Response(status_code=401, headers={"X-Auth-Error": code.value, "X-Accel-Expires": "1"})


def create_app(settings: IdentitySettings | None = None) -> Starlette:
    settings = settings or IdentitySettings()
    verifier = TokenVerifier(
        load_keys=local_key_loader(settings.keys_dir),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    redis: Redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    sessions = SessionStore(redis)

    async def introspect(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refuse(ErrorCode.AUTHENTICATION_REQUIRED)
        try:
            claims = await verifier.verify(token.strip())
            active = await sessions.is_active(claims.sid)
        except TokenError:
            return _refuse(ErrorCode.INVALID_TOKEN)
        except (KeysUnavailable, ServiceUnavailable):
            return Response(status_code=503)
        if not active:
            return _refuse(ErrorCode.SESSION_REVOKED)
        # NGINX keeps an entry through the second after now + N: N + 1 must stay within
        # CACHE_S and within the token's lifetime.
        ttl = max(0, min(CACHE_S - 1, claims.exp - int(time.time()) - 1))
        return Response(
            status_code=204,
            headers={
                "X-Auth-Subject": str(claims.sub),
                "X-Auth-Org": str(claims.org),
                "X-Auth-Role": claims.role.value if claims.role else "",
                "X-Auth-Session": str(claims.sid),
                "X-Accel-Expires": str(ttl),
            },
        )

    async def live(request: Request) -> Response:
        """The process serves: the liveness probe (no Redis check, so a Redis outage never
        restarts it; /health says whether it can answer)."""
        return Response('{"status":"alive"}', media_type="application/json")

    async def health(request: Request) -> Response:
        try:
            await redis.ping()
        except Exception:
            return Response('{"status":"degraded"}', status_code=503, media_type="application/json")
        return Response('{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    return Starlette(
        routes=[
            Route("/introspect", introspect),
            Route("/live", live),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
