"""Session liveness in Redis: a session may be used only while `session:{sid}` exists.

Presence, not a deny-list: if Redis loses its data every token stops working until its
session is refreshed from the database — the failure closes, never opens.
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mss_contracts.errors import ServiceUnavailable

# The seed's SESSION TTL (15 min) plus the access token's clock leeway.
SESSION_TTL_S = 15 * 60 + 30


def session_key(session_id: UUID) -> str:
    return f"session:{session_id}"


def _group_key(group: str) -> str:
    return f"session-group:{group}"


class SessionStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def is_active(self, session_id: UUID) -> bool:
        try:
            return bool(await self._redis.exists(session_key(session_id)))
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc

    async def active(self, session_ids: Collection[UUID]) -> set[UUID]:
        """Which of these sessions are live: one pipelined round trip for all of them."""
        ordered = list(session_ids)
        if not ordered:
            return set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id in ordered:
                    pipe.exists(session_key(session_id))
                found = await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc
        return {sid for sid, exists in zip(ordered, found, strict=True) if exists}

    async def activate(
        self,
        session_id: UUID,
        user_id: UUID,
        ttl_s: int = SESSION_TTL_S,
        *,
        group: str | None = None,
    ) -> None:
        """`group`: also remember the session under that name, for `revoke_group`."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(session_key(session_id), str(user_id), ex=ttl_s)
                if group is not None:
                    pipe.sadd(_group_key(group), str(session_id))
                    # The group outlives each member's key by its own ttl at most.
                    pipe.expire(_group_key(group), ttl_s, gt=True)
                    pipe.expire(_group_key(group), ttl_s, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc

    async def revoke_group(self, group: str) -> int:
        """End every session activated under `group`; returns how many were live."""
        try:
            members = await self._redis.smembers(_group_key(group))
            keys = [f"session:{m.decode() if isinstance(m, bytes) else m}" for m in members]
            ended = int(await self._redis.delete(*keys)) if keys else 0
            await self._redis.delete(_group_key(group))
            return ended
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc

    async def revoke(self, session_id: UUID) -> None:
        try:
            await self._redis.delete(session_key(session_id))
        except RedisError as exc:
            raise ServiceUnavailable("Session store unavailable") from exc
