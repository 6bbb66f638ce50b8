"""argon2id hashing in a bounded thread pool, so a login flood cannot starve the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int, workers: int) -> None:
        self._argon2 = Argon2(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        # Verified when the user is unknown, so both paths cost the same.
        self._decoy = self._argon2.hash("decoy password for unknown users")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant work whether or not the user (or their hash) exists."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._verify_sync, password_hash or self._decoy, password, password_hash
        )

    def _verify_sync(self, candidate: str, password: str, real: str | None) -> bool:
        try:
            return self._argon2.verify(candidate, password) and real is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
