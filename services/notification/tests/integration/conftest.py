"""The notification schema and the connections the notification tests check with.

`mss_testing.plugin.platform_settings` migrates only the services of its SERVICES tuple:
the notification schema is provisioned and migrated here, the same way.
The SMTP sink fixture lives in the test module (a conftest is not importable under
--import-mode=importlib). `# isort: split` keeps the import order valid both before and
after `mss_notification` joins the root `known-first-party`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection
from alembic import command
from sqlalchemy.engine import make_url

from mss_bus import Topology
from mss_db.migrations import alembic_config
from mss_db.provision import ensure_service_schema
from mss_settings import PlatformSettings, admin_database_url, role_database_url

# isort: split
from mss_notification.config import SERVICE, SERVICE_DIR


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def notification_settings(platform_settings: PlatformSettings) -> PlatformSettings:
    """The test database with the notification schema, roles and migrations at head."""
    asyncio.run(ensure_service_schema(platform_settings, SERVICE))
    command.upgrade(alembic_config(SERVICE_DIR, admin_database_url(platform_settings)), "head")
    return platform_settings


@pytest.fixture
async def admin_db(notification_settings: PlatformSettings) -> AsyncIterator[asyncpg.Connection]:
    """The superuser on the test database (RLS does not apply to it)."""
    conn = await asyncpg.connect(_dsn(notification_settings.database_url))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def notification_app_db(
    notification_settings: PlatformSettings,
) -> AsyncIterator[asyncpg.Connection]:
    """The role the notification service connects as."""
    conn = await asyncpg.connect(_dsn(role_database_url(notification_settings, "notification_app")))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def amqp(
    notification_settings: PlatformSettings,
) -> AsyncIterator[AbstractRobustConnection]:
    """A broker connection of the test's own, apart from the service's bus."""
    connection = await aio_pika.connect_robust(notification_settings.rabbitmq_url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="session", autouse=True)
async def _drop_test_topology(platform_settings: PlatformSettings) -> AsyncIterator[None]:
    """Leave no queue or exchange of this run's bus namespace on the broker."""
    yield
    topology = Topology(platform_settings.bus_namespace)
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(platform_settings.rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(topology.queue(SERVICE))
            await channel.queue_delete(topology.dead_letter_queue(SERVICE))
            await channel.exchange_delete(topology.events_exchange)
            await channel.exchange_delete(topology.dead_letter_exchange)
