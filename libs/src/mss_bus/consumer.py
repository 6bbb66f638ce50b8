"""The consuming side: one durable quorum queue per service, inbox, retries and a DLQ.

- a body that is not a valid envelope is poison: rejected without requeue, so the
  broker dead-letters it straight to `<service>.dlq`;
- a transient failure (database or broker connection) is retried in place with
  back-off, then requeued; the queue's delivery limit dead-letters a message that
  keeps failing;
- any other failure is a bug or bad data: dead-lettered at once for inspection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from mss_bus.connection import Bus
from mss_bus.metrics import DLQ_DEPTH, EVENTS_CONSUMED
from mss_contracts.events import EventEnvelope
from mss_db.scope import OrgScope
from mss_db.tables import inbox_table
from mss_db.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("mss.consumer")

DELIVERY_LIMIT = 5
PREFETCH = 100
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
)

Handler = Callable[[EventEnvelope], Awaitable[None]]
Effect = Callable[[UnitOfWork, EventEnvelope], Awaitable[None]]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT)


class _Transient(Exception):
    """Wraps a transient failure so tenacity retries only those."""


async def apply_once(factory: UnitOfWorkFactory, envelope: EventEnvelope, effect: Effect) -> bool:
    """Apply `effect` and record the event id in one transaction; False when seen before."""
    inbox = inbox_table(factory.schema)
    async with factory(OrgScope.everything()) as uow:
        inserted = await uow.conn.execute(
            insert(inbox)
            .values(event_id=envelope.id, event_type=envelope.type)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        if inserted.first() is None:
            return False
        await effect(uow, envelope)
        await uow.commit()
        return True


class EventConsumer:
    def __init__(
        self,
        *,
        bus: Bus,
        service: str,
        bindings: Sequence[str],
        handler: Handler,
        delivery_limit: int = DELIVERY_LIMIT,
        retry_attempts: int = 4,
    ) -> None:
        self._bus = bus
        self._service = service
        self._bindings = bindings
        self._handler = handler
        self._delivery_limit = delivery_limit
        self._retry_attempts = retry_attempts
        self._channel: AbstractRobustChannel | None = None
        self._dlq: AbstractQueue | None = None

    async def start(self) -> None:
        """Declare the topology (idempotent) and start consuming."""
        topology = self._bus.topology
        channel = await self._bus.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        self._channel = channel
        exchange = await self._bus.declare_events_exchange(channel)
        dlx = await channel.declare_exchange(
            topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dlq_name = topology.dead_letter_queue(self._service)
        self._dlq = await channel.declare_queue(
            dlq_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await self._dlq.bind(dlx, routing_key=dlq_name)
        queue = await channel.declare_queue(
            topology.queue(self._service),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self._delivery_limit,
                "x-dead-letter-exchange": topology.dead_letter_exchange,
                "x-dead-letter-routing-key": dlq_name,
            },
        )
        for pattern in self._bindings:
            await queue.bind(exchange, routing_key=pattern)
        await queue.consume(self._on_message)

    async def dlq_depth(self) -> int:
        """Messages waiting in the dead-letter queue (also exported as a metric)."""
        if self._channel is None:
            return 0
        # On the underlying channel: a robust channel answers a passive declare of a queue
        # it already knows from its cache, with the count as it was at start().
        channel = await self._channel.get_underlay_channel()
        declared = await channel.queue_declare(
            self._bus.topology.dead_letter_queue(self._service), passive=True
        )
        depth = declared.message_count or 0
        DLQ_DEPTH.labels(self._service).set(depth)
        return depth

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = EventEnvelope.model_validate_json(message.body)
        except ValidationError:
            log.error("poison message %s dead-lettered", message.message_id)
            EVENTS_CONSUMED.labels(self._service, "poison").inc()
            await message.reject(requeue=False)
            return
        try:
            await self._handle_with_retries(envelope)
        except _Transient:
            log.warning("event %s failed transiently; requeued", envelope.id, exc_info=True)
            EVENTS_CONSUMED.labels(self._service, "requeued").inc()
            await message.nack(requeue=True)
        except Exception:
            log.exception("event %s (%s) failed; dead-lettered", envelope.id, envelope.type)
            EVENTS_CONSUMED.labels(self._service, "failed").inc()
            await message.reject(requeue=False)
        else:
            EVENTS_CONSUMED.labels(self._service, "ok").inc()
            await message.ack()

    async def _handle_with_retries(self, envelope: EventEnvelope) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self._retry_attempts),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            reraise=True,
        ):
            with attempt:
                try:
                    await self._handler(envelope)
                except Exception as exc:
                    if _is_transient(exc):
                        raise _Transient(str(exc)) from exc
                    raise


async def watch_dlq(consumer: EventConsumer, interval_s: float = 15.0) -> None:
    """Refresh the DLQ depth metric until cancelled."""
    while True:
        try:
            await consumer.dlq_depth()
        except Exception:
            log.debug("could not read DLQ depth", exc_info=True)
        await asyncio.sleep(interval_s)
