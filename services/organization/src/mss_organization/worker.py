"""The organization worker: relays the outbox, keeps the staff directory, expires grants."""

from __future__ import annotations

import asyncio

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_organization.application.technician_access import sweep_expired_grants
from mss_organization.config import SERVICE
from mss_organization.consumers.on_user_event import BINDINGS, on_user_event
from mss_organization.main import build_runtime


async def run() -> None:
    runtime = build_runtime()

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, on_user_event)

    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)
    try:
        await consumer.start()
        await asyncio.gather(
            runtime.relay().run(), watch_dlq(consumer), sweep_expired_grants(runtime.uow)
        )
    finally:
        await runtime.close()
