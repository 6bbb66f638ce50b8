"""The audit worker: consumes every event into the event store and the audit log."""

from __future__ import annotations

import asyncio

from mss_audit.application.anchors import anchor_periodically
from mss_audit.config import SERVICE, AuditSettings
from mss_audit.consumers.on_any_event import BINDINGS, on_any_event
from mss_audit.main import build_runtime
from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope


async def run() -> None:
    runtime = build_runtime()

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, on_any_event)

    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)
    settings = runtime.settings
    assert isinstance(settings, AuditSettings)
    try:
        await consumer.start()
        await asyncio.gather(
            watch_dlq(consumer),
            anchor_periodically(
                runtime.uow, settings.anchor_file, interval_s=settings.audit_anchor_interval_s
            ),
        )
    finally:
        await runtime.close()
