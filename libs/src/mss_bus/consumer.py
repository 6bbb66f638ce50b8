"""The consuming side: durable quorum queues of a service, inbox, retries and a DLQ each.

A consuming service owns `<service>.events` (with `<service>.dlq`); a service whose
registry entry lists more queues (`consumes = ["events", "mail"]`) runs one consumer per
queue, `queue="mail"`: `<service>.mail` with `<service>.mail.dlq`, bound to its own event
types, so a flood on one queue never delays the other. The queues of a service share its
inbox table (an event id is applied once, whichever queue brought it).

- a body that is not a valid envelope is poison: rejected without requeue, so the
  broker dead-letters it straight to `<service>.dlq`;
- a transient failure (database or broker connection, too many connections, a pool
  timeout, a deadlock or serialization failure) is retried in place with back-off, then
  requeued; the queue's delivery limit dead-letters a message that keeps failing;
- any other failure is a bug or bad data: dead-lettered at once for inspection.

`EventConsumer` applies one delivery at a time (`apply_once`: its own transaction).
`BatchConsumer` takes up to N deliveries at once (`apply_batch_once`: one transaction, one
inbox statement, one ack); a batch failing for a non-transient reason is applied again
one event at a time, so only the poison event is dead-lettered and the others commit.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from mss_bus.connection import Bus
from mss_bus.metrics import DLQ_DEPTH, EVENTS_CONSUMED
from mss_contracts.events import EventEnvelope
from mss_db.bulk import insert_rows
from mss_db.scope import OrgScope
from mss_db.tables import inbox_table
from mss_db.uow import UnitOfWork, UnitOfWorkFactory
from mss_settings.registry import DEFAULT_QUEUE

log = logging.getLogger("mss.consumer")

DELIVERY_LIMIT = 5
PREFETCH = 100
BATCH_SIZE = 500
BATCH_WAIT_S = 0.025
TRANSIENT: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the pool had no connection free in time
    ConnectionError,
    OSError,
    TimeoutError,
)
# SQLSTATEs that say "try again" rather than "this event is bad": connection exceptions
# (08), insufficient resources such as too many connections (53), the server shutting
# down or starting (57P), serialization failures and deadlocks (40001, 40P01), a lock
# not available (55P03). The driver's code survives SQLAlchemy's wrapping as `.orig`.
TRANSIENT_SQLSTATES = ("08", "53", "57P", "40001", "40P01", "55P03")

Handler = Callable[[EventEnvelope], Awaitable[None]]
BatchHandler = Callable[[Sequence[EventEnvelope]], Awaitable[object]]
Effect = Callable[[UnitOfWork, EventEnvelope], Awaitable[None]]
BatchEffect = Callable[[UnitOfWork, Sequence[EventEnvelope]], Awaitable[None]]


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) is worth retrying rather than dead-lettering."""
    seen: BaseException | None = exc
    for _ in range(4):  # the exception, the driver's error it wraps, their causes
        if seen is None:
            return False
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, TRANSIENT):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(TRANSIENT_SQLSTATES):
            return True
        wrapped = getattr(seen, "orig", None)
        seen = wrapped if isinstance(wrapped, BaseException) else seen.__cause__
    return False


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


_INBOX_COLUMNS = (("event_id", "uuid"), ("event_type", "text"))


async def apply_batch_once(
    factory: UnitOfWorkFactory, envelopes: Sequence[EventEnvelope], effect: BatchEffect
) -> list[EventEnvelope]:
    """`apply_once` for many events: one transaction, one inbox statement for all of them.

    `effect` gets only the events not seen before (each once, in delivery order); the
    inbox rows and the effect commit together. Returns those events.
    """
    unique = list({envelope.id: envelope for envelope in envelopes}.values())
    async with factory(OrgScope.everything()) as uow:
        inserted = await insert_rows(
            uow.conn,
            f"{factory.schema}.inbox",
            _INBOX_COLUMNS,
            [(envelope.id, envelope.type) for envelope in unique],
            suffix="ON CONFLICT DO NOTHING RETURNING event_id",
        )
        new_ids = {row[0] for row in inserted}
        fresh = [envelope for envelope in unique if envelope.id in new_ids]
        if fresh:
            await effect(uow, fresh)
        await uow.commit()
        return fresh


async def _settle(action: Awaitable[None], what: str) -> None:
    """Ack/nack/reject; after a reconnect the old delivery tags are gone and the broker
    redelivers those messages anyway (the inbox absorbs the repeat)."""
    try:
        await action
    except Exception:
        log.warning("could not %s a delivery (channel reconnected?)", what, exc_info=True)


class _QueueConsumer(abc.ABC):
    """A queue of the service, its dead-letter queue and the retry policy both consumers share.

    `retired_bindings`: patterns this queue was bound to before and must no longer hear
    (bindings outlive a deploy on a durable queue); unbound at start, a no-op when absent.
    """

    prefetch = PREFETCH

    def __init__(
        self,
        *,
        bus: Bus,
        service: str,
        bindings: Sequence[str],
        queue: str = DEFAULT_QUEUE,
        retired_bindings: Sequence[str] = (),
        delivery_limit: int = DELIVERY_LIMIT,
        retry_attempts: int = 4,
    ) -> None:
        self._bus = bus
        self._service = service
        self._queue = queue
        self._bindings = bindings
        self._retired = [pattern for pattern in retired_bindings if pattern not in bindings]
        self._delivery_limit = delivery_limit
        self._retry_attempts = retry_attempts
        self._channel: AbstractRobustChannel | None = None
        self._dlq: AbstractQueue | None = None

    async def start(self) -> None:
        """Declare the topology (idempotent) and start consuming."""
        topology = self._bus.topology
        channel = await self._bus.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        self._channel = channel
        exchange = await self._bus.declare_events_exchange(channel)
        dlx = await channel.declare_exchange(
            topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dlq_name = topology.dead_letter_queue(self._service, self._queue)
        self._dlq = await channel.declare_queue(
            dlq_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await self._dlq.bind(dlx, routing_key=dlq_name)
        queue = await channel.declare_queue(
            topology.queue(self._service, self._queue),
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
        for pattern in self._retired:
            await queue.unbind(exchange, routing_key=pattern)
        await queue.consume(self._on_message)

    @abc.abstractmethod
    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """One delivery: applied at once (EventConsumer) or gathered into a batch."""

    async def dlq_depth(self) -> int:
        """Messages waiting in the dead-letter queue (also exported as a metric)."""
        if self._channel is None:
            return 0
        # On the underlying channel: a robust channel answers a passive declare of a queue
        # it already knows from its cache, with the count as it was at start().
        channel = await self._channel.get_underlay_channel()
        declared = await channel.queue_declare(
            self._bus.topology.dead_letter_queue(self._service, self._queue), passive=True
        )
        depth = declared.message_count or 0
        DLQ_DEPTH.labels(self._service, self._queue).set(depth)
        return depth

    def _parse(self, message: AbstractIncomingMessage) -> EventEnvelope | None:
        try:
            return EventEnvelope.model_validate_json(message.body)
        except ValidationError:
            log.error("poison message %s dead-lettered", message.message_id)
            EVENTS_CONSUMED.labels(self._service, "poison").inc()
            return None

    async def _with_retries(self, call: Callable[[], Awaitable[object]]) -> None:
        """Run `call`, retrying transient failures with back-off (then raises _Transient)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self._retry_attempts),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            reraise=True,
        ):
            with attempt:
                try:
                    await call()
                except Exception as exc:
                    if is_transient(exc):
                        raise _Transient(str(exc)) from exc
                    raise

    async def _apply_one(
        self, handler: Handler, envelope: EventEnvelope, message: AbstractIncomingMessage
    ) -> None:
        """Apply one event and settle its delivery: ack, requeue or dead-letter."""
        try:
            await self._with_retries(lambda: handler(envelope))
        except _Transient:
            log.warning("event %s failed transiently; requeued", envelope.id, exc_info=True)
            EVENTS_CONSUMED.labels(self._service, "requeued").inc()
            await _settle(message.nack(requeue=True), "requeue")
        except Exception:
            log.exception("event %s (%s) failed; dead-lettered", envelope.id, envelope.type)
            EVENTS_CONSUMED.labels(self._service, "failed").inc()
            await _settle(message.reject(requeue=False), "dead-letter")
        else:
            EVENTS_CONSUMED.labels(self._service, "ok").inc()
            await _settle(message.ack(), "ack")


class EventConsumer(_QueueConsumer):
    """One delivery at a time, each in its own transaction (`apply_once`)."""

    def __init__(
        self,
        *,
        bus: Bus,
        service: str,
        bindings: Sequence[str],
        handler: Handler,
        queue: str = DEFAULT_QUEUE,
        retired_bindings: Sequence[str] = (),
        delivery_limit: int = DELIVERY_LIMIT,
        retry_attempts: int = 4,
    ) -> None:
        super().__init__(
            bus=bus,
            service=service,
            bindings=bindings,
            queue=queue,
            retired_bindings=retired_bindings,
            delivery_limit=delivery_limit,
            retry_attempts=retry_attempts,
        )
        self._handler = handler

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        envelope = self._parse(message)
        if envelope is None:
            await _settle(message.reject(requeue=False), "dead-letter")
            return
        await self._apply_one(self._handler, envelope, message)


class BatchConsumer(_QueueConsumer):
    """Up to `batch_size` deliveries at a time: `batch_handler` applies them together.

    A batch is taken as soon as `batch_size` deliveries wait, or `batch_wait_s` after the
    first one arrived (a quiet queue still applies each event promptly). The broker keeps
    one batch more than are applied in flight (prefetch (concurrency + 1)×N), so the next
    fills while one commits. With `concurrency` 1, one batch is applied at a time, in
    delivery order, so a single ack with `multiple` on the last delivery tag settles the
    whole batch. With more, up to `concurrency` batches are applied at once, each in its
    own transaction, and each delivery is settled on its own: for effects whose order
    across events does not matter and whose cost is round trips, not CPU.

    When `batch_handler` fails for a non-transient reason, each event of the batch goes
    through `handler` alone, with `EventConsumer`'s outcome each: only the bad one is
    dead-lettered. A transient failure is retried with back-off, then the whole batch is
    requeued, never dead-lettered (the delivery limit still applies).
    """

    def __init__(
        self,
        *,
        bus: Bus,
        service: str,
        bindings: Sequence[str],
        batch_handler: BatchHandler,
        handler: Handler,
        batch_size: int = BATCH_SIZE,
        batch_wait_s: float = BATCH_WAIT_S,
        concurrency: int = 1,
        queue: str = DEFAULT_QUEUE,
        retired_bindings: Sequence[str] = (),
        delivery_limit: int = DELIVERY_LIMIT,
        retry_attempts: int = 4,
    ) -> None:
        super().__init__(
            bus=bus,
            service=service,
            bindings=bindings,
            queue=queue,
            retired_bindings=retired_bindings,
            delivery_limit=delivery_limit,
            retry_attempts=retry_attempts,
        )
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        self._batch_handler = batch_handler
        self._handler = handler
        self._batch_size = batch_size
        self._batch_wait_s = batch_wait_s
        self._concurrency = concurrency
        self.prefetch = (concurrency + 1) * batch_size
        self._pending: deque[AbstractIncomingMessage] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._applying: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-batches")

    async def close(self) -> None:
        """Stop taking batches (unacked deliveries go back to the queue with the channel)."""
        task, self._task = self._task, None
        tasks = [*self._applying, *([task] if task is not None else [])]
        for each in tasks:
            each.cancel()
        for each in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await each

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._pending.append(message)
        # Wake the batcher for the first delivery (it starts its wait) and for a full batch.
        if len(self._pending) == 1 or len(self._pending) >= self._batch_size:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await self._slots.acquire()
            if len(self._pending) < self._batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._batch_wait_s):
                        await self._wake.wait()
            take = min(self._batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(take)]
            if self._concurrency == 1:
                await self._applied(batch)
            else:
                task = asyncio.create_task(self._applied(batch))
                self._applying.add(task)
                task.add_done_callback(self._applying.discard)

    async def _applied(self, batch: list[AbstractIncomingMessage]) -> None:
        try:
            await self._apply_batch(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Settling failed in a way _settle did not absorb: never stop the loop.
            log.exception("batch of %d deliveries could not be settled", len(batch))
        finally:
            self._slots.release()

    async def _settle_batch(self, messages: list[AbstractIncomingMessage], *, ok: bool) -> None:
        """Ack (or requeue) a whole batch: one frame when batches are applied in order."""
        if self._concurrency == 1:
            last = messages[-1]
            if ok:
                await _settle(last.ack(multiple=True), "ack")
            else:
                await _settle(last.nack(multiple=True, requeue=True), "requeue")
            return
        for message in messages:
            if ok:
                await _settle(message.ack(), "ack")
            else:
                await _settle(message.nack(requeue=True), "requeue")

    async def _apply_batch(self, batch: list[AbstractIncomingMessage]) -> None:
        envelopes: list[EventEnvelope] = []
        messages: list[AbstractIncomingMessage] = []
        for message in batch:
            envelope = self._parse(message)
            if envelope is None:
                await _settle(message.reject(requeue=False), "dead-letter")
                continue
            envelopes.append(envelope)
            messages.append(message)
        if not messages:
            return
        try:
            await self._with_retries(lambda: self._batch_handler(envelopes))
        except _Transient:
            log.warning("batch of %d failed transiently; requeued", len(messages), exc_info=True)
            EVENTS_CONSUMED.labels(self._service, "requeued").inc(len(messages))
            await self._settle_batch(messages, ok=False)
        except Exception:
            log.warning(
                "batch of %d failed; applying its events one by one", len(messages), exc_info=True
            )
            for envelope, message in zip(envelopes, messages, strict=True):
                await self._apply_one(self._handler, envelope, message)
        else:
            EVENTS_CONSUMED.labels(self._service, "ok").inc(len(messages))
            await self._settle_batch(messages, ok=True)


async def watch_dlq(consumer: _QueueConsumer, interval_s: float = 15.0) -> None:
    """Refresh the DLQ depth metric until cancelled."""
    while True:
        try:
            await consumer.dlq_depth()
        except Exception:
            log.debug("could not read DLQ depth", exc_info=True)
        await asyncio.sleep(interval_s)
