"""The audit worker: consumes every event into the event store and the audit log.

In batches (`BatchConsumer`): up to MSS_AUDIT_BATCH_SIZE events per transaction, each
chain locked once per batch; a batch that fails is applied again one event at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mss_audit.application.anchors import anchor_periodically
from mss_audit.config import SERVICE, AuditSettings
from mss_audit.consumers.on_any_event import BINDINGS, on_any_event, on_event_batch
from mss_audit.main import build_runtime
from mss_bus.consumer import BatchConsumer, apply_batch_once, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope


async def run() -> None:
    runtime = build_runtime()
    settings = runtime.settings
    assert isinstance(settings, AuditSettings)

    async def handle_batch(envelopes: Sequence[EventEnvelope]) -> None:
        await apply_batch_once(runtime.uow, envelopes, on_event_batch)

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, on_any_event)

    consumer = BatchConsumer(
        bus=runtime.bus,
        service=SERVICE,
        bindings=BINDINGS,
        batch_handler=handle_batch,
        handler=handle,
        batch_size=settings.audit_batch_size,
        batch_wait_s=settings.audit_batch_wait_ms / 1000.0,
    )
    try:
        await consumer.start()
        await asyncio.gather(
            watch_dlq(consumer),
            anchor_periodically(
                runtime.uow, settings.anchor_file, interval_s=settings.audit_anchor_interval_s
            ),
        )
    finally:
        await consumer.close()
        await runtime.close()
