"""The transactional outbox end to end: unit of work → organization.outbox → relay → RabbitMQ.

Runs against the organization service's schema and runtime (its app role, its engine and a
real Bus in this test run's namespace), with a queue of the test's own bound to the events
exchange to see what the broker actually routed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Literal, TypeVar

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aiormq.exceptions import DeliveryError
from sqlalchemy import text

from mss_bus import Bus, OutboxRelay, Topology
from mss_bus.relay import BATCH
from mss_contracts.events import EventContext, EventEnvelope, OrganizationCreated, new_event
from mss_contracts.permissions import OrganizationType
from mss_db import OrgScope
from mss_organization.main import build_runtime
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
SCHEMA = "organization"


@pytest.fixture
async def runtime(platform_settings: PlatformSettings) -> AsyncIterator[ServiceRuntime]:
    """The organization service's runtime: engine as organization_app, Bus in the namespace."""
    rt = build_runtime()
    await rt.bus.connect()
    try:
        yield rt
    finally:
        await rt.close()


async def _bind_queue(
    amqp: AbstractRobustConnection, topology: Topology, *routing_keys: str
) -> AbstractQueue:
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue


async def _take_all(queue: AbstractQueue) -> list[AbstractIncomingMessage]:
    """Every message waiting in the queue now (acknowledged as taken)."""
    taken: list[AbstractIncomingMessage] = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        taken.append(message)
    return taken


async def _receive_until(
    queue: AbstractQueue, message_id: str, seen: list[AbstractIncomingMessage]
) -> list[AbstractIncomingMessage]:
    """Collect into `seen` until the message `message_id` has arrived."""

    async def arrived() -> list[AbstractIncomingMessage]:
        seen.extend(await _take_all(queue))
        assert message_id in {m.message_id for m in seen}
        return seen

    return await eventually(arrived)


def _organization_created(
    org_id: uuid.UUID, name: str, event_type: str | None = None
) -> EventEnvelope:
    envelope = new_event(
        OrganizationCreated(name=name, type=OrganizationType.CUSTOMER, status="active"),
        aggregate_id=org_id,
        organization_id=org_id,
        version=1,
        context=EventContext(),
    )
    if event_type is not None:
        envelope = envelope.model_copy(update={"type": event_type})
    return envelope


async def _write_organization(
    runtime: ServiceRuntime, envelope: EventEnvelope, *, commit: bool
) -> None:
    """One unit of work: the organization row and its event in the outbox, together."""
    org_id = envelope.aggregate_id
    async with runtime.uow(OrgScope.of([org_id])) as uow:
        now = datetime.now(UTC)
        await uow.conn.execute(
            text(
                "INSERT INTO organization.organizations "
                "(id, name, type, status, settings, version, created_at, updated_at) "
                "VALUES (:id, :name, 'customer', 'active', '{}', 1, :now, :now)"
            ),
            {"id": org_id, "name": envelope.data["name"], "now": now},
        )
        await uow.outbox.add(envelope)
        if commit:
            await uow.commit()


async def _in_outbox(admin_db: asyncpg.Connection, *ids: uuid.UUID) -> set[uuid.UUID]:
    rows = await admin_db.fetch(
        "SELECT id FROM organization.outbox WHERE id = ANY($1::uuid[])", list(ids)
    )
    return {row["id"] for row in rows}


async def _drain(relay: OutboxRelay) -> int:
    """Run the relay until the outbox is empty; returns how many events it published."""
    total = 0
    while published := await relay.drain_once():
        total += published
    return total


async def test_committed_unit_of_work_is_published_with_its_event_id_and_leaves_the_outbox(
    runtime: ServiceRuntime, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    queue = await _bind_queue(amqp, runtime.bus.topology, "organization.created")
    org_id = uuid.uuid4()
    envelope = _organization_created(org_id, f"Relay {org_id.hex[:6]}")

    await _write_organization(runtime, envelope, commit=True)
    assert runtime.uow.outbox_written.is_set(), "the commit wakes this process's relay"
    stored = await admin_db.fetchrow(
        "SELECT event_type, payload FROM organization.outbox WHERE id = $1", envelope.id
    )
    assert stored is not None, "the event is in the outbox once the unit of work committed"
    assert stored["event_type"] == "organization.created"
    assert (
        await admin_db.fetchval("SELECT name FROM organization.organizations WHERE id = $1", org_id)
        == envelope.data["name"]
    )

    assert await _drain(runtime.relay()) >= 1
    # The relay deletes only after the broker confirmed: the row is gone...
    assert await _in_outbox(admin_db, envelope.id) == set()
    # ...and the event sits in our queue, under its own id.
    received = await _receive_until(queue, str(envelope.id), [])
    ours = [m for m in received if m.message_id == str(envelope.id)]
    assert len(ours) == 1
    message = ours[0]
    assert message.routing_key == "organization.created"
    assert message.type == "organization.created"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert EventEnvelope.model_validate_json(message.body) == envelope


async def test_serialized_events_are_written_in_one_statement_and_published_as_they_are(
    runtime: ServiceRuntime, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    queue = await _bind_queue(amqp, runtime.bus.topology, "organization.created")
    envelopes = [_organization_created(uuid.uuid4(), f"Wire {i}") for i in range(3)]
    rows = [(e.id, e.type, e.model_dump_json(by_alias=True)) for e in envelopes]
    async with runtime.uow(OrgScope.everything()) as uow:
        await uow.outbox.add_serialized(rows)
        await uow.outbox.add_serialized([])  # nothing to write: no statement, no count
        assert uow.outbox.added == 3
        await uow.commit()
    assert runtime.uow.outbox_written.is_set(), "the commit wakes this process's relay"
    ids = [e.id for e in envelopes]
    assert await _in_outbox(admin_db, *ids) == set(ids)
    stored = await admin_db.fetch(
        "SELECT payload::text AS payload FROM organization.outbox WHERE id = ANY($1::uuid[])"
        " ORDER BY created_at, id",
        ids,
    )
    # Each row holds the envelope it was given.
    assert sorted(EventEnvelope.model_validate_json(r["payload"]).id for r in stored) == sorted(ids)

    assert await _drain(runtime.relay()) >= 3
    assert await _in_outbox(admin_db, *ids) == set()
    received: list[AbstractIncomingMessage] = []
    for envelope in envelopes:
        received = await _receive_until(queue, str(envelope.id), received)
    by_id = {m.message_id: m for m in received}
    for envelope in envelopes:
        message = by_id[str(envelope.id)]
        assert message.routing_key == "organization.created"
        assert EventEnvelope.model_validate_json(message.body) == envelope


async def test_running_relay_publishes_what_a_unit_of_work_commits(
    runtime: ServiceRuntime, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    queue = await _bind_queue(amqp, runtime.bus.topology, "organization.created")
    relay = asyncio.create_task(runtime.relay().run())
    try:
        org_id = uuid.uuid4()
        envelope = _organization_created(org_id, f"Woken {org_id.hex[:6]}")
        await _write_organization(runtime, envelope, commit=True)
        received = await _receive_until(queue, str(envelope.id), [])
        assert [m.message_id for m in received].count(str(envelope.id)) == 1

        async def outbox_emptied() -> None:
            assert await _in_outbox(admin_db, envelope.id) == set()

        await eventually(outbox_emptied)
    finally:
        relay.cancel()
        with pytest.raises(asyncio.CancelledError):
            await relay


class _ObservedWake(asyncio.Event):
    """The relay's wake-up signal, telling the test when the relay is parked on it."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.parked.set()
        return await super().wait()


async def test_relay_stops_when_cancelled_just_as_a_commit_wakes_it(
    runtime: ServiceRuntime,
) -> None:
    """Shutdown (cancel) racing with a commit's wake-up must still stop the relay."""
    wake = _ObservedWake()
    relay = OutboxRelay(
        engine=runtime.engine, schema=SCHEMA, bus=runtime.bus, service=SCHEMA, wake=wake
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(wake.parked.wait(), 10)
        wake.set()  # a unit of work just committed...
        task.cancel()  # ...as the process shuts down
        done, _ = await asyncio.wait({task}, timeout=10)
        assert task in done, "the relay outlived the cancel"
        assert task.cancelled()
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=10)


async def test_rolled_back_unit_of_work_publishes_nothing(
    runtime: ServiceRuntime, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    queue = await _bind_queue(amqp, runtime.bus.topology, "organization.created")
    doomed_org = uuid.uuid4()
    doomed = _organization_created(doomed_org, "Never happened")

    await _write_organization(runtime, doomed, commit=False)  # leaves without commit
    second_try = doomed.model_copy(update={"id": uuid.uuid4()})

    async def fail_midway() -> None:
        async with runtime.uow(OrgScope.of([doomed_org])) as uow:
            await uow.outbox.add(second_try)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()  # an error inside the unit of work rolls it back too

    assert await _in_outbox(admin_db, doomed.id, second_try.id) == set()
    assert (
        await admin_db.fetchval(
            "SELECT count(*) FROM organization.organizations WHERE id = $1", doomed_org
        )
        == 0
    )
    assert (
        await admin_db.fetchval(
            "SELECT count(*) FROM organization.outbox WHERE payload->>'aggregateId' = $1",
            str(doomed_org),
        )
        == 0
    )

    # A committed event relayed after it arrives alone: nothing of the rolled-back work before it.
    sentinel_org = uuid.uuid4()
    sentinel = _organization_created(sentinel_org, "Sentinel")
    await _write_organization(runtime, sentinel, commit=True)
    await _drain(runtime.relay())
    received = await _receive_until(queue, str(sentinel.id), [])
    assert all(
        EventEnvelope.model_validate_json(m.body).aggregate_id != doomed_org for m in received
    )
    assert await _take_all(queue) == []


async def test_event_the_broker_refuses_stays_in_the_outbox_until_confirmed(
    runtime: ServiceRuntime, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    event_type = f"test.refused.{uuid.uuid4().hex[:8]}"
    # A queue that takes nothing: the broker answers the publish with a nack.
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        runtime.bus.topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    refusing = await channel.declare_queue(
        exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    await refusing.bind(exchange, routing_key=event_type)
    org_id = uuid.uuid4()
    envelope = _organization_created(org_id, "Refused", event_type=event_type)
    await _write_organization(runtime, envelope, commit=True)

    relay = runtime.relay()
    with pytest.raises(DeliveryError):
        await _drain(relay)
    assert await _in_outbox(admin_db, envelope.id) == {envelope.id}, "not confirmed → kept"

    await refusing.delete(if_unused=False, if_empty=False)
    listener = await _bind_queue(amqp, runtime.bus.topology, event_type)
    await _drain(relay)
    assert await _in_outbox(admin_db, envelope.id) == set()
    received = await _receive_until(listener, str(envelope.id), [])
    assert [m.message_id for m in received] == [str(envelope.id)]


async def test_relay_with_a_bus_not_yet_connected_publishes_its_whole_first_batch(
    runtime: ServiceRuntime,
    platform_settings: PlatformSettings,
    amqp: AbstractRobustConnection,
    admin_db: asyncpg.Connection,
) -> None:
    """A worker starts its relay before anything connected: the batch's publishes connect."""
    event_type = f"test.first-batch.{uuid.uuid4().hex[:8]}"
    queue = await _bind_queue(amqp, runtime.bus.topology, event_type)
    envelopes = [
        _organization_created(uuid.uuid4(), f"First {i}", event_type=event_type) for i in range(20)
    ]
    async with runtime.uow(OrgScope.everything()) as uow:
        for envelope in envelopes:
            await uow.outbox.add(envelope)
        await uow.commit()

    fresh = Bus(platform_settings.rabbitmq_url, runtime.bus.topology)
    relay = OutboxRelay(
        engine=runtime.engine, schema=SCHEMA, bus=fresh, service=SCHEMA, wake=asyncio.Event()
    )
    try:
        await _drain(relay)
    finally:
        await fresh.close()
    assert await _in_outbox(admin_db, *(e.id for e in envelopes)) == set()
    seen: list[AbstractIncomingMessage] = []
    for envelope in envelopes:
        await _receive_until(queue, str(envelope.id), seen)
    assert sorted(m.message_id or "" for m in seen) == sorted(str(e.id) for e in envelopes)


class _RendezvousBus(Bus):
    """A real Bus whose relay, batch in hand, waits for the other relay to hold one too.

    If the relays did not skip each other's locked rows, the second one would block on the
    first one's batch (or pick the same rows) and the rendezvous would time out or the
    event would arrive twice.
    """

    def __init__(self, url: str, topology: Topology, barrier: asyncio.Barrier) -> None:
        super().__init__(url, topology)
        self._barrier = barrier
        self._rendezvous: asyncio.Future[int] | None = None
        self.published: list[str] = []

    async def publish(self, *, routing_key: str, body: bytes, message_id: str) -> None:
        if self._rendezvous is None:
            self._rendezvous = asyncio.ensure_future(asyncio.wait_for(self._barrier.wait(), 15))
        await asyncio.shield(self._rendezvous)
        await super().publish(routing_key=routing_key, body=body, message_id=message_id)
        self.published.append(message_id)


async def test_two_relays_draining_side_by_side_publish_each_event_exactly_once(
    runtime: ServiceRuntime,
    platform_settings: PlatformSettings,
    amqp: AbstractRobustConnection,
    admin_db: asyncpg.Connection,
) -> None:
    event_type = f"test.concurrent.{uuid.uuid4().hex[:8]}"
    queue = await _bind_queue(amqp, runtime.bus.topology, event_type)
    await _drain(runtime.relay())  # whatever earlier tests left behind: not part of this pass

    count = 2 * BATCH + 50
    envelopes = [
        _organization_created(uuid.uuid4(), f"Concurrent {i}", event_type=event_type)
        for i in range(count)
    ]
    async with runtime.uow(OrgScope.everything()) as uow:
        for envelope in envelopes:
            await uow.outbox.add(envelope)
        await uow.commit()
    expected = {str(e.id) for e in envelopes}

    barrier = asyncio.Barrier(2)
    buses = [
        _RendezvousBus(platform_settings.rabbitmq_url, runtime.bus.topology, barrier)
        for _ in range(2)
    ]
    relays = [
        OutboxRelay(
            engine=runtime.engine,
            schema=SCHEMA,
            bus=bus,
            service=f"organization-replica-{i}",
            wake=asyncio.Event(),
        )
        for i, bus in enumerate(buses)
    ]
    try:
        totals = await asyncio.wait_for(asyncio.gather(*(_drain(r) for r in relays)), 60)
    finally:
        for bus in buses:
            await bus.close()

    first, second = (set(bus.published) for bus in buses)
    assert all(total > 0 for total in totals), "both relays took a batch of their own"
    assert sum(totals) == count
    assert first.isdisjoint(second), "no event published by both relays"
    assert sorted(buses[0].published + buses[1].published) == sorted(expected)
    assert await _in_outbox(admin_db, *(e.id for e in envelopes)) == set()

    async def all_arrived() -> list[str]:
        ids = [m.message_id or "" for m in await _take_all(queue)]
        arrived.extend(ids)
        assert set(arrived) >= expected
        return arrived

    arrived: list[str] = []
    await eventually(all_arrived)
    assert sorted(arrived + [m.message_id or "" for m in await _take_all(queue)]) == sorted(
        expected
    ), "the broker received every event exactly once"
