"""Leaves the broker as the libs' integration tests found it (their bus namespace removed)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aio_pika
import pytest

from mss_bus import Topology
from mss_settings import PlatformSettings


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
