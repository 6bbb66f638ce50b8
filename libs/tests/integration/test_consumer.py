"""The consuming side for real: EventConsumer + apply_once into the audit service's inbox.

The effect is the audit service's own (`record_event`, through its runtime's units of work
as audit_app); messages go through this run's namespaced exchange and quorum queues.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from prometheus_client import REGISTRY

from mss_audit.application.records import record_event
from mss_audit.consumers.on_any_event import BINDINGS
from mss_audit.main import build_runtime
from mss_auth.tokens import KeyLoader
from mss_bus import EventConsumer, apply_once
from mss_contracts.events import EventContext, EventEnvelope, LoginFailed, new_event
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import eventually

pytestmark = pytest.mark.integration

SERVICE = "audit"
HANDLER_BUG = "test.handler.bug"  # the test's handler raises a non-transient error on these
FLAKY = "test.handler.flaky"  # ...and a transient one, on these


@dataclass
class Harness:
    runtime: ServiceRuntime
    consumer: EventConsumer
    applied: list[tuple[uuid.UUID, bool]] = field(default_factory=list)
    calls: dict[uuid.UUID, int] = field(default_factory=dict)
    flaky_failures: int = 1  # transient failures before a FLAKY event goes through

    async def publish(self, envelope: EventEnvelope, *, routing_key: str | None = None) -> None:
        await self.runtime.bus.publish(
            routing_key=routing_key or envelope.type,
            body=envelope.model_dump_json(by_alias=True).encode(),
            message_id=str(envelope.id),
        )


async def _start(
    platform_settings: PlatformSettings,
    key_loader: KeyLoader,
    *,
    service: str = SERVICE,
    bindings: Sequence[str] = BINDINGS,
    queue: str = "events",
    retired_bindings: Sequence[str] = (),
    delivery_limit: int = 5,
    retry_attempts: int = 4,
) -> Harness:
    runtime = build_runtime(key_loader)

    async def handle(envelope: EventEnvelope) -> None:
        calls = harness.calls[envelope.id] = harness.calls.get(envelope.id, 0) + 1
        if envelope.type == HANDLER_BUG:
            raise ValueError("a bug in the handler")
        if envelope.type == FLAKY and calls <= harness.flaky_failures:
            raise ConnectionError("database went away for a moment")
        harness.applied.append((envelope.id, await apply_once(runtime.uow, envelope, record_event)))

    consumer = EventConsumer(
        bus=runtime.bus,
        service=service,
        bindings=bindings,
        queue=queue,
        retired_bindings=retired_bindings,
        handler=handle,
        delivery_limit=delivery_limit,
        retry_attempts=retry_attempts,
    )
    harness = Harness(runtime=runtime, consumer=consumer)
    await consumer.start()
    return harness


@pytest.fixture
async def audit(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[Harness]:
    """The audit worker's consumer (queue `<ns>audit.events`, bound to `#`), test handler."""
    harness = await _start(platform_settings, key_loader)
    try:
        yield harness
    finally:
        await harness.runtime.close()


def _event(org_id: uuid.UUID | None = None, event_type: str | None = None) -> EventEnvelope:
    envelope = new_event(
        LoginFailed(email=f"{uuid.uuid4().hex[:8]}@example.com", reason="invalid_credentials"),
        aggregate_id=uuid.uuid4(),
        organization_id=org_id or uuid.uuid4(),
        version=1,
        context=EventContext(ip_address="203.0.113.7"),
    )
    return envelope if event_type is None else envelope.model_copy(update={"type": event_type})


async def _dead_letter(
    amqp: AbstractRobustConnection, dlq_name: str, match: Callable[[AbstractIncomingMessage], bool]
) -> AbstractIncomingMessage:
    """Wait for the dead-lettered message `match` picks out, taking it off the DLQ."""
    channel = await amqp.channel()
    dlq = await channel.declare_queue(dlq_name, passive=True)

    async def arrived() -> AbstractIncomingMessage:
        while (message := await dlq.get(no_ack=True, fail=False)) is not None:
            if match(message):
                return message
        raise AssertionError(f"not in {dlq_name} yet")

    return await eventually(arrived)


def _death_reason(message: AbstractIncomingMessage) -> str:
    deaths = message.headers.get("x-death")
    assert isinstance(deaths, list), message.headers
    assert deaths, message.headers
    first = deaths[0]
    assert isinstance(first, dict)
    reason = first["reason"]
    return reason.decode() if isinstance(reason, bytes) else str(reason)


async def _stored(admin_db: asyncpg.Connection, event_id: uuid.UUID) -> tuple[int, int, int]:
    """(events, audit_logs, inbox) rows for one event id."""
    row = await admin_db.fetchrow(
        """
        SELECT (SELECT count(*) FROM audit.events WHERE id = $1) AS events,
               (SELECT count(*) FROM audit.audit_logs WHERE event_id = $1) AS logs,
               (SELECT count(*) FROM audit.inbox WHERE event_id = $1) AS inbox
        """,
        event_id,
    )
    assert row is not None
    return row["events"], row["logs"], row["inbox"]


async def test_the_same_event_delivered_twice_is_recorded_once(
    audit: Harness, admin_db: asyncpg.Connection
) -> None:
    event = _event()
    await audit.publish(event)
    await audit.publish(event)  # a redelivery: same id, same body

    async def both_handled() -> list[bool]:
        outcomes = [applied for event_id, applied in audit.applied if event_id == event.id]
        assert len(outcomes) == 2
        return outcomes

    assert sorted(await eventually(both_handled)) == [False, True]
    assert await _stored(admin_db, event.id) == (1, 1, 1)
    log = await admin_db.fetchrow(
        "SELECT org_id, action, success, error_message, ip_address::text AS ip "
        "FROM audit.audit_logs WHERE event_id = $1",
        event.id,
    )
    assert log is not None
    assert dict(log) == {
        "org_id": event.organization_id,
        "action": "auth.login.failed",
        "success": False,
        "error_message": "invalid_credentials",
        "ip": "203.0.113.7/32",
    }


async def test_poison_message_is_dead_lettered_and_the_next_event_still_processed(
    audit: Harness, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    poison_id = str(uuid.uuid4())
    await audit.runtime.bus.publish(
        routing_key="auth.login.failed", body=b"not json", message_id=poison_id
    )

    async def visible_in_metrics() -> None:
        assert await audit.consumer.dlq_depth() >= 1

    await eventually(visible_in_metrics)
    depth = REGISTRY.get_sample_value("mss_dlq_depth", {"service": SERVICE, "queue": "events"})
    assert depth is not None
    assert depth >= 1
    topology = audit.runtime.bus.topology
    dead = await _dead_letter(
        amqp, topology.dead_letter_queue(SERVICE), lambda m: m.message_id == poison_id
    )
    assert dead.body == b"not json"
    assert _death_reason(dead) == "rejected"

    valid = _event()
    await audit.publish(valid)

    async def recorded() -> None:
        assert await _stored(admin_db, valid.id) == (1, 1, 1)

    await eventually(recorded)
    assert poison_id not in {str(event_id) for event_id, _ in audit.applied}


async def test_handler_bug_dead_letters_the_message_and_records_nothing(
    audit: Harness, amqp: AbstractRobustConnection, admin_db: asyncpg.Connection
) -> None:
    broken = _event(event_type=HANDLER_BUG)
    await audit.publish(broken)

    dead = await _dead_letter(
        amqp,
        audit.runtime.bus.topology.dead_letter_queue(SERVICE),
        lambda m: m.message_id == str(broken.id),
    )
    assert _death_reason(dead) == "rejected"
    assert EventEnvelope.model_validate_json(dead.body) == broken
    assert audit.calls[broken.id] == 1, "a non-transient error is not retried"
    assert await _stored(admin_db, broken.id) == (0, 0, 0)


async def test_transient_failure_is_retried_in_place_and_then_applied(
    audit: Harness, admin_db: asyncpg.Connection
) -> None:
    flaky = _event(event_type=FLAKY)
    await audit.publish(flaky)

    async def recorded() -> None:
        assert await _stored(admin_db, flaky.id) == (1, 1, 1)

    await eventually(recorded)
    assert audit.calls[flaky.id] == 2
    assert (flaky.id, True) in audit.applied


async def test_event_failing_transiently_on_every_delivery_reaches_the_dlq_at_the_limit(
    platform_settings: PlatformSettings,
    key_loader: KeyLoader,
    amqp: AbstractRobustConnection,
    admin_db: asyncpg.Connection,
) -> None:
    # A queue of its own: the delivery limit is a queue argument, fixed at declaration.
    limit = 2
    harness = await _start(
        platform_settings,
        key_loader,
        service="audit-limit",
        bindings=[FLAKY],
        delivery_limit=limit,
        retry_attempts=1,
    )
    harness.flaky_failures = 1_000
    try:
        stuck = _event(event_type=FLAKY)
        await harness.publish(stuck)
        dead = await _dead_letter(
            amqp,
            harness.runtime.bus.topology.dead_letter_queue("audit-limit"),
            lambda m: m.message_id == str(stuck.id),
        )
    finally:
        await harness.runtime.close()
    assert _death_reason(dead) == "delivery_limit"
    assert harness.calls[stuck.id] == limit + 1, "requeued until the limit, then dead-lettered"
    assert await _stored(admin_db, stuck.id) == (0, 0, 0)


async def test_a_binding_moved_to_a_second_queue_reaches_only_that_queue(
    platform_settings: PlatformSettings, key_loader: KeyLoader, amqp: AbstractRobustConnection
) -> None:
    moved, stays = "test.moved.kind", "test.stays.kind"
    # Yesterday's deployment: the events queue heard both kinds.
    before = await _start(
        platform_settings, key_loader, service="audit-moved", bindings=[moved, stays]
    )
    await before.runtime.close()
    # Today's: the moved kind has a queue of its own, the events queue retires its binding.
    events = await _start(
        platform_settings,
        key_loader,
        service="audit-moved",
        bindings=[stays],
        retired_bindings=[moved],
    )
    second = await _start(
        platform_settings, key_loader, service="audit-moved", queue="second", bindings=[moved]
    )
    try:
        topology = events.runtime.bus.topology
        assert topology.queue("audit-moved", "second") == f"{topology.namespace}audit-moved.second"
        assert topology.dead_letter_queue("audit-moved", "second").endswith(
            "audit-moved.second.dlq"
        )
        one, other = _event(event_type=moved), _event(event_type=stays)
        await events.publish(one)
        await events.publish(other)

        async def delivered() -> None:
            assert second.applied == [(one.id, True)]
            assert events.applied == [(other.id, True)]

        await eventually(delivered)
        assert one.id not in events.calls, "the retired binding brings nothing to the events queue"
        assert other.id not in second.calls
    finally:
        await events.runtime.close()
        await second.runtime.close()
