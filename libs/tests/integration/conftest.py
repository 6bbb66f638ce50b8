"""Connections the libs' integration tests inspect the real PostgreSQL and RabbitMQ with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection
from sqlalchemy.engine import make_url

from mss_bus import Topology
from mss_settings import PlatformSettings


@pytest.fixture
async def admin_db(platform_settings: PlatformSettings) -> AsyncIterator[asyncpg.Connection]:
    """The superuser on the test database: sees every row, to check what the services wrote."""
    url = make_url(platform_settings.database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def amqp(platform_settings: PlatformSettings) -> AsyncIterator[AbstractRobustConnection]:
    """A broker connection of the test's own, apart from the services' buses."""
    connection = await aio_pika.connect_robust(platform_settings.rabbitmq_url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="session", autouse=True)
async def _drop_test_topology(platform_settings: PlatformSettings) -> AsyncIterator[None]:
    """Leave no durable queue or exchange of this run's bus namespace on the broker."""
    yield
    topology = Topology(platform_settings.bus_namespace)
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(platform_settings.rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            for service in ("audit", "audit-limit"):
                await channel.queue_delete(topology.queue(service))
                await channel.queue_delete(topology.dead_letter_queue(service))
            await channel.exchange_delete(topology.events_exchange)
            await channel.exchange_delete(topology.dead_letter_exchange)
