"""The audit worker's batch consumption keeps the inbox, hash chain and DLQ guarantees.

The consumer is the worker's own (`BatchConsumer` with `apply_batch_once(on_event_batch)`
and, for the one-by-one fallback, `apply_once(on_any_event)`), on this run's namespaced
queues, against the real PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from mss_audit.application.records import verify_chains
from mss_audit.consumers.on_any_event import BINDINGS, on_any_event, on_event_batch
from mss_audit.main import build_runtime
from mss_auth.tokens import KeyLoader
from mss_bus import BatchConsumer, apply_batch_once, apply_once
from mss_contracts.events import EventContext, EventEnvelope, LoginFailed, new_event
from mss_db import OrgScope
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import eventually

pytestmark = pytest.mark.integration

SERVICE = "audit"


@dataclass
class Worker:
    runtime: ServiceRuntime
    consumer: BatchConsumer
    batches: list[list[uuid.UUID]] = field(default_factory=list)  # ids handed to each call
    fresh: list[list[uuid.UUID]] = field(default_factory=list)  # ...and those applied
    transient_failures: int = 0  # batch calls that fail with 'too many connections' first

    async def publish(self, envelope: EventEnvelope) -> None:
        await self.runtime.bus.publish(
            routing_key=envelope.type,
            body=envelope.model_dump_json(by_alias=True).encode(),
            message_id=str(envelope.id),
        )

    async def publish_all(self, envelopes: Sequence[EventEnvelope]) -> None:
        await asyncio.gather(*(self.publish(envelope) for envelope in envelopes))

    def applied(self, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Those of `ids` that a batch applied (the queue also carries other tests' events)."""
        wanted = set(ids)
        return [event_id for fresh in self.fresh for event_id in fresh if event_id in wanted]

    def handled(self, ids: Sequence[uuid.UUID]) -> int:
        """How many times the batch handler was given all of `ids` (fresh or not)."""
        wanted = set(ids)
        return sum(1 for batch in self.batches if wanted <= set(batch))


async def _purge(amqp: AbstractRobustConnection, queue_name: str) -> None:
    """Drop what earlier tests' relays left in the queue, so the test's events come in
    batches of their own."""
    channel = await amqp.channel()
    try:
        queue = await channel.declare_queue(queue_name, passive=True)
        await queue.purge()
    except aio_pika.exceptions.ChannelClosed:
        pass  # not declared yet: nothing to drop
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


@pytest.fixture
async def worker(
    platform_settings: PlatformSettings, key_loader: KeyLoader, amqp: AbstractRobustConnection
) -> AsyncIterator[Worker]:
    runtime = build_runtime(key_loader)
    await _purge(amqp, runtime.bus.topology.queue(SERVICE))

    async def handle_batch(envelopes: Sequence[EventEnvelope]) -> None:
        harness.batches.append([envelope.id for envelope in envelopes])
        if harness.transient_failures > 0:
            harness.transient_failures -= 1
            # What PostgreSQL answers a connection over max_connections (SQLSTATE 53300).
            raise asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")
        applied = await apply_batch_once(runtime.uow, envelopes, on_event_batch)
        harness.fresh.append([envelope.id for envelope in applied])

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, on_any_event)

    consumer = BatchConsumer(
        bus=runtime.bus,
        service=SERVICE,
        bindings=BINDINGS,
        batch_handler=handle_batch,
        handler=handle,
        batch_size=10,
        # Long enough that events published together are taken as one batch.
        batch_wait_s=0.5,
        retry_attempts=1,
    )
    harness = Worker(runtime=runtime, consumer=consumer)
    await consumer.start()
    try:
        yield harness
    finally:
        await consumer.close()
        await runtime.close()


def _event(org_id: uuid.UUID) -> EventEnvelope:
    return new_event(
        LoginFailed(email=f"{uuid.uuid4().hex[:8]}@example.com", reason="invalid_credentials"),
        aggregate_id=uuid.uuid4(),
        organization_id=org_id,
        version=1,
        context=EventContext(ip_address="203.0.113.9"),
    )


def _poison(org_id: uuid.UUID) -> EventEnvelope:
    """A valid envelope whose effect fails: a grant event without the grant's fields."""
    envelope = _event(org_id)
    return envelope.model_copy(update={"type": "technician_access.granted", "data": {}})


async def _stored(admin_db: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> tuple[int, int, int]:
    """(events, audit_logs, inbox) rows for these event ids."""
    row = await admin_db.fetchrow(
        """
        SELECT (SELECT count(*) FROM audit.events WHERE id = ANY($1)) AS events,
               (SELECT count(*) FROM audit.audit_logs WHERE event_id = ANY($1)) AS logs,
               (SELECT count(*) FROM audit.inbox WHERE event_id = ANY($1)) AS inbox
        """,
        list(ids),
    )
    assert row is not None
    return row["events"], row["logs"], row["inbox"]


async def _chain_rows(admin_db: asyncpg.Connection, orgs: Sequence[uuid.UUID]) -> list[tuple]:
    rows = await admin_db.fetch(
        "SELECT chain_key, seq, event_id, prev_hash, hash, position FROM audit.audit_logs "
        "WHERE chain_key = ANY($1) ORDER BY chain_key, seq",
        list(orgs),
    )
    return [tuple(row) for row in rows]


async def _dead_letter(
    amqp: AbstractRobustConnection, dlq_name: str, match: Callable[[AbstractIncomingMessage], bool]
) -> AbstractIncomingMessage:
    channel = await amqp.channel()
    dlq = await channel.declare_queue(dlq_name, passive=True)

    async def arrived() -> AbstractIncomingMessage:
        while (message := await dlq.get(no_ack=True, fail=False)) is not None:
            if match(message):
                return message
        raise AssertionError(f"not in {dlq_name} yet")

    return await eventually(arrived)


async def _dead_lettered_ids(amqp: AbstractRobustConnection, dlq_name: str) -> set[str]:
    """Every message id in the DLQ now (taking them off it)."""
    channel = await amqp.channel()
    dlq = await channel.declare_queue(dlq_name, passive=True)
    ids = set()
    while (message := await dlq.get(no_ack=True, fail=False)) is not None:
        ids.add(str(message.message_id))
    return ids


async def _verified(runtime: ServiceRuntime, org: uuid.UUID) -> tuple[bool, int]:
    async with runtime.uow(OrgScope.everything()) as uow:
        result = await verify_chains(org, uow=uow)
    return result.valid, result.checked


async def test_a_redelivered_batch_changes_nothing(
    worker: Worker, admin_db: asyncpg.Connection
) -> None:
    orgs = [uuid.uuid4() for _ in range(3)]
    batch = [_event(orgs[i % 3]) for i in range(9)]
    ids = [envelope.id for envelope in batch]
    await worker.publish_all(batch)

    async def recorded() -> None:
        assert await _stored(admin_db, ids) == (9, 9, 9)

    await eventually(recorded)
    before = await _chain_rows(admin_db, orgs)

    await worker.publish_all(batch)  # the same nine again: a redelivery

    async def handled_twice() -> None:
        assert sum(1 for event_id in ids for seen in worker.batches if event_id in seen) == 18

    await eventually(handled_twice)
    assert sorted(worker.applied(ids)) == sorted(ids), (
        "each event applied once, the redelivery found them all in the inbox"
    )
    assert await _stored(admin_db, ids) == (9, 9, 9)
    assert await _chain_rows(admin_db, orgs) == before
    for org in orgs:
        assert await _verified(worker.runtime, org) == (True, 3)


async def test_chains_verify_after_concurrent_batches_over_the_same_chains(
    worker: Worker, admin_db: asyncpg.Connection
) -> None:
    """Batches applied at once on several connections, each touching every chain (in
    different orders), interleaved with single-event appends: no gap, no fork."""
    orgs = [uuid.uuid4() for _ in range(5)]
    batches = [[_event(orgs[(b + i) % 5]) for i in range(40)] for b in range(6)]
    singles = [_event(org) for org in orgs]
    uow = worker.runtime.uow
    await asyncio.gather(
        *(apply_batch_once(uow, batch, on_event_batch) for batch in batches),
        *(apply_once(uow, envelope, on_any_event) for envelope in singles),
    )

    rows = await _chain_rows(admin_db, orgs)
    assert len(rows) == 6 * 40 + 5
    for org in orgs:
        seqs = [row[1] for row in rows if row[0] == org]
        assert seqs == list(range(1, len(seqs) + 1)), "every chain numbered without a gap"
        assert await _verified(worker.runtime, org) == (True, len(seqs))
    # Within one batch, a chain's entries follow the batch's order.
    first = batches[0]
    position = {row[2]: row[5] for row in rows}
    for org in orgs:
        in_batch = [envelope.id for envelope in first if envelope.organization_id == org]
        assert [position[event_id] for event_id in in_batch] == sorted(
            position[event_id] for event_id in in_batch
        )


async def test_a_poison_event_in_a_batch_is_dead_lettered_and_the_rest_commit(
    worker: Worker, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    orgs = [uuid.uuid4() for _ in range(2)]
    good = [_event(orgs[i % 2]) for i in range(8)]
    poison = _poison(orgs[0])
    batch = [*good[:4], poison, *good[4:]]
    await worker.publish_all(batch)

    dead = await _dead_letter(
        amqp,
        worker.runtime.bus.topology.dead_letter_queue(SERVICE),
        lambda message: message.message_id == str(poison.id),
    )
    assert EventEnvelope.model_validate_json(dead.body) == poison

    async def the_rest_recorded() -> None:
        assert await _stored(admin_db, [envelope.id for envelope in good]) == (8, 8, 8)

    await eventually(the_rest_recorded)
    assert worker.handled([envelope.id for envelope in batch]) == 1, "they came as one batch"
    assert worker.applied([envelope.id for envelope in batch]) == [], (
        "the batch transaction rolled back as a whole"
    )
    assert await _stored(admin_db, [poison.id]) == (0, 0, 0)
    for org in orgs:
        assert await _verified(worker.runtime, org) == (True, 4)


async def test_a_transient_database_error_requeues_the_batch_without_dead_lettering(
    worker: Worker, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    worker.transient_failures = 1  # "too many connections" on the first try
    org = uuid.uuid4()
    batch = [_event(org) for _ in range(6)]
    ids = [envelope.id for envelope in batch]
    await worker.publish_all(batch)

    async def recorded() -> None:
        assert await _stored(admin_db, ids) == (6, 6, 6)

    await eventually(recorded)
    handed = [event_id for seen in worker.batches for event_id in seen if event_id in set(ids)]
    assert sorted(handed) == sorted(ids + ids), "failed once, requeued, then applied"
    dead = await _dead_lettered_ids(amqp, worker.runtime.bus.topology.dead_letter_queue(SERVICE))
    assert not dead & {str(event_id) for event_id in ids}
    assert await _verified(worker.runtime, org) == (True, 6)


async def test_batches_run_side_by_side_with_concurrency_and_every_delivery_is_acked_once(
    key_loader: KeyLoader, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    """`concurrency=3`: up to three batches in flight at once (each its own transaction),
    and every delivery settled on its own (none left unacked, none redelivered)."""
    runtime = build_runtime(key_loader)
    routing_key = f"test.concurrent.{uuid.uuid4().hex}"
    queue = f"concurrent{uuid.uuid4().hex[:8]}"
    in_flight, most, handed = 0, 0, 0

    async def handle_batch(envelopes: Sequence[EventEnvelope]) -> None:
        nonlocal in_flight, most, handed
        in_flight += 1
        most = max(most, in_flight)
        handed += len(envelopes)
        try:
            await asyncio.sleep(0.3)  # a batch's round trips, long enough to overlap
            await apply_batch_once(runtime.uow, envelopes, on_event_batch)
        finally:
            in_flight -= 1

    async def handle(envelope: EventEnvelope) -> None:
        raise AssertionError("no batch fails here")

    consumer = BatchConsumer(
        bus=runtime.bus,
        service=SERVICE,
        bindings=[routing_key],
        queue=queue,
        batch_handler=handle_batch,
        handler=handle,
        batch_size=2,
        batch_wait_s=0.05,
        concurrency=3,
    )
    await consumer.start()
    batch = [_event(uuid.uuid4()) for _ in range(6)]
    ids = [envelope.id for envelope in batch]
    try:
        for envelope in batch:
            await runtime.bus.publish(
                routing_key=routing_key,
                body=envelope.model_dump_json(by_alias=True).encode(),
                message_id=str(envelope.id),
            )

        async def recorded() -> None:
            assert await _stored(admin_db, ids) == (6, 6, 6)

        await eventually(recorded)
    finally:
        await consumer.close()
        await runtime.close()
    assert most >= 2
    assert handed == 6
    # With the consumer's channel closed, an unacked delivery would be back in the queue.
    channel = await amqp.channel()
    try:
        declared = await channel.declare_queue(
            runtime.bus.topology.queue(SERVICE, queue), passive=True
        )
        assert declared.declaration_result.message_count == 0
        await declared.delete(if_unused=False, if_empty=False)
        await channel.queue_delete(runtime.bus.topology.dead_letter_queue(SERVICE, queue))
    finally:
        await channel.close()
