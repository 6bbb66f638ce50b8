"""Connections the identity tests inspect Redis, the database and the bus with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from mss_bus import Topology
from mss_settings import PlatformSettings


@pytest.fixture
async def admin_db(platform_settings: PlatformSettings) -> AsyncIterator[asyncpg.Connection]:
    """The superuser on the test database: sees every row, to check what identity wrote."""
    url = make_url(platform_settings.database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def redis(platform_settings: PlatformSettings) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(platform_settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def amqp(platform_settings: PlatformSettings) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(platform_settings.rabbitmq_url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


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
