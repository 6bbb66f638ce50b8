"""A login's argon2 work does not tell how many memberships an email has."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import cast

from mss_contracts.permissions import Role
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.application.auth import _verify_each
from mss_identity.domain.users import User, UserStatus

NOW = datetime(2030, 1, 2, 10, 0, tzinfo=UTC)


class CountingHasher:
    """Verifies `hash:<password>`, and records how many verifications ran at once."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []
        self.in_flight = 0
        self.peak = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.calls.append(password_hash)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return password_hash == f"hash:{password}"


def _user(password: str | None) -> User:
    return User(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        email="same@example.com",
        password_hash=f"hash:{password}" if password else None,
        first_name="A",
        last_name="B",
        role=Role.BASIC_USER,
        status=UserStatus.ACTIVE,
        mfa_enabled=False,
        email_verified=True,
        last_login_at=None,
        last_login_ip=None,
        failed_login_attempts=0,
        locked_until=None,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


async def test_every_membership_is_verified_at_once() -> None:
    hasher = CountingHasher()
    users = [_user("one"), _user("two"), _user(None)]

    verified = await _verify_each(cast(PasswordHasher, hasher), users, "one")

    assert verified == [True, False, False]
    assert len(hasher.calls) == 3
    assert hasher.peak == 3, "verifications run concurrently, not one after another"


async def test_an_unknown_email_verifies_once_against_the_decoy() -> None:
    hasher = CountingHasher()

    verified = await _verify_each(cast(PasswordHasher, hasher), [], "anything")

    assert verified == []
    assert hasher.calls == [None]
