"""Session liveness in Redis: a session may be used only while `session:{sid}` exists.

Presence, not a deny-list: if Redis loses its data every token stops working until its
session is refreshed from the database — the failure closes, never opens.
"""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mss_web.errors import ServiceUnavailable

# The seed's SESSION TTL (15 min) plus the access token's clock leeway.
SESSION_TTL_S = 15 * 60 + 30


def session_key(session_id: UUID) -> str:
    return f"session:{session_id}"


class SessionStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def is_active(self, session_id: UUID) -> bool:
        try:
            return bool(await self._redis.exists(session_key(session_id)))
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc

    async def activate(self, session_id: UUID, user_id: UUID, ttl_s: int = SESSION_TTL_S) -> None:
        try:
            await self._redis.set(session_key(session_id), str(user_id), ex=ttl_s)
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc

    async def revoke(self, session_id: UUID) -> None:
        try:
            await self._redis.delete(session_key(session_id))
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc
