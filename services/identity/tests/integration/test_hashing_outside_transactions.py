"""Passwords are hashed and checked with no transaction open.

argon2 runs in a small worker pool; a login flood queues there. Were a transaction open
meanwhile, every queued login would hold a pooled connection and starve the rest of the
API. The hasher below counts, at each call, identity's connections idle inside a
transaction: there must be none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from mss_db import OrgScope
from mss_db.migrations import app_role
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.api.runtime import IdentityRuntime
from mss_identity.application.recovery import issue_user_token
from mss_identity.domain.user_tokens import TokenPurpose
from mss_identity.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import AccountFactory, running

pytestmark = pytest.mark.integration

PASSWORD = "the first long passphrase of 2026"
NEW = "violet tractor sings under nine lanterns"


class CheckingHasher(PasswordHasher):
    """The real hasher, noting before each call how many transactions identity holds open."""

    def __init__(self, db: asyncpg.Connection) -> None:
        super().__init__(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)
        self._db = db
        self.open_transactions: list[int] = []

    async def _note(self) -> None:
        count = await self._db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND usename = $1"
            " AND state LIKE 'idle in transaction%'",
            app_role("identity"),
        )
        self.open_transactions.append(int(count))

    async def hash(self, password: str) -> str:
        await self._note()
        return await super().hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        await self._note()
        return await super().verify(password_hash, password)


@pytest.fixture
async def hasher(admin_db: asyncpg.Connection) -> CheckingHasher:
    return CheckingHasher(admin_db)


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, signing_keys_dir: Path, hasher: CheckingHasher
) -> AsyncIterator[httpx.AsyncClient]:
    def runtime() -> IdentityRuntime:
        built = build_runtime()
        built.hasher.close()
        built.hasher = hasher
        return built

    async with running(create_app(runtime, run_relay=False)) as c:
        yield c


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_a_login_checks_the_password_outside_any_transaction(
    client: httpx.AsyncClient, hasher: CheckingHasher, new_account: AccountFactory
) -> None:
    account = await new_account(PASSWORD)
    assert (await _login(client, account.email, PASSWORD)).status_code == 200
    assert (await _login(client, account.email, "a wrong password")).status_code == 401
    assert (await _login(client, "nobody@example.com", PASSWORD)).status_code == 401
    assert hasher.open_transactions == [0, 0, 0]


async def test_a_password_change_hashes_outside_any_transaction(
    client: httpx.AsyncClient, hasher: CheckingHasher, new_account: AccountFactory
) -> None:
    account = await new_account(PASSWORD)
    token = (await _login(client, account.email, PASSWORD)).json()["data"]["accessToken"]
    changed = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": NEW},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 204, changed.text
    assert hasher.open_transactions == [0, 0, 0], "login, current password, new password"
    assert (await _login(client, account.email, NEW)).status_code == 200


async def test_a_password_reset_hashes_outside_any_transaction(
    client: httpx.AsyncClient,
    hasher: CheckingHasher,
    new_account: AccountFactory,
    identity_runtime: ServiceRuntime,
) -> None:
    account = await new_account(PASSWORD)
    async with identity_runtime.uow(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        user = await repo.user(account.user_id)
        assert user is not None
        token, _ = await issue_user_token(
            repo, user, TokenPurpose.PASSWORD_RESET, datetime.now(UTC)
        )
        await uow.commit()
    reset = await client.post("/api/auth/password/reset", json={"token": token, "newPassword": NEW})
    assert reset.status_code == 204, reset.text
    assert hasher.open_transactions == [0]
    again = await client.post(
        "/api/auth/password/reset", json={"token": token, "newPassword": f"{NEW} {uuid.uuid4()}"}
    )
    assert again.status_code == 400, "still single use"
