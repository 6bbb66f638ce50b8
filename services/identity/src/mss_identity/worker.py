"""The identity worker: relays the outbox and keeps the organization directory current."""

from __future__ import annotations

import asyncio

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_identity.config import SERVICE
from mss_identity.consumers.on_organization_event import BINDINGS, on_organization_event
from mss_identity.main import build_runtime


async def run() -> None:
    runtime = build_runtime()
    effect = on_organization_event(runtime.sessions)

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, effect)

    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)
    try:
        await consumer.start()
        await asyncio.gather(runtime.relay().run(), watch_dlq(consumer))
    finally:
        await runtime.close()
