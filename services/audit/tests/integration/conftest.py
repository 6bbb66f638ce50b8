"""Connections the audit service's integration tests check the real database with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest

from mss_bus import Topology
from mss_settings import PlatformSettings, role_database_url
from mss_testing.plugin import dsn


@pytest.fixture
async def audit_app_db(platform_settings: PlatformSettings) -> AsyncIterator[asyncpg.Connection]:
    """The role the audit service connects as."""
    conn = await asyncpg.connect(dsn(role_database_url(platform_settings, "audit_app")))
    try:
        yield conn
    finally:
        await conn.close()


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
