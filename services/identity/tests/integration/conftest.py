"""The identity app, its runtime and fresh accounts for the identity integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from mss_db import OrgScope
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import Account, AccountFactory, owners_serving, running


@pytest.fixture
async def client(
    request: pytest.FixtureRequest,
    platform_settings: PlatformSettings,
    signing_keys_dir: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    """The identity app, its lifespan running, behind an in-process HTTP client.

    The organization service's real app answers its directory misses (in-process, without
    its relay): an organization no test made is unknown there too, as in production.
    Modules marked `keep_outbox` run identity without the relay: their events stay in
    identity.outbox, where the tests read them.
    """
    relay = request.node.get_closest_marker("keep_outbox") is None
    app = create_app(run_relay=relay)
    async with running(app) as c, owners_serving(app, "organization"):
        yield c


@pytest.fixture
def new_customer_org(identity_runtime: ServiceRuntime) -> Callable[[], Awaitable[uuid.UUID]]:
    """`await new_customer_org()`: an active customer org in identity's directory, as the
    organization events would leave it."""

    async def create() -> uuid.UUID:
        org = uuid.uuid4()
        async with identity_runtime.uow(OrgScope.everything()) as uow:
            await IdentityRepository(uow).upsert_org(
                org_id=org,
                name="Customer",
                type="customer",
                status="active",
                settings={},
                version=1,
            )
            await uow.commit()
        return org

    return create


@pytest.fixture
async def identity_runtime(platform_settings: PlatformSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = build_runtime()
    yield runtime
    await runtime.close()


@pytest.fixture
def new_account(identity_runtime: ServiceRuntime) -> AccountFactory:
    """`await new_account(password)`: an active user of a fresh provider organization."""

    async def create(password: str) -> Account:
        hasher = PasswordHasher(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)
        org_id = uuid.uuid4()
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        try:
            result = await ensure_super_admin(
                provider_org_id=org_id,
                provider_name="Provider",
                email=email,
                password=password,
                uow_factory=identity_runtime.uow,
                hasher=hasher,
            )
        finally:
            hasher.close()
        return Account(email=email, user_id=result.user_id, org_id=org_id)

    return create
