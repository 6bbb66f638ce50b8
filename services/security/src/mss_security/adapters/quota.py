"""Per-organization ingest quotas in Redis: one counter per organization and minute, shared
by every API replica, taken for a whole request or not at all."""

from __future__ import annotations

import time
from collections.abc import Mapping
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mss_contracts.errors import ServiceUnavailable

WINDOW_S = 60

# KEYS: one counter per organization; ARGV: amount_1, limit_1, …, then the TTL. Nothing is
# counted unless every organization has room: a refused request spends no quota.
_TAKE = """
local ttl = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
    local used = tonumber(redis.call('GET', key) or '0')
    if used + tonumber(ARGV[2 * i - 1]) > tonumber(ARGV[2 * i]) then
        return i
    end
end
for i, key in ipairs(KEYS) do
    redis.call('INCRBY', key, ARGV[2 * i - 1])
    redis.call('EXPIRE', key, ttl)
end
return 0
"""


class QuotaRefused(Exception):
    def __init__(self, org_id: UUID, retry_after: int, quota: int) -> None:
        super().__init__(f"quota of {org_id} spent")
        self.org_id = org_id
        self.retry_after = retry_after
        self.quota = quota


class IngestQuota:
    """`take({org: (alerts, per_minute)})` counts the alerts or raises QuotaRefused."""

    def __init__(self, redis: Redis, *, prefix: str = "") -> None:
        self._redis = redis
        self._script = redis.register_script(_TAKE)
        self._prefix = prefix

    def _key(self, org_id: UUID, window: int) -> str:
        return f"{self._prefix}security:alert-quota:{org_id}:{window}"

    async def take(
        self, wanted: Mapping[UUID, tuple[int, int]], *, now: float | None = None
    ) -> None:
        moment = time.time() if now is None else now
        window = int(moment // WINDOW_S)
        orgs = sorted(wanted, key=str)
        keys = [self._key(org, window) for org in orgs]
        args: list[int] = []
        for org in orgs:
            amount, limit = wanted[org]
            args += [amount, limit]
        args.append(WINDOW_S * 2)
        try:
            refused = int(await self._script(keys=keys, args=args))
        except RedisError as exc:
            # Fail closed: without the shared counter no replica can tell the quota holds.
            raise ServiceUnavailable("The ingest quota cannot be checked right now") from exc
        if refused:
            org = orgs[refused - 1]
            amount, limit = wanted[org]
            # The next window, unless the request alone is larger than a whole minute's quota.
            retry_after = max(1, WINDOW_S - int(moment % WINDOW_S))
            raise QuotaRefused(org, retry_after if amount <= limit else WINDOW_S, limit)

    async def give_back(
        self, taken: Mapping[UUID, tuple[int, int]], *, now: float | None = None
    ) -> None:
        """A request whose write failed after counting: its alerts were never stored."""
        window = int((time.time() if now is None else now) // WINDOW_S)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for org, (amount, _limit) in taken.items():
                    pipe.decrby(self._key(org, window), amount)
                await pipe.execute()
        except RedisError:
            return  # over-counted for at most this minute: the safe side
