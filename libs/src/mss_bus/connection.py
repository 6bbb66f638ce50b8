"""One robust AMQP connection per process, and the names of the topology."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from yarl import URL

from mss_settings.registry import DEFAULT_QUEUE

PUBLISH_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Topology:
    """Exchange and queue names, prefixed by a namespace (tests isolate their own)."""

    namespace: str = ""

    @property
    def events_exchange(self) -> str:
        return f"{self.namespace}mss.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}mss.dlx"

    def queue(self, service: str, name: str = DEFAULT_QUEUE) -> str:
        """`<service>.events`, or a further queue of the service: `<service>.<name>`."""
        return f"{self.namespace}{service}.{name}"

    def dead_letter_queue(self, service: str, name: str = DEFAULT_QUEUE) -> str:
        """`<service>.dlq` for the service's events queue, `<service>.<name>.dlq` for another."""
        if name == DEFAULT_QUEUE:
            return f"{self.namespace}{service}.dlq"
        return f"{self.namespace}{service}.{name}.dlq"


class Bus:
    """Connects lazily and reconnects by itself (aio-pika robust connection)."""

    def __init__(self, url: str, topology: Topology) -> None:
        self._url = url
        self.topology = topology
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        # One attempt at a time: concurrent first publishes (a relay's batch) wait for it
        # rather than find a connection whose exchange is not declared yet.
        self._connecting = asyncio.Lock()

    async def connect(self) -> None:
        async with self._connecting:
            if self._connection is not None:
                return
            # Kept before connecting, so close() also stops a first attempt still under way.
            self._connection = aio_pika.RobustConnection(URL(self._url), reconnect_interval=1.0)
            try:
                await self._connection.connect(timeout=5.0)
            except BaseException:
                connection, self._connection = self._connection, None
                if connection is not None:  # None when close() ran meanwhile
                    await connection.close()
                raise
            channel = await self._connection.channel(publisher_confirms=True)
            assert isinstance(channel, AbstractRobustChannel)
            self._publish_channel = channel
            self._exchange = await self.declare_events_exchange(channel)

    @property
    def connected(self) -> bool:
        """Connected right now (a robust connection that is reconnecting is not)."""
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._connection.connected.is_set()
        )

    async def channel(self) -> AbstractRobustChannel:
        """A fresh channel (consumers keep their own, apart from publishing)."""
        if self._connection is None:
            await self.connect()
        assert self._connection is not None
        channel = await self._connection.channel()
        assert isinstance(channel, AbstractRobustChannel)
        return channel

    async def declare_events_exchange(self, channel: AbstractRobustChannel) -> AbstractExchange:
        return await channel.declare_exchange(
            self.topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def publish(self, *, routing_key: str, body: bytes, message_id: str) -> None:
        """Publish persistently and wait for the broker's confirm (raises when not confirmed)."""
        if self._exchange is None:
            await self.connect()
        assert self._exchange is not None
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=routing_key,
        )
        await self._exchange.publish(message, routing_key=routing_key, timeout=PUBLISH_TIMEOUT_S)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._exchange = None
