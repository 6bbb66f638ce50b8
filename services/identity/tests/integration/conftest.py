"""The identity app, its runtime and fresh accounts for the identity integration tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import httpx
import pytest

from mss_bus import Topology
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import Account, AccountFactory, running


@pytest.fixture(scope="session", autouse=True)
async def _drop_test_topology(platform_settings: PlatformSettings) -> AsyncIterator[None]:
    """Leave no exchange of this run's bus namespace on the broker."""
    yield
    topology = Topology(platform_settings.bus_namespace)
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(platform_settings.rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(topology.events_exchange)


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, signing_keys_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The identity app, its lifespan running, behind an in-process HTTP client."""
    async with running(create_app()) as c:
        yield c


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
