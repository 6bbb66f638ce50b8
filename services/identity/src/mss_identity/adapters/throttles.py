"""Counters in Redis that throttle attempts and lock out unknown emails.

Every one fails closed: when Redis cannot answer, the request is refused (503), never let
through uncounted. A counter is a plain INCR whose window starts with its first count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mss_contracts.errors import ServiceUnavailable
from mss_identity.domain.users import lock_duration


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit` counts per `window_s` seconds for each subject, under `key_prefix`."""

    key_prefix: str
    limit: int
    window_s: int


class Throttle:
    """Counts per subject (a user id, a client address, …) within a window."""

    def __init__(self, redis: Redis, budget: Budget) -> None:
        self._redis = redis
        self.budget = budget

    def key(self, subject: str) -> str:
        return f"{self.budget.key_prefix}:{subject}"

    async def retry_after(self, subject: str) -> int | None:
        """Seconds until the subject may try again once its budget is spent, else None."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self.key(subject))
                pipe.ttl(self.key(subject))
                value, ttl = await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Attempt counters unavailable") from exc
        if value is None or int(value) < self.budget.limit:
            return None
        return max(1, int(ttl)) if ttl and ttl > 0 else self.budget.window_s

    async def spend(self, subject: str) -> int:
        """Count one attempt; returns the subject's count within the current window."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(self.key(subject))
                pipe.expire(self.key(subject), self.budget.window_s, nx=True)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Attempt counters unavailable") from exc
        return int(count)

    async def reset(self, subject: str) -> None:
        try:
            await self._redis.delete(self.key(subject))
        except RedisError as exc:
            raise ServiceUnavailable("Attempt counters unavailable") from exc


# An unknown email keeps its failures this long after the last one. A known account keeps
# them until a success or an unlock; past this idle time an unknown email starts again.
UNKNOWN_EMAIL_MEMORY = timedelta(days=30)


def email_key(email: str) -> str:
    """Unknown emails are held by the SHA-256 of their normalised form, never in clear."""
    return hashlib.sha256(email.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Lockout:
    failed_attempts: int
    locked_until: datetime | None


class UnknownEmailLockouts:
    """The lockout of accounts that do not exist, so that they answer as existing ones do
    (same threshold, same back-off, same 423 and `lockedUntil`)."""

    def __init__(self, redis: Redis, key_prefix: str = "login:unknown") -> None:
        self._redis = redis
        self._prefix = key_prefix

    def _key(self, email: str) -> str:
        return f"{self._prefix}:{email_key(email)}"

    async def state(self, email: str) -> Lockout:
        try:
            values = await self._redis.hmget(self._key(email), ["attempts", "locked_until"])
        except RedisError as exc:
            raise ServiceUnavailable("Attempt counters unavailable") from exc
        attempts, until = values
        return Lockout(
            failed_attempts=int(attempts or 0),
            locked_until=datetime.fromtimestamp(float(until), UTC) if until else None,
        )

    async def fail(self, email: str, now: datetime) -> Lockout:
        """Count a failure; lock as `lock_duration` says once the threshold is reached."""
        key = self._key(email)
        ttl = int(UNKNOWN_EMAIL_MEMORY.total_seconds())
        try:
            attempts = int(await self._redis.hincrby(key, "attempts", 1))
            duration = lock_duration(attempts)
            locked_until = now + duration if duration else None
            async with self._redis.pipeline(transaction=True) as pipe:
                if locked_until is not None:
                    pipe.hset(key, "locked_until", str(locked_until.timestamp()))
                pipe.expire(key, ttl)
                await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("Attempt counters unavailable") from exc
        return Lockout(failed_attempts=attempts, locked_until=locked_until)
