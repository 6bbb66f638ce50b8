"""The identity worker: relays the outbox, keeps the organization directory and the
technician grants projection current."""

from __future__ import annotations

import asyncio

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_grants import GRANT_BINDINGS, apply_grant_event
from mss_identity.config import SERVICE
from mss_identity.consumers.on_organization_event import BINDINGS, on_organization_event
from mss_identity.main import build_runtime


async def run() -> None:
    runtime = build_runtime()
    on_organization = on_organization_event(runtime.sessions)

    async def handle(envelope: EventEnvelope) -> None:
        if envelope.type.startswith("technician_access."):
            await apply_once(runtime.uow, envelope, apply_grant_event)
        else:
            await apply_once(runtime.uow, envelope, on_organization)

    consumer = EventConsumer(
        bus=runtime.bus, service=SERVICE, bindings=[*BINDINGS, *GRANT_BINDINGS], handler=handle
    )
    try:
        await consumer.start()
        await asyncio.gather(runtime.relay().run(), watch_dlq(consumer))
    finally:
        await runtime.close()
